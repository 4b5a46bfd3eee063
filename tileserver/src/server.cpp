#include "onemap/tileserver/server.hpp"

#include "onemap/core/calendar.hpp"
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"
#include "onemap/tileserver/http_errors.hpp"
#include "onemap/tileserver/tile_service.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <charconv>
#include <mutex>

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

    const core::layer& find_layer(const std::string& name) const
    {
        // The snapshot lives as long as the request holds `current`.
        for (const auto& l : *current_for_request()) {
            if (l.name == name && l.is_public) {
                return l;
            }
        }
        throw not_found("no tileset named '" + name + "'");
    }

    // Each request pins the snapshot it started with.
    catalog_ptr current_for_request() const { return catalog(); }

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
        std::string bytes = tiles.render(tr);
        if (bytes.empty()) {
            res.status = 204;
            return;
        }
        res.set_content(std::move(bytes), "application/vnd.mapbox-vector-tile");
    }

    server_config config;
    core::connection_pool pool;
    tile_service tiles;
    catalog_ptr snapshot = std::make_shared<const std::vector<core::layer>>();
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
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (res.body.empty() && res.status == 404) {
            send_problem(res, 404, "Not Found", "no resource at " + req.path);
        }
    });
}

server::~server() = default;

void server::reload_catalog()
{
    auto conn = m_impl->pool.acquire();
    auto layers = std::make_shared<const std::vector<core::layer>>(core::load_catalog(*conn));
    log().info("catalog: {} layers", layers->size());
    std::atomic_store(&m_impl->snapshot, catalog_ptr(std::move(layers)));
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
    return port;
}

void server::run()
{
    m_impl->http.listen_after_bind();
}

void server::stop()
{
    m_impl->http.stop();
}

} // namespace onemap::tileserver
