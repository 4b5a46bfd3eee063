// Operations: liveness and counters for anyone; filling the tile cache for the administrator.
#include "admin_routes.hpp"

#include "request_params.hpp"

#include "onemap/core/error.hpp"
#include "onemap/tileserver/api_keys.hpp"
#include "onemap/tileserver/http_encoding.hpp"
#include "onemap/tileserver/http_errors.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace onemap::tileserver {

namespace {

constexpr std::uint64_t MAX_SEED_TILES = 200000;
/// PNG tiles are drawn by 4 × 4 metatiles (raster_service::metatile_of): a job visits each
/// metatile's tiles together, so the other 15 are cache hits when their turn comes.
constexpr std::uint64_t PNG_METATILE = 4;

// The parameters of POST /admin/seed, each failure a 400 naming the parameter.
seed_request parse_seed_request(const server_state& state, const http_request& req)
{
    seed_request out;
    out.tileset = req.get_param_value("tileset");
    if (state.find_tileset(out.tileset) == nullptr && core::find_public_layer(*state.catalog(), out.tileset) == nullptr) {
        throw not_found("no tileset named '" + out.tileset + "'");
    }
    // Tiles are drawn as one department sees them (composites leave out what it may not see);
    // without `department`, as a caller without a key does.
    out.department = req.get_param_value("department");
    if (!out.department.empty()) {
        check_department(out.department);
    }
    if (state.find_tileset(out.tileset) == nullptr && !state.rules()->visible(out.tileset, caller{out.department})) {
        throw forbidden(
            (out.department.empty() ? std::string("callers without a key have") : "department '" + out.department + "' has") +
            " no right to layer '" + out.tileset + "': seed it for a department that has (department=…)");
    }
    const std::string tms_id = req.has_param("tms") ? req.get_param_value("tms") : "WebMercatorQuad";
    out.tms = core::find_tile_matrix_set(tms_id);
    if (out.tms == nullptr) {
        throw input_error("tms", "no tile matrix set '" + tms_id + "'");
    }
    core::box& b = out.bbox;
    if (std::sscanf(req.get_param_value("bbox").c_str(), "%lf,%lf,%lf,%lf", &b.min_x, &b.min_y, &b.max_x, &b.max_y) != 4 ||
        !(b.min_x < b.max_x && b.min_y < b.max_y) || b.min_x < -180 || b.max_x > 180 || b.min_y < -90 || b.max_y > 90) {
        throw input_error("bbox", "bbox must be west,south,east,north in degrees");
    }
    out.minzoom = static_cast<int>(parse_index(req.get_param_value("minzoom"), "minzoom"));
    out.maxzoom = static_cast<int>(parse_index(req.get_param_value("maxzoom"), "maxzoom"));
    if (out.minzoom < out.tms->min_level() || out.maxzoom > out.tms->max_level() || out.minzoom > out.maxzoom) {
        throw input_error("maxzoom", "zooms must lie in " + std::to_string(out.tms->min_level()) + ".." +
                                         std::to_string(out.tms->max_level()) + " with minzoom <= maxzoom");
    }
    out.date = requested_date(req);
    out.format = req.has_param("format") ? req.get_param_value("format") : "mvt";
    if (out.format != "mvt" && out.format != "png") {
        throw input_error("format", "format must be mvt or png, got '" + out.format + "'");
    }
    out.block = out.format == "png" ? PNG_METATILE : 1;
    if (seed_tile_count(out) > MAX_SEED_TILES) {
        throw input_error("maxzoom", "more than " + std::to_string(MAX_SEED_TILES) +
                                         " tiles; seed a smaller box or fewer zooms");
    }
    return out;
}

std::uint64_t job_id(const http_request& req)
{
    return parse_index(req.path_param(0), "id");
}

void send_job(http_response& res, const seed_job_status& job)
{
    res.set_content(job.json(), JSON_TYPE);
    res.set_header("Cache-Control", "no-store");
}

} // namespace

