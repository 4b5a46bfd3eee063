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

core::mvt::value attribute_value(const core::attribute& a, std::string_view text)
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
    case core::attribute_type::boolean: // boolean::text is "true"/"false" (the text output "t"/"f")
        return text == "true" || text == "t";
    default:
        return std::string(text);
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

// The layer's index of a held attribute value (PostgreSQL's text), typed as a query's would be;
// `unique`: appended without looking for an equal one.
std::uint32_t held_value_index(core::mvt::layer_builder& layer, const core::attribute& a, std::string_view text,
                               bool unique)
{
    switch (a.type) {
    case core::attribute_type::integer:
    case core::attribute_type::bigint: {
        const auto v = std::get<std::int64_t>(attribute_value(a, text));
        return unique ? layer.new_value(v) : layer.value_index(v);
    }
    case core::attribute_type::real: {
        const auto v = std::get<double>(attribute_value(a, text));
        return unique ? layer.new_value(v) : layer.value_index(v);
    }
    case core::attribute_type::boolean:
        return layer.value_index(std::get<bool>(attribute_value(a, text)));
    default:
        return unique ? layer.new_string_value(text) : layer.string_value_index(text);
    }
}

// After this many values of a column in a tile without one repeating, its values are taken
// as unique (ids, areas) and no longer looked up: a look-up that never finds costs a hash,
// a string and a node each.
constexpr std::uint32_t UNIQUE_AFTER = 32;

// The same layer from the version held in memory: no query, and each attribute's key looked
// up once per tile, not per feature.
void add_held_layer(const held_layer& held, core::mvt::tile_builder& tile, const layer_pick& pick,
                    const core::mvt::tile_projection& proj)
{
    const core::layer_version& version = *pick.version;
    const core::box& q = proj.query_bounds_lonlat();
    if (version.bbox && !version.bbox->intersects(q)) {
        return;
    }
    auto layer = tile.add_layer(pick.layer->name, proj.extent());
    // The held columns (every attribute, in order) this pick keeps, with their key's index.
    std::vector<const core::attribute*> kept(version.attributes.size(), nullptr);
    std::vector<std::uint32_t> keys(version.attributes.size(), 0);
    std::vector<std::uint32_t> looked(version.attributes.size(), 0); // values looked up
    std::vector<char> repeated(version.attributes.size(), 0);        // one of them was found
    bool keys_made = false;
    std::vector<std::uint32_t> tags;
    held.query(q, [&](const held_layer::record& r) {
        auto geom = core::mvt::encode_wkb(r.wkb(), proj);
        if (!geom) {
            return;
        }
        if (!keys_made) { // on the first feature: a layer with none has no keys
            for (const auto* a : kept_attributes(pick)) {
                const auto c = static_cast<std::size_t>(a - version.attributes.data());
                kept[c] = a;
                keys[c] = layer.key_index(a->name);
            }
            keys_made = true;
        }
        tags.clear();
        r.each_value(held.columns(), [&](std::size_t c, std::optional<std::string_view> text) {
            if (kept[c] != nullptr && text) {
                tags.push_back(keys[c]);
                const bool unique = repeated[c] == 0 && looked[c] >= UNIQUE_AFTER;
                const std::size_t before = layer.value_count();
                const std::uint32_t index = held_value_index(layer, *kept[c], *text, unique);
                tags.push_back(index);
                if (!unique) {
                    ++looked[c];
                    repeated[c] = static_cast<char>(repeated[c] != 0 || index < before); // found, not added
                }
            }
        });
        layer.add_tagged_feature(static_cast<std::uint64_t>(r.fid()), std::move(*geom), tags);
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
