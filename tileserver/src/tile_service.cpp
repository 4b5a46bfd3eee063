#include "onemap/tileserver/tile_service.hpp"

#include "onemap/core/mvt.hpp"

#include <charconv>
#include <optional>

namespace onemap::tileserver {

tile_plan plan_tile(const std::vector<core::layer>& catalog, const tileset_config* composite, const core::layer* layer,
                    int zoom, const std::string& date)
{
    tile_plan plan;
    const auto add = [&](const core::layer* l, const std::string& name, const tileset_member* member) {
        const core::layer_version* v = l != nullptr ? l->as_of(date) : nullptr;
        plan.drawn.push_back(drawn_layer{name, v != nullptr ? v->version : 0});
        if (v != nullptr) {
            plan.picks.push_back(layer_pick{l, v, member});
        }
    };
    if (composite == nullptr) {
        add(layer, layer->name, nullptr);
        return plan;
    }
    for (const auto& member : composite->layers) {
        if (member.shown_at(zoom)) {
            add(core::find_public_layer(catalog, member.layer), member.layer, &member);
        }
    }
    return plan;
}

core::mvt::value attribute_value(const core::attribute& a, const pqxx::field& f)
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

std::vector<const core::attribute*> kept_attributes(const layer_pick& pick)
{
    std::vector<const core::attribute*> attrs;
    for (const auto& a : pick.version->attributes) {
        if (pick.member == nullptr || pick.member->keeps(a.name)) {
            attrs.push_back(&a);
        }
    }
    return attrs;
}

namespace {

void add_layer(pqxx::transaction_base& txn, core::mvt::tile_builder& tile, const layer_pick& pick,
               const core::mvt::tile_projection& proj, double degrees_per_pixel)
{
    const core::layer_version& version = *pick.version;
    const core::box& q = proj.query_bounds_lonlat();
    if (version.bbox && !version.bbox->intersects(q)) {
        return;
    }
    const auto attrs = kept_attributes(pick);
    // Identifiers come from the catalog; the bbox values are bound parameters.
    std::string sql = "SELECT fid";
    for (const auto* a : attrs) {
        sql += ", " + core::quote_ident(a->name);
    }
    sql += ", ST_AsBinary(geom) FROM " +
           core::qualified(core::DATA_SCHEMA, version.table_for_resolution(degrees_per_pixel)) +
           " WHERE geom && ST_MakeEnvelope($1, $2, $3, $4, 4490)";
    const pqxx::result rows = txn.exec_params(sql, q.min_x, q.min_y, q.max_x, q.max_y);

    auto layer = tile.add_layer(pick.layer->name, proj.extent());
    std::vector<std::pair<std::string, core::mvt::value>> props;
    const auto geom_col = static_cast<pqxx::row::size_type>(attrs.size() + 1);
    for (const auto& r : rows) {
        const pqxx::binarystring wkb(r[geom_col]);
        auto geom = core::mvt::encode_wkb(std::string_view(wkb.get(), wkb.size()), proj);
        if (!geom) {
            continue;
        }
        props.clear();
        for (std::size_t i = 0; i < attrs.size(); ++i) {
            const auto& f = r[static_cast<pqxx::row::size_type>(i + 1)];
            if (!f.is_null()) {
                props.emplace_back(attrs[i]->name, attribute_value(*attrs[i], f));
            }
        }
        layer.add_feature(r[0].as<std::uint64_t>(), std::move(*geom), props);
    }
}

// A held attribute value (PostgreSQL's text) typed as a query's would be.
core::mvt::value held_value(const core::attribute& a, std::string_view text)
{
    switch (a.type) {
    case core::attribute_type::integer:
    case core::attribute_type::bigint: {
        std::int64_t v = 0;
        std::from_chars(text.data(), text.data() + text.size(), v);
        return v;
    }
    case core::attribute_type::real: {
        double v = 0;
        std::from_chars(text.data(), text.data() + text.size(), v);
        return v;
    }
    case core::attribute_type::boolean:
        return text == "t";
    default:
        return std::string(text);
    }
}

// The same layer from the version held in memory: no query.
void add_held_layer(const held_layer& held, core::mvt::tile_builder& tile, const layer_pick& pick,
                    const core::mvt::tile_projection& proj)
{
    const core::layer_version& version = *pick.version;
    const core::box& q = proj.query_bounds_lonlat();
    if (version.bbox && !version.bbox->intersects(q)) {
        return;
    }
    // Which of the held columns (every attribute, in order) this pick keeps.
    std::vector<const core::attribute*> kept(version.attributes.size(), nullptr);
    for (const auto* a : kept_attributes(pick)) {
        kept[static_cast<std::size_t>(a - version.attributes.data())] = a;
    }
    auto layer = tile.add_layer(pick.layer->name, proj.extent());
    std::vector<std::pair<std::string, core::mvt::value>> props;
    held.query(q, [&](const held_layer::record& r) {
        auto geom = core::mvt::encode_wkb(r.wkb(), proj);
        if (!geom) {
            return;
        }
        props.clear();
        r.each_value(held.columns(), [&](std::size_t c, std::optional<std::string_view> text) {
            if (kept[c] != nullptr && text) {
                props.emplace_back(kept[c]->name, held_value(*kept[c], *text));
            }
        });
        layer.add_feature(static_cast<std::uint64_t>(r.fid()), std::move(*geom), props);
    });
}

} // namespace

std::string tile_service::render(const tile_request& request)
{
    return render_layers({layer_pick{request.layer, request.version, nullptr}}, *request.tms, request.level,
                         request.col, request.row);
}

std::string tile_service::render_layers(const std::vector<layer_pick>& picks, const core::tile_matrix_set& tms,
                                        int level, std::uint64_t col, std::uint64_t row)
{
    const core::mvt::tile_projection proj(tms, level, col, row);
    const double degrees_per_pixel = tms.tile_bounds_lonlat(level, col, row).width() / 256.0;
    // Versions held in memory need no query (tile_store.hpp); the rest, and those still loading,
    // are read from PostGIS in one read-only transaction.
    std::vector<held_layer_ptr> held(picks.size());
    bool query = false;
    for (std::size_t i = 0; i < picks.size(); ++i) {
        if (m_store != nullptr) {
            const core::layer_version& v = *picks[i].version;
            held[i] = m_store->find(v, v.table_for_resolution(degrees_per_pixel));
        }
        query = query || !held[i];
    }
    core::mvt::tile_builder tile;
    std::optional<core::connection_pool::lease> conn;
    std::optional<pqxx::read_transaction> txn;
    if (query) {
        conn.emplace(m_pool.acquire());
        txn.emplace(**conn);
    }
    for (std::size_t i = 0; i < picks.size(); ++i) {
        if (held[i]) {
            add_held_layer(*held[i], tile, picks[i], proj);
            ++m_from_memory;
        } else {
            add_layer(*txn, tile, picks[i], proj, degrees_per_pixel);
            ++m_from_queries;
        }
    }
    return tile.serialize(); // layers without features are dropped; no feature at all = ""
}

} // namespace onemap::tileserver
