// Tiles: the tileset list, TileJSON, MVT and PNG tiles on every tile matrix set.
#include "request_params.hpp"
#include "server_state.hpp"

#include "onemap/core/error.hpp"
#include "onemap/tileserver/http_encoding.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>

namespace onemap::tileserver {

namespace {

nlohmann::json fields_of(const core::layer_version* v, const tileset_member* member)
{
    nlohmann::json fields = nlohmann::json::object();
    if (v == nullptr) {
        return fields;
    }
    for (const auto& a : v->attributes) {
        if (member != nullptr && !member->keeps(a.name)) {
            continue;
        }
        switch (a.type) {
        case core::attribute_type::integer:
        case core::attribute_type::bigint:
        case core::attribute_type::real:
            fields[a.name] = "Number";
            break;
        case core::attribute_type::boolean:
            fields[a.name] = "Boolean";
            break;
        default:
            fields[a.name] = "String";
        }
    }
    return fields;
}

nlohmann::json tileset_list(const server_state& state, const http_request& req)
{
    nlohmann::json tms = nlohmann::json::array();
    for (const auto* t : core::all_tile_matrix_sets()) {
        tms.push_back(t->id());
    }
    nlohmann::json sets = nlohmann::json::array();
    const catalog_ptr visible = state.catalog_for(req);
    for (const auto& l : *visible) {
        if (!l.is_public) {
            continue;
        }
        nlohmann::json versions = nlohmann::json::array();
        for (const auto& v : l.versions) {
            versions.push_back({{"version", v.version}, {"valid_from", v.valid_from},
                                {"valid_to", v.valid_to ? nlohmann::json(*v.valid_to) : nlohmann::json()}});
        }
        sets.push_back({{"name", l.name}, {"title", l.title}, {"theme", l.theme},
                        {"layers", nlohmann::json::array({l.name})}, {"tile_matrix_sets", tms}, {"versions", versions}});
    }
    const auto composites = state.tilesets();
    for (const auto& t : *composites) {
        nlohmann::json members = nlohmann::json::array();
        for (const auto& m : t.layers) {
            if (core::find_public_layer(*visible, m.layer) != nullptr) {
                members.push_back(m.layer);
            }
        }
        sets.push_back({{"name", t.name}, {"title", t.title}, {"theme", "basemap"}, {"layers", members},
                        {"tile_matrix_sets", tms}, {"versions", nlohmann::json::array()}});
    }
    return {{"tilesets", sets}};
}

// TileJSON 3.0.0 for a layer or a composite tileset.
nlohmann::json tilejson(const server_state& state, const http_request& req, const std::string& name,
                        const std::vector<core::layer>& layers, const std::string& date)
{
    nlohmann::json vector_layers = nlohmann::json::array();
    std::optional<core::box> bounds;
    std::string title = name;
    std::string attribution;
    int minzoom = 22;
    int maxzoom = 0;
    auto add = [&](const core::layer& l, const tileset_member* m) {
        const core::layer_version* v = l.as_of(date);
        const int lo = m != nullptr ? m->minzoom : 0;
        const int hi = m != nullptr ? m->maxzoom : 22;
        minzoom = std::min(minzoom, lo);
        maxzoom = std::max(maxzoom, hi);
        vector_layers.push_back({{"id", l.name}, {"description", l.title}, {"fields", fields_of(v, m)},
                                 {"minzoom", lo}, {"maxzoom", hi}});
        if (v != nullptr && v->bbox) {
            if (!bounds) {
                bounds = *v->bbox;
            } else {
                bounds->min_x = std::min(bounds->min_x, v->bbox->min_x);
                bounds->min_y = std::min(bounds->min_y, v->bbox->min_y);
                bounds->max_x = std::max(bounds->max_x, v->bbox->max_x);
                bounds->max_y = std::max(bounds->max_y, v->bbox->max_y);
            }
        }
        if (attribution.find(l.department) == std::string::npos) {
            attribution += (attribution.empty() ? "" : ", ") + l.department;
        }
    };
    if (const auto composite = state.find_tileset(name)) {
        title = composite->title;
        for (const auto& m : composite->layers) {
            if (const auto* l = core::find_public_layer(layers, m.layer)) {
                add(*l, &m);
            }
        }
    } else if (const auto* l = core::find_public_layer(layers, name)) {
        title = l->title;
        add(*l, nullptr);
    } else {
        throw not_found("no tileset named '" + name + "'");
    }
    std::string url = state.base_url(req) + "/tiles/" + name + "/{z}/{x}/{y}.mvt";
    std::string query = req.has_param("datetime") ? "datetime=" + date : "";
    if (const std::string key = server_state::key_query(req); !key.empty()) {
        query += (query.empty() ? "" : "&") + key;
    }
    if (!query.empty()) {
        url += "?" + query;
    }
    nlohmann::json doc = {{"tilejson", "3.0.0"}, {"name", name},       {"description", title},
                          {"version", "1.0.0"},  {"scheme", "xyz"},    {"tiles", {url}},
                          {"minzoom", minzoom},  {"maxzoom", maxzoom}, {"attribution", attribution},
                          {"vector_layers", vector_layers}};
    if (bounds) {
        doc["bounds"] = {bounds->min_x, bounds->min_y, bounds->max_x, bounds->max_y};
        doc["center"] = {(bounds->min_x + bounds->max_x) / 2, (bounds->min_y + bounds->max_y) / 2, 10};
    }
    return doc;
}

void handle_tile(server_state& state, const http_request& req, http_response& res, const std::string& layer_name,
                 const core::tile_matrix_set& tms, const std::string& z, const std::string& x, const std::string& y,
                 tile_format format = tile_format::mvt, double pixel_ratio = 1)
{
    const auto pinned = state.catalog_for(req);
    const auto composite_pin = state.find_tileset(layer_name); // kept while the tile is made
    const tileset_config* composite = composite_pin.get();
    const core::layer* layer = composite == nullptr ? core::find_public_layer(*pinned, layer_name) : nullptr;
    if (composite == nullptr && layer == nullptr) {
        throw not_found("no tileset named '" + layer_name + "'");
    }
    const tile_address t = parse_tile_address(tms, z, x, y, {"z", "x", "y"});
    const int level = t.level;
    const std::uint64_t col = t.col;
    const std::uint64_t row = t.row;
    const std::string date = requested_date(req);
    if (format == tile_format::png) {
        const auto tile = state.raster_tile_for(*pinned, composite, layer, tms, level, col, row, date,
                                                pixel_ratio);
        res.set_header("Cache-Control", "public, max-age=300");
        server_state::send_tile(req, res, tile, "image/png");
        return;
    }
    const auto tile = state.tile_for(*pinned, composite, layer, tms, level, col, row, date);
    res.set_header("Cache-Control", "public, max-age=300");
    if (!tile) {
        res.status = 204; // nothing existed on that date at this zoom
        return;
    }
    server_state::send_tile(req, res, tile, "application/vnd.mapbox-vector-tile");
}

const core::tile_matrix_set& matrix_set(const std::string& id)
{
    const auto* tms = core::find_tile_matrix_set(id);
    if (tms == nullptr) {
        throw not_found("no tile matrix set '" + id + "'");
    }
    return *tms;
}

} // namespace

void register_tile_routes(router& routes, server_state& state)
{
    server_state* s = &state;
    routes.get("/tiles", [s](const http_request& req, http_response& res) {
        res.set_content(tileset_list(*s, req).dump(), JSON_TYPE);
    });
    routes.get("/tiles/{tileset}.json", [s](const http_request& req, http_response& res) {
        const catalog_ptr pinned = s->catalog_for(req);
        res.set_header("Cache-Control", "public, max-age=60");
        res.set_content(tilejson(*s, req, req.path_param(0), *pinned, requested_date(req)).dump(), JSON_TYPE);
    });
    routes.get("/tiles/{tileset}/{z}/{x}/{y}.mvt", [s](const http_request& req, http_response& res) {
        handle_tile(*s, req, res, req.path_param(0), core::web_mercator_quad(), req.path_param(1), req.path_param(2),
                    req.path_param(3));
    });
    routes.get("/tiles/{tileset}/{tms}/{z}/{x}/{y}.mvt", [s](const http_request& req, http_response& res) {
        handle_tile(*s, req, res, req.path_param(0), matrix_set(req.path_param(1)), req.path_param(2),
                    req.path_param(3), req.path_param(4));
    });
    // Rendered PNG (the style of the same name for a composite, the layer's own for a layer);
    // "@2x" draws the same area at twice the pixels.
    for (const double ratio : {2.0, 1.0}) {
        const std::string suffix = ratio == 2 ? "@2x.png" : ".png";
        routes.get("/tiles/{tileset}/{z:uint}/{x:uint}/{y:uint}" + suffix, [s, ratio](const http_request& req, http_response& res) {
            handle_tile(*s, req, res, req.path_param(0), core::web_mercator_quad(), req.path_param(1),
                        req.path_param(2), req.path_param(3), tile_format::png, ratio);
        });
        routes.get("/tiles/{tileset}/{tms}/{z:uint}/{x:uint}/{y:uint}" + suffix,
                   [s, ratio](const http_request& req, http_response& res) {
                       handle_tile(*s, req, res, req.path_param(0), matrix_set(req.path_param(1)), req.path_param(2),
                                   req.path_param(3), req.path_param(4), tile_format::png, ratio);
                   });
    }
}

} // namespace onemap::tileserver
