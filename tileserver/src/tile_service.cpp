#include "onemap/tileserver/tile_service.hpp"

#include "onemap/core/mvt.hpp"

namespace onemap::tileserver {

namespace {

core::mvt::value typed_value(const core::attribute& a, const pqxx::field& f)
{
    switch (a.type) {
    case core::attribute_type::integer:
    case core::attribute_type::bigint:
        return f.as<std::int64_t>();
    case core::attribute_type::real:
        return f.as<double>();
    case core::attribute_type::boolean:
        return f.as<bool>();
    default:
        return f.as<std::string>();
    }
}

} // namespace

std::string tile_service::render(const tile_request& request)
{
    const core::layer_version& version = *request.version;
    const core::mvt::tile_projection proj(*request.tms, request.level, request.col, request.row);
    const core::box& q = proj.query_bounds_lonlat();
    if (version.bbox && !version.bbox->intersects(q)) {
        return {};
    }

    // Identifiers come from the catalog; the bbox values are bound parameters.
    std::string sql = "SELECT fid";
    for (const auto& a : version.attributes) {
        sql += ", " + core::quote_ident(a.name);
    }
    const core::box bounds = request.tms->tile_bounds_lonlat(request.level, request.col, request.row);
    const std::string table = version.table_for_resolution(bounds.width() / 256.0);
    sql += ", ST_AsBinary(geom) FROM " + core::qualified(core::DATA_SCHEMA, table) +
           " WHERE geom && ST_MakeEnvelope($1, $2, $3, $4, 4490)";

    auto conn = m_pool.acquire();
    pqxx::read_transaction txn(*conn);
    const pqxx::result rows = txn.exec_params(sql, q.min_x, q.min_y, q.max_x, q.max_y);

    core::mvt::tile_builder tile;
    auto layer = tile.add_layer(request.layer->name, proj.extent());
    std::vector<std::pair<std::string, core::mvt::value>> props;
    const auto geom_col = static_cast<pqxx::row::size_type>(version.attributes.size() + 1);
    for (const auto& r : rows) {
        const pqxx::binarystring wkb(r[geom_col]);
        auto geom = core::mvt::encode_wkb(std::string_view(wkb.get(), wkb.size()), proj);
        if (!geom) {
            continue;
        }
        props.clear();
        for (std::size_t i = 0; i < version.attributes.size(); ++i) {
            const auto& f = r[static_cast<pqxx::row::size_type>(i + 1)];
            if (!f.is_null()) {
                props.emplace_back(version.attributes[i].name, typed_value(version.attributes[i], f));
            }
        }
        layer.add_feature(r[0].as<std::uint64_t>(), std::move(*geom), props);
    }
    if (layer.feature_count() == 0) {
        return {};
    }
    return tile.serialize();
}

} // namespace onemap::tileserver
