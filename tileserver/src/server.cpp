#include "onemap/tileserver/server.hpp"

#include "onemap/core/calendar.hpp"
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"
#include "onemap/tileserver/http_errors.hpp"
#include "onemap/tileserver/tile_cache.hpp"
#include "onemap/tileserver/tile_service.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <charconv>
#include <mutex>
#include <thread>

namespace onemap::tileserver {

namespace {

using catalog_ptr = std::shared_ptr<const std::vector<core::layer>>;

std::uint64_t parse_index(const std::string& text, const char* parameter)
{
    std::uint64_t v = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc() || ptr != end) {
        throw input_error(parameter, std::string(parameter) + " must be a non-negative integer, got '" + text + "'");
    }
    return v;
}

std::string requested_date(const httplib::Request& req)
{
    if (!req.has_param("datetime")) {
        return core::today();
    }
    const auto value = req.get_param_value("datetime");
    const auto date = core::parse_iso_date(value.substr(0, 10));
    if (!date || (value.size() > 10 && value[10] != 'T')) {
        throw input_error("datetime", "datetime must be a date YYYY-MM-DD (or an RFC 3339 instant), got '" + value + "'");
    }
    return *date;
}

} // namespace

struct server::impl {
    explicit impl(server_config c)
        : config(std::move(c)), pool(config.db, config.db_connections), tiles(pool)
    {
    }

    catalog_ptr catalog() const { return std::atomic_load(&snapshot); }

    void handle_tile(const httplib::Request& req, httplib::Response& res, const std::string& layer_name,
                     const core::tile_matrix_set& tms, const std::string& z, const std::string& x,
                     const std::string& y)
    {
        const catalog_ptr pinned = catalog();
        const core::layer* layer = nullptr;
        for (const auto& l : *pinned) {
            if (l.name == layer_name && l.is_public) {
                layer = &l;
            }
        }
        if (layer == nullptr) {
            throw not_found("no tileset named '" + layer_name + "'");
        }
        const auto level = parse_index(z, "z");
        const auto col = parse_index(x, "x");
        const auto row = parse_index(y, "y");
        if (level < static_cast<std::uint64_t>(tms.min_level()) || level > static_cast<std::uint64_t>(tms.max_level())) {
            throw input_error("z", "z=" + z + " is outside " + tms.id() + " levels " + std::to_string(tms.min_level()) +
                                       ".." + std::to_string(tms.max_level()));
        }
        const auto* m = tms.matrix(static_cast<int>(level));
        if (col >= m->matrix_width) {
            throw input_error("x", "x=" + x + " is outside 0.." + std::to_string(m->matrix_width - 1) + " at z=" + z);
        }
        if (row >= m->matrix_height) {
            throw input_error("y", "y=" + y + " is outside 0.." + std::to_string(m->matrix_height - 1) + " at z=" + z);
        }
        const std::string date = requested_date(req);
        const core::layer_version* version = layer->as_of(date);
        res.set_header("Cache-Control", "public, max-age=300");
        if (version == nullptr) {
            res.status = 204; // the layer did not exist on that date
            return;
        }
        tile_request tr{layer, version, &tms, static_cast<int>(level), col, row};
        // Time is part of the key: the date asked for (today when none), so a publish that
        // only affects other dates cannot serve stale tiles, and a new day re-resolves.
        const std::string key = layer->name + '/' + tms.id() + '/' + z + '/' + x + '/' + y + '@' + date;
        const auto tile = cache.get(key, {layer->name}, tms.tile_bounds_lonlat(static_cast<int>(level), col, row),
                                    [&] { return tiles.render(tr); });
        send_tile(req, res, *tile, "application/vnd.mapbox-vector-tile");
    }

    std::string base_url(const httplib::Request& req) const
    {
        if (!config.public_url.empty()) {
            return config.public_url;
        }
        const std::string host = req.get_header_value("Host");
        return "http://" + (host.empty() ? config.host + ":" + std::to_string(config.port) : host);
    }