void register_admin_routes(router& routes, server_state& state, const admin_context& admin)
{
    server_state* s = &state;
    routes.get("/health", [](const http_request&, http_response& res) {
        res.set_content("{\"status\":\"ok\"}", JSON_TYPE);
    });
    // Ready: the catalog is loaded and the database reachable (the publish listener is
    // connected and has re-read the catalog since it last lost the database). A balancer takes
    // a server that is not ready out of rotation; it still answers what needs no database.
    routes.get("/ready", [s](const http_request&, http_response& res) {
        const bool catalog = s->reloads.load() > 0;
        const bool database = !s->config.listen_for_publish || s->listening.load();
        res.set_header("Cache-Control", "no-store");
        res.set_content(nlohmann::json({{"ready", catalog && database},
                                        {"catalog_loaded", catalog},
                                        {"database_reachable", database}})
                            .dump(),
                        JSON_TYPE);
        if (!(catalog && database)) {
            res.status = 503;
            res.set_header("Retry-After", "1");
        }
    });
    routes.get("/metrics", [s, open = admin.open_connections](const http_request&, http_response& res) {
        const auto c = s->cache.stats();
        const auto p = s->pool.stats();
        scrape_values v;
        v.cache_hits = c.hits;
        v.cache_misses = c.misses;
        v.cache_evictions = c.evictions;
        v.cache_bytes = c.bytes;
        v.cache_entries = c.entries;
        v.pool_size = p.size;
        v.pool_in_use = p.in_use;
        v.pool_waiting = p.waiting;
        v.connections_open = open ? open() : 0;
        v.ready = s->reloads.load() > 0 && (!s->config.listen_for_publish || s->listening.load());
        res.set_header("Cache-Control", "no-store");
        res.set_content(s->metrics.scrape(v), "text/plain; version=0.0.4; charset=utf-8");
    });
    // The same as SIGHUP, for who cannot signal the process (a container's operator): only
    // from the server's own machine, like a signal.
    routes.post("/admin/reload", [s, reload = admin.reload](const http_request& req, http_response& res) {
        const std::string& from = req.remote_addr;
        if (from != "127.0.0.1" && from != "::1" && from != "::ffff:127.0.0.1") {
            throw forbidden("POST /admin/reload is answered on the server's own machine only (loopback); "
                            "elsewhere send the process SIGHUP");
        }
        try {
            reload();
        } catch (const config_error& e) {
            send_problem(res, 422, "Unprocessable Entity",
                         std::string(e.what()) + " (the running configuration is kept)");
            return;
        }
        const auto sets = s->tilesets();
        res.set_header("Cache-Control", "no-store");
        res.set_content(nlohmann::json({{"reloaded", true}, {"tilesets", sets->size()},
                                        {"rights", s->rules()->restricts()}})
                            .dump(),
                        JSON_TYPE);
    }, route_options{nullptr, run_on::worker});
    routes.get("/stats", [s, counters = admin.frontend_counters](const http_request&, http_response& res) {
        const auto c = s->cache.stats();
        const auto metatiles = s->raster.metatiles_drawn();
        nlohmann::json doc = {{"cache", {{"hits", c.hits}, {"misses", c.misses}, {"evictions", c.evictions},
                                         {"invalidated", c.invalidated}, {"bytes", c.bytes},
                                         {"entries", c.entries}, {"max_bytes", s->cache.max_bytes()}}},
                              {"raster", {{"metatiles_drawn", metatiles},
                                          {"tiles_drawn", s->raster.tiles_drawn()},
                                          {"layers_from_memory", s->raster.layers_from_memory()},
                                          {"layers_from_queries", s->raster.layers_from_queries()}}},
                              {"catalog_reloads", s->reloads.load()}};
        const auto held = s->held.current();
        doc["tile_memory"] = {{"bytes", held.bytes},       {"max_bytes", held.max_bytes}, {"versions", held.versions},
                              {"loads", held.loads},       {"refused", held.refused},     {"failed", held.failed},
                              {"loading", held.loading},   {"queued", held.queued},
                              {"hits", held.hits},         {"misses", held.misses},
                              {"layers_from_memory", s->tiles.layers_from_memory()},
                              {"layers_from_queries", s->tiles.layers_from_queries()}};
        if (counters) {
            doc["http"] = nlohmann::json::parse(counters());
        }
        res.set_content(doc.dump(), JSON_TYPE);
    });

    // Nothing below waits: a job runs on the worker pool, a few tiles at a time.
    const admin_access* access = admin.access;
    seed_jobs* jobs = admin.jobs;
    routes.post("/admin/seed", [s, access, jobs](const http_request& req, http_response& res) {
        access->require_admin(req);
        auto job = jobs->submit(parse_seed_request(*s, req));
        if (!job) {
            if (jobs->shutting_down()) {
                send_problem(res, 503, "Service Unavailable", "the server is shutting down");
                res.set_header("Retry-After", "5");
            } else {
                send_problem(res, 429, "Too Many Requests",
                             "the queue of seed jobs is full; retry when one has finished (GET /admin/jobs)");
                res.set_header("Retry-After", "30");
            }
            return;
        }
        res.status = 202;
        res.set_header("Location", "/admin/jobs/" + std::to_string(job->id));
        send_job(res, *job);
    });
    routes.get("/admin/jobs", [access, jobs](const http_request& req, http_response& res) {
        access->require_admin(req);
        std::string body = "{\"jobs\":[";
        bool first = true;
        for (const auto& job : jobs->list()) {
            body += first ? "" : ",";
            body += job.json();
            first = false;
        }
        body += "]}";
        res.set_content(std::move(body), JSON_TYPE);
        res.set_header("Cache-Control", "no-store");
    });
    routes.get("/admin/jobs/{id:uint}", [access, jobs](const http_request& req, http_response& res) {
        access->require_admin(req);
        const auto job = jobs->find(job_id(req));
        if (!job) {
            throw not_found("no seed job " + req.path_param(0) + " (finished jobs are kept for a while only)");
        }
        send_job(res, *job);
    });
    routes.del("/admin/jobs/{id:uint}", [access, jobs](const http_request& req, http_response& res) {
        access->require_admin(req);
        const auto job = jobs->cancel(job_id(req));
        if (!job) {
            throw not_found("no seed job " + req.path_param(0) + " (finished jobs are kept for a while only)");
        }
        res.status = job->finished() ? 200 : 202; // 202: it stops within a tile; poll it
        send_job(res, *job);
    });
}

} // namespace onemap::tileserver
