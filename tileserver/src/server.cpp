// The server: the shared state, every capability's routes on one router, the HTTP front end,
// and the listener that follows the importer's publishes.
#include "onemap/tileserver/server.hpp"

#include "server_state.hpp"

#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"
#include "onemap/tileserver/features_api.hpp"
#include "onemap/tileserver/http_frontend.hpp"
#include "onemap/tileserver/wmts.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

namespace onemap::tileserver {

namespace {

frontend_config frontend_config_of(const server_config& c)
{
    frontend_config f = c.http;
    if (f.worker_threads == 0) { // as many as can use a database connection, at least one a core
        f.worker_threads = std::max<std::size_t>(c.db_connections, std::max(1u, std::thread::hardware_concurrency()));
    }
    return f;
}

} // namespace

struct server::impl {
    explicit impl(server_config c) : state(std::move(c))
    {
        routes.set_cors_origin(state.config.cors_origin);
        server_state* s = &state;
        register_admin_routes(routes, state, [this] {
            if (!frontend) {
                return std::string("{}");
            }
            const auto f = frontend->stats();
            return nlohmann::json({{"accepted", f.accepted}, {"rejected", f.rejected}, {"requests", f.requests},
                                   {"on_workers", f.on_workers}, {"open", f.open}})
                .dump();
        });
        register_locate_routes(routes, state);
        register_tile_routes(routes, state);
        register_style_routes(routes, state);

        wmts_context wmts;
        wmts.pool = &state.pool;
        wmts.catalog = [s] { return s->catalog(); };
        wmts.base_url = [s](const http_request& req) { return s->base_url(req); };
        wmts.tilesets = &state.tilesets;
        wmts.tile = [s](const std::string& name, tile_format format, const core::tile_matrix_set& tms, int level,
                        std::uint64_t col, std::uint64_t row, const std::string& date) {
            return s->tile_named(name, format, tms, level, col, row, date);
        };
        wmts.send_tile = [](const http_request& req, http_response& res, const std::shared_ptr<const cached_tile>& tile,
                            const char* content_type) { server_state::send_tile(req, res, tile, content_type); };
        register_wmts(routes, std::move(wmts));

        features_context features;
        features.pool = &state.pool;
        features.limits.max_response_bytes = state.config.ogc_max_response_bytes;
        features.limits.statement_timeout_ms = state.config.query_timeout_ms;
        features.catalog = [s] { return s->catalog(); };
        features.base_url = [s](const http_request& req) { return s->base_url(req); };
        register_features_api(routes, std::move(features));
    }

    // LISTEN for the importer's publish notifications; on each, swap in the new catalog and
    // drop only the cached tiles of that layer inside the changed bbox.
    void listen_loop(server& owner)
    {
        while (!stopping) {
            try {
                auto conn = core::connect(state.config.db);
                struct receiver : pqxx::notification_receiver {
                    receiver(pqxx::connection_base& c, impl& i, server& o)
                        : pqxx::notification_receiver(c, core::PUBLISH_CHANNEL), self(i), owner(o)
                    {
                    }
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

    // The changed tiles are dropped in the same step that swaps the catalog in: the new
    // snapshot is built first, then, under the cache's lock, the cache drops what changed, the
    // snapshot is swapped and the cache's epoch moves on. No hit sees the new catalog beside an
    // old tile, and a tile drawn from the old catalog (its request pinned the epoch before the
    // catalog, server_state::pin) is never kept.
    void on_publish(server& owner, const std::string& payload)
    {
        invalidator invalidate;
        std::string layer;
        int version = 0;
        try {
            const auto p = nlohmann::json::parse(payload);
            layer = p.at("layer").get<std::string>();
            version = p.value("version", 0);
            if (p.contains("bbox") && p["bbox"].is_array() && p["bbox"].size() == 4) {
                const auto& b = p["bbox"];
                const core::box changed{b[0].get<double>(), b[1].get<double>(), b[2].get<double>(), b[3].get<double>()};
                invalidate = [this, layer, changed](const std::function<void()>& swap) {
                    return state.cache.invalidate(layer, changed, swap);
                };
            } else if (!p.contains("bbox")) {
                invalidate = [this, layer](const std::function<void()>& swap) { return state.cache.invalidate(layer, swap); };
            } else {
                invalidate = [](const std::function<void()>& swap) {
                    swap();
                    return std::size_t{0};
                };
            }
        } catch (const std::exception& e) {
            log().warn("publish notification '{}' not understood ({}); dropping the whole cache", payload, e.what());
            invalidate = [this](const std::function<void()>& swap) {
                state.cache.clear(swap);
                return std::size_t{0};
            };
        }
        const std::size_t dropped = owner.reload_catalog(invalidate);
        if (!layer.empty()) {
            log().info("published {} version {}: {} cached tiles dropped", layer, version, dropped);
        }
    }

    server_state state;
    router routes;
    std::unique_ptr<http_frontend> frontend;
    std::atomic<bool> stopping{false};
    std::mutex publish_mutex;
    std::thread listener;
};

server::server(server_config config) : m_impl(std::make_unique<impl>(std::move(config))) {}

server::~server()
{
    m_impl->stopping = true;
    if (m_impl->listener.joinable()) {
        m_impl->listener.join();
    }
}

void server::reload_catalog()
{
    reload_catalog([](const std::function<void()>& swap) {
        swap();
        return std::size_t{0};
    });
}

std::size_t server::reload_catalog(const invalidator& invalidate)
{
    auto& state = m_impl->state;
    std::shared_ptr<const std::vector<core::layer>> layers;
    std::shared_ptr<const locator> loc;
    {
        auto conn = state.pool.acquire();
        layers = std::make_shared<const std::vector<core::layer>>(core::load_catalog(*conn));
        log().info("catalog: {} layers", layers->size());
        if (!state.locate_levels.empty()) {
            // Versions already indexed by the snapshot in service are shared, not rebuilt.
            const auto previous = state.locate_snapshot.load();
            loc = std::make_shared<const locator>(*conn, *layers, state.locate_levels, previous.get());
        }
    }
    // One step: publishes apply in order; the cache drops the changed tiles and the catalog is
    // swapped under the cache's lock, before its epoch moves on (tile_cache::invalidate).
    std::lock_guard<std::mutex> lock(m_impl->publish_mutex);
    const std::size_t dropped = invalidate([&] {
        if (loc) {
            state.locate_snapshot.store(std::move(loc));
        }
        state.snapshot.store(std::move(layers));
    });
    ++state.reloads;
    return dropped;
}

int server::bind()
{
    reload_catalog();
    auto& cfg = m_impl->state.config;
    m_impl->frontend = std::make_unique<http_frontend>(frontend_config_of(cfg), m_impl->routes);
    cfg.http.port = m_impl->frontend->bind();
    if (cfg.listen_for_publish && !m_impl->listener.joinable()) {
        m_impl->listener = std::thread([this] { m_impl->listen_loop(*this); });
    }
    return cfg.http.port;
}

void server::run()
{
    m_impl->frontend->run();
    m_impl->stopping = true;
}

void server::stop()
{
    m_impl->stopping = true;
    if (m_impl->frontend) {
        m_impl->frontend->stop();
    }
}

} // namespace onemap::tileserver
