// Operations: liveness, counters, and filling the tile cache.
#include "request_params.hpp"
#include "server_state.hpp"

#include "onemap/core/error.hpp"
#include "onemap/tileserver/http_encoding.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <tuple>

namespace onemap::tileserver {

namespace {

constexpr std::size_t MAX_SEED_TILES = 200000;

// Fills the cache with every tile of a tileset over a lon/lat box and zoom range.
nlohmann::json seed(server_state& state, const http_request& req)
{
    if (req.remote_addr != "127.0.0.1" && req.remote_addr != "::1") {
        throw forbidden("seeding is only accepted from the server's own host");
    }
    const auto [pinned, epoch] = state.pin();
    const std::string name = req.get_param_value("tileset");
    const tileset_config* composite = state.find_tileset(name);
    const core::layer* layer = composite == nullptr ? core::find_public_layer(*pinned, name) : nullptr;
    if (composite == nullptr && layer == nullptr) {
        throw not_found("no tileset named '" + name + "'");
    }
    const std::string tms_id = req.has_param("tms") ? req.get_param_value("tms") : "WebMercatorQuad";
    const auto* tms = core::find_tile_matrix_set(tms_id);
    if (tms == nullptr) {
        throw input_error("tms", "no tile matrix set '" + tms_id + "'");
    }
    core::box b;
    if (std::sscanf(req.get_param_value("bbox").c_str(), "%lf,%lf,%lf,%lf", &b.min_x, &b.min_y, &b.max_x, &b.max_y) != 4 ||
        !(b.min_x < b.max_x && b.min_y < b.max_y) || b.min_x < -180 || b.max_x > 180 || b.min_y < -90 || b.max_y > 90) {
        throw input_error("bbox", "bbox must be west,south,east,north in degrees");
    }
    const auto minzoom = static_cast<int>(parse_index(req.get_param_value("minzoom"), "minzoom"));
    const auto maxzoom = static_cast<int>(parse_index(req.get_param_value("maxzoom"), "maxzoom"));
    if (minzoom < tms->min_level() || maxzoom > tms->max_level() || minzoom > maxzoom) {
        throw input_error("maxzoom", "zooms must lie in " + std::to_string(tms->min_level()) + ".." +
                                         std::to_string(tms->max_level()) + " with minzoom <= maxzoom");
    }
    const std::string date = requested_date(req);
    const std::string format = req.has_param("format") ? req.get_param_value("format") : "mvt";
    if (format != "mvt" && format != "png") {
        throw input_error("format", "format must be mvt or png, got '" + format + "'");
    }
    std::vector<std::tuple<int, std::uint64_t, std::uint64_t>> todo;
    for (int z = minzoom; z <= maxzoom; ++z) {
        const auto r = tms->tile_range(z, b);
        if ((r.max_col - r.min_col + 1) * (r.max_row - r.min_row + 1) + todo.size() > MAX_SEED_TILES) {
            throw input_error("maxzoom", "more than " + std::to_string(MAX_SEED_TILES) +
                                             " tiles; seed a smaller box or fewer zooms");
        }
        for (auto col = r.min_col; col <= r.max_col; ++col) {
            for (auto row = r.min_row; row <= r.max_row; ++row) {
                todo.emplace_back(z, col, row);
            }
        }
    }
    const auto started = std::chrono::steady_clock::now();
    std::size_t bytes = 0;
    std::size_t empty = 0;
    for (const auto& [z, col, row] : todo) {
        // PNG tiles come by metatile: the other 15 of one are cache hits when their turn comes.
        const auto t = format == "png" ? state.raster_tile_for(*pinned, composite, layer, *tms, z, col, row, date, 1, epoch)
                                       : state.tile_for(*pinned, composite, layer, *tms, z, col, row, date, epoch);
        if (!t || t->body.empty()) {
            ++empty;
        } else {
            bytes += t->body.size();
        }
    }
    return {{"tileset", name}, {"tms", tms->id()}, {"format", format}, {"tiles", todo.size()}, {"empty", empty},
            {"bytes", bytes},
            {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()}};
}

} // namespace

void register_admin_routes(router& routes, server_state& state, std::function<std::string()> frontend_counters)
{
    server_state* s = &state;
    routes.get("/health", [](const http_request&, http_response& res) {
        res.set_content("{\"status\":\"ok\"}", JSON_TYPE);
    });
    routes.get("/stats", [s, frontend_counters](const http_request&, http_response& res) {
        const auto c = s->cache.stats();
        const auto metatiles = s->raster.metatiles_drawn();
        nlohmann::json doc = {{"cache", {{"hits", c.hits}, {"misses", c.misses}, {"evictions", c.evictions},
                                         {"invalidated", c.invalidated}, {"bytes", c.bytes},
                                         {"entries", c.entries}, {"max_bytes", s->cache.max_bytes()}}},
                              {"raster", {{"metatiles_drawn", metatiles}}},
                              {"catalog_reloads", s->reloads.load()}};
        if (frontend_counters) {
            doc["http"] = nlohmann::json::parse(frontend_counters());
        }
        res.set_content(doc.dump(), JSON_TYPE);
    });
    routes.post(
        "/admin/seed",
        [s](const http_request& req, http_response& res) { res.set_content(seed(*s, req).dump(), JSON_TYPE); },
        route_options{nullptr, run_on::worker});
}

} // namespace onemap::tileserver