    // TileJSON 3.0.0 for one layer tileset.
    nlohmann::json tilejson(const httplib::Request& req, const core::layer& l, const std::string& date) const
    {
        const core::layer_version* v = l.as_of(date);
        nlohmann::json fields = nlohmann::json::object();
        if (v != nullptr) {
            for (const auto& a : v->attributes) {
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
        }
        const auto& wm = core::web_mercator_quad();
        std::string url = base_url(req) + "/tiles/" + l.name + "/{z}/{x}/{y}.mvt";
        if (req.has_param("datetime")) {
            url += "?datetime=" + date;
        }
        nlohmann::json doc = {{"tilejson", "3.0.0"},
                              {"name", l.name},
                              {"description", l.title},
                              {"version", "1.0.0"},
                              {"scheme", "xyz"},
                              {"tiles", {url}},
                              {"minzoom", wm.min_level()},
                              {"maxzoom", 22},
                              {"attribution", l.department},
                              {"vector_layers",
                               {{{"id", l.name}, {"description", l.title}, {"fields", fields},
                                 {"minzoom", wm.min_level()}, {"maxzoom", 22}}}}};
        if (v != nullptr && v->bbox) {
            const auto& b = *v->bbox;
            doc["bounds"] = {b.min_x, b.min_y, b.max_x, b.max_y};
            doc["center"] = {(b.min_x + b.max_x) / 2, (b.min_y + b.max_y) / 2, 10};
        }
        return doc;
    }

    static void send_tile(const httplib::Request& req, httplib::Response& res, const cached_tile& tile,
                          const char* content_type)
    {
        res.set_header("ETag", tile.etag);
        res.set_header("Vary", "Accept-Encoding");
        if (req.get_header_value("If-None-Match") == tile.etag) {
            res.status = 304;
            return;
        }
        if (tile.body.empty()) {
            res.status = 204; // documented: an empty tile is 204 No Content
            return;
        }
        const bool gzip_ok = req.get_header_value("Accept-Encoding").find("gzip") != std::string::npos;
        if (gzip_ok && !tile.gzipped.empty()) {
            res.set_header("Content-Encoding", "gzip");
            res.set_content(tile.gzipped, content_type);
        } else {
            res.set_content(tile.body, content_type);
        }
    }

    // LISTEN for the importer's publish notifications; on each, swap in the new catalog and
    // drop only the cached tiles of that layer inside the changed bbox.
    void listen_loop(server& owner)
    {
        while (!stopping) {
            try {
                auto conn = core::connect(config.db);
                struct receiver : pqxx::notification_receiver {
                    receiver(pqxx::connection_base& c, impl& i, server& o)
                        : pqxx::notification_receiver(c, core::PUBLISH_CHANNEL), self(i), owner(o) {}
                    void operator()(const std::string& payload, int) override { self.on_publish(owner, payload); }
                    impl& self;
                    server& owner;
                } rx(*conn, *this, owner);
                owner.reload_catalog(); // anything published while we were not listening
                while (!stopping) {
                    conn->await_notification(0, 200000);
                }
            } catch (const std::exception& e) {
                log().warn("publish listener: {}; retrying in 2 s", e.what());
                for (int i = 0; i < 20 && !stopping; ++i) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                }
            }
        }
    }

    void on_publish(server& owner, const std::string& payload)
    {
        owner.reload_catalog();
        try {
            const auto p = nlohmann::json::parse(payload);
            const auto layer = p.at("layer").get<std::string>();
            std::size_t dropped = 0;
            if (p.contains("bbox") && p["bbox"].is_array() && p["bbox"].size() == 4) {
                const auto& b = p["bbox"];
                dropped = cache.invalidate(layer, core::box{b[0].get<double>(), b[1].get<double>(),
                                                            b[2].get<double>(), b[3].get<double>()});
            } else if (!p.contains("bbox")) {
                dropped = cache.invalidate(layer);
            }
            log().info("published {} version {}: {} cached tiles dropped", layer, p.value("version", 0), dropped);
        } catch (const std::exception& e) {
            log().warn("publish notification '{}' not understood ({}); dropping the whole cache", payload, e.what());
            cache.clear();
        }
    }

    server_config config;
    core::connection_pool pool;
    tile_service tiles;
    tile_cache cache{config.cache_bytes};
    catalog_ptr snapshot = std::make_shared<const std::vector<core::layer>>();
    std::atomic<std::uint64_t> reloads{0};
    std::atomic<bool> stopping{false};
    std::thread listener;
    httplib::Server http;
};

server::server(server_config config) : m_impl(std::make_unique<impl>(std::move(config)))
{
    auto& http = m_impl->http;
    http.set_tcp_nodelay(true); // without it cpp-httplib stalls ~40 ms per response
    http.set_keep_alive_max_count(100000);

    auto guarded = [](auto&& fn) {
        return [fn](const httplib::Request& req, httplib::Response& res) {
            try {
                fn(req, res);
            } catch (...) {
                send_exception(res, std::current_exception());
            }
        };
    };

    impl* self = m_impl.get();
    http.Get("/health", guarded([](const httplib::Request&, httplib::Response& res) {
        res.set_content("{\"status\":\"ok\"}", "application/json");
    }));
    http.Get("/tiles", guarded([self](const httplib::Request&, httplib::Response& res) {
        nlohmann::json sets = nlohmann::json::array();
        for (const auto& l : *self->catalog()) {
            if (!l.is_public) {
                continue;
            }
            nlohmann::json versions = nlohmann::json::array();
            for (const auto& v : l.versions) {
                versions.push_back({{"version", v.version}, {"valid_from", v.valid_from},
                                    {"valid_to", v.valid_to ? nlohmann::json(*v.valid_to) : nlohmann::json()}});
            }
            nlohmann::json tms = nlohmann::json::array();
            for (const auto* t : core::all_tile_matrix_sets()) {
                tms.push_back(t->id());
            }
            sets.push_back({{"name", l.name}, {"title", l.title}, {"theme", l.theme},
                            {"layers", nlohmann::json::array({l.name})}, {"tile_matrix_sets", tms},
                            {"versions", versions}});
        }
        res.set_content(nlohmann::json({{"tilesets", sets}}).dump(), "application/json");
    }));
    http.Get(R"(/tiles/([^/]+)\.json)", guarded([self](const httplib::Request& req, httplib::Response& res) {
                 const catalog_ptr pinned = self->catalog();
                 for (const auto& l : *pinned) {
                     if (l.name == req.matches[1] && l.is_public) {
                         res.set_header("Cache-Control", "public, max-age=60");
                         res.set_content(self->tilejson(req, l, requested_date(req)).dump(), "application/json");
                         return;
                     }
                 }
                 throw not_found("no tileset named '" + std::string(req.matches[1]) + "'");
             }));
    http.Get(R"(/tiles/([^/]+)/([^/]+)/([^/]+)/([^/]+)\.mvt)",
             guarded([self](const httplib::Request& req, httplib::Response& res) {
                 self->handle_tile(req, res, req.matches[1], core::web_mercator_quad(), req.matches[2],
                                   req.matches[3], req.matches[4]);
             }));
    http.Get(R"(/tiles/([^/]+)/([^/]+)/([^/]+)/([^/]+)/([^/]+)\.mvt)",
             guarded([self](const httplib::Request& req, httplib::Response& res) {
                 const auto* tms = core::find_tile_matrix_set(req.matches[2]);
                 if (tms == nullptr) {
                     throw not_found("no tile matrix set '" + std::string(req.matches[2]) + "'");
                 }
                 self->handle_tile(req, res, req.matches[1], *tms, req.matches[3], req.matches[4],
                                   req.matches[5]);
             }));
    http.Get("/stats", guarded([self](const httplib::Request&, httplib::Response& res) {
        const auto c = self->cache.stats();
        res.set_content(nlohmann::json({{"cache", {{"hits", c.hits}, {"misses", c.misses}, {"evictions", c.evictions},
                                                   {"invalidated", c.invalidated}, {"bytes", c.bytes},
                                                   {"entries", c.entries}, {"max_bytes", self->cache.max_bytes()}}},
                                        {"catalog_reloads", self->reloads.load()}})
                            .dump(),
                        "application/json");
    }));
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (res.body.empty() && res.status == 404) {
            send_problem(res, 404, "Not Found", "no resource at " + req.path);
        }
    });
}

server::~server()
{
    m_impl->stopping = true;
    if (m_impl->listener.joinable()) {
        m_impl->listener.join();
    }
}

void server::reload_catalog()
{
    auto conn = m_impl->pool.acquire();
    auto layers = std::make_shared<const std::vector<core::layer>>(core::load_catalog(*conn));
    log().info("catalog: {} layers", layers->size());
    std::atomic_store(&m_impl->snapshot, catalog_ptr(std::move(layers)));
    ++m_impl->reloads;
}

server_stats server::stats() const
{
    const auto c = m_impl->cache.stats();
    return server_stats{c.hits, c.misses, c.invalidated, c.bytes, m_impl->reloads.load()};
}

int server::bind()
{
    reload_catalog();
    auto& cfg = m_impl->config;
    const int port = cfg.port == 0 ? m_impl->http.bind_to_any_port(cfg.host)
                                   : (m_impl->http.bind_to_port(cfg.host, cfg.port) ? cfg.port : -1);
    if (port < 0) {
        throw config_error("cannot listen on " + cfg.host + ":" + std::to_string(cfg.port));
    }
    cfg.port = port;
    if (cfg.listen_for_publish && !m_impl->listener.joinable()) {
        m_impl->listener = std::thread([this] { m_impl->listen_loop(*this); });
    }
    return port;
}

void server::run()
{
    m_impl->http.listen_after_bind();
}

void server::stop()
{
    m_impl->stopping = true;
    m_impl->http.stop();
}

} // namespace onemap::tileserver
