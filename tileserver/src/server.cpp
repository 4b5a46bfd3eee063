// The server: the shared state, every capability's routes on one router, the HTTP front end,
// and the listener that follows the importer's publishes.
#include "onemap/tileserver/server.hpp"

#include "admin_routes.hpp"
#include "server_state.hpp"

#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"
#include "onemap/tileserver/access_log.hpp"
#include "onemap/tileserver/api_keys.hpp"
#include "onemap/tileserver/http_errors.hpp"
#include "onemap/tileserver/features_api.hpp"
#include "onemap/tileserver/http_frontend.hpp"
#include "onemap/tileserver/wmts.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <mutex>
#include <optional>
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

seed_jobs_config seed_config_of(const server_config& c)
{
    seed_jobs_config j;
    j.concurrent = c.seed_jobs;
    return j;
}

// Per key, or per address without one; operations' own routes are never limited.
void limit_rate(server_state& s, const http_request& req)
{
    const auto rules = s.rules();
    const bool keyed = !req.caller.api_key.empty();
    const rate_limit& limit = keyed ? rules->per_key() : rules->per_address();
    const std::string_view route = req.route;
    if (!limit.enabled() || route == "/health" || route == "/ready" || route == "/metrics" ||
        route.compare(0, 6, "/admin") == 0) {
        return;
    }
    // Buckets are named by a hash of the key: the limiter never holds keys.
    const std::string who = keyed ? "k" + std::to_string(std::hash<std::string>{}(req.caller.api_key))
                                  : "a" + req.remote_addr;
    if (const int wait = s.rates.take(who, limit); wait > 0) {
        s.metrics.rate_limited(keyed);
        char rate[32];
        std::snprintf(rate, sizeof rate, "%g", limit.per_second);
        throw rate_limited(std::string(keyed ? "this key" : "this address") + " is past its " + rate +
                               " requests a second (rate_limits in the server's config); retry after " +
                               std::to_string(wait) + " s",
                           wait);
    }
}

// Who is asking (the key's department), checked once per request before its handler; then
// every layer the request names must be visible to it (401 without a key, 403 with one).
void identify(server_state& s, http_request& req, const std::vector<std::string>& named)
{
    auto& c = req.caller;
    if (!c.resolved) {
        if (c.api_key.empty()) {
            // Every key parameter is taken out: no handler sees it, no link or log copies it.
            std::string in_query;
            bool query_key = false;
            for (auto it = req.params.begin(); it != req.params.end();) {
                if (it->first == "key") {
                    if (!query_key) {
                        in_query = std::move(it->second);
                        query_key = true;
                    }
                    it = req.params.erase(it);
                } else {
                    ++it;
                }
            }
            if (req.has_header("X-Onemap-Key")) { // the header wins over the parameter
                c.api_key = req.get_header_value("X-Onemap-Key");
                if (c.api_key.empty()) {
                    throw unauthorized("the X-Onemap-Key header is empty");
                }
            } else if (query_key) {
                c.api_key = std::move(in_query);
                c.key_in_query = true;
                if (c.api_key.empty()) {
                    throw unauthorized("the key parameter is empty");
                }
            }
        }
        if (!c.api_key.empty()) {
            c.department = s.keys.department_of(c.api_key); // may move the request to a worker
        }
        c.resolved = true;
        limit_rate(s, req);
    }
    const auto rules = s.rules();
    if (!rules->restricts() || named.empty()) {
        return;
    }
    const auto all = s.catalog();
    for (const auto& name : named) {
        if (core::find_public_layer(*all, name) != nullptr) {
            rules->require(name, server_state::caller_of(req));
        }
    }
}

// When rights are configured, answers depend on who asks: shared caches must tell callers
// apart, and must not keep a keyed caller's answer at all.
void mark_private(const server_state& s, const http_request& req, http_response& res)
{
    if (!s.rules()->restricts()) {
        return;
    }
    res.set_header("Vary", res.has_header("Vary") ? res.get_header_value("Vary") + ", X-Onemap-Key" : "X-Onemap-Key");
    if (!req.caller.api_key.empty()) {
        const std::string& cc = res.get_header_value("Cache-Control");
        if (cc.compare(0, 6, "public") == 0) {
            res.set_header("Cache-Control", "private" + cc.substr(6));
        }
    }
}

// X-Request-Id as the client (or a proxy) sent it when it is a sane token, else one of ours.
std::string request_id(const http_request& req)
{
    const std::string& sent = req.get_header_value("X-Request-Id");
    if (!sent.empty() && sent.size() <= 64 && std::all_of(sent.begin(), sent.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                   c == '_' || c == '.';
        })) {
        return sent;
    }
    static const std::uint64_t process = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    static std::atomic<std::uint64_t> counter{0};
    char id[40];
    std::snprintf(id, sizeof id, "%08llx-%llx", static_cast<unsigned long long>(process & 0xffffffffULL),
                  static_cast<unsigned long long>(counter.fetch_add(1, std::memory_order_relaxed)));
    return id;
}

std::string utc_now_iso()
{
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    char text[64];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return text;
}

// A JSON string, or null for "".
void append_json_or_null(std::string& out, const std::string& s)
{
    if (s.empty()) {
        out += "null";
    } else {
        append_json_string(out, s);
    }
}

// Every answer: its request id, caller-dependent caching, metrics, the access log line and,
// when slow, a warning naming route, layer and time.
void after_answer(server_state& s, access_log* log_out, const http_request& req, http_response& res)
{
    mark_private(s, req, res);
    const std::string id = request_id(req);
    res.set_header("X-Request-Id", id);
    const double seconds =
        req.received == std::chrono::steady_clock::time_point{}
            ? 0.0
            : std::chrono::duration<double>(std::chrono::steady_clock::now() - req.received).count();
    s.metrics.request(req.route, res.status, seconds);
    if ((res.status == 401 || res.status == 403) && req.route.compare(0, 6, "/admin") != 0) {
        s.metrics.denied(req.layer, res.status);
    }
    const double ms = seconds * 1000;
    if (ms > s.config.slow_request_ms) {
        log().warn("slow request {}: {} {} layer '{}' zoom '{}' {:.0f} ms (status {})", id,
                   req.route.empty() ? "-" : req.route, req.path, req.layer, req.zoom, ms, res.status);
    }
    if (log_out == nullptr) {
        return;
    }
    std::string line;
    line.reserve(256);
    line += "{\"time\":\"";
    line += utc_now_iso();
    line += "\",\"id\":";
    append_json_string(line, id);
    line += ",\"department\":";
    append_json_or_null(line, req.caller.department);
    line += ",\"remote\":";
    append_json_string(line, req.remote_addr);
    line += ",\"method\":";
    append_json_string(line, method_name(req.method));
    line += ",\"route\":";
    append_json_string(line, req.route);
    line += ",\"path\":"; // never the query: it may hold a key
    append_json_string(line, req.path);
    line += ",\"layer\":";
    append_json_or_null(line, req.layer);
    line += ",\"zoom\":";
    append_json_or_null(line, req.zoom);
    line += ",\"status\":" + std::to_string(res.status);
    line += ",\"bytes\":" + std::to_string(res.content().size());
    line += ",\"ms\":";
    append_fixed(line, ms, 3);
    line += '}';
    log_out->write(std::move(line));
}

} // namespace

struct server::impl {
    explicit impl(server_config c)
        : state(std::move(c)), admin(state.config.admin_token),
          jobs([s = &state](const seed_request& r, int level, std::uint64_t col, std::uint64_t row) -> std::size_t {
                   const auto format = r.format == "png" ? tile_format::png : tile_format::mvt;
                   const auto t = s->tile_named(*s->catalog_for(r.department), r.tileset, format, *r.tms, level, col,
                                                row, r.date, draw_extent::metatile);
                   return t ? t->body.size() : 0;
               },
               [this](std::function<void()> task) { frontend->post(std::move(task)); },
               seed_config_of(state.config))
    {
        routes.set_cors_origin(state.config.cors_origin);
        server_state* s = &state;
        admin_context admin_ctx;
        admin_ctx.frontend_counters = [this] {
            if (!frontend) {
                return std::string("{}");
            }
            const auto f = frontend->stats();
            return nlohmann::json({{"accepted", f.accepted}, {"rejected", f.rejected}, {"requests", f.requests},
                                   {"on_workers", f.on_workers}, {"open", f.open}})
                .dump();
        };
        admin_ctx.access = &admin;
        admin_ctx.reload = [this] { reload_config(); };
        admin_ctx.open_connections = [this] { return frontend ? frontend->stats().open : std::size_t{0}; };
        admin_ctx.jobs = &jobs;
        if (!state.config.access_log.empty()) {
            requests_log = std::make_unique<access_log>(state.config.access_log);
        }
        routes.set_hooks([s](http_request& req, const std::vector<std::string>& named) { identify(*s, req, named); },
                         [s, out = requests_log.get()](const http_request& req, http_response& res) {
                             after_answer(*s, out, req, res);
                         });
        register_admin_routes(routes, state, admin_ctx);
        register_locate_routes(routes, state);
        register_tile_routes(routes, state);
        register_style_routes(routes, state);
        register_analysis_routes(routes, state);

        wmts_context wmts;
        wmts.pool = &state.pool;
        wmts.store = &state.held;
        wmts.catalog = [s](const http_request& req) { return s->catalog_for(req); };
        wmts.base_url = [s](const http_request& req) { return s->base_url(req); };
        wmts.key_query = [](const http_request& req) { return server_state::key_query(req); };
        wmts.tilesets = [s] { return s->tilesets(); };
        wmts.tile = [s](const std::vector<core::layer>& layers, const std::string& name, tile_format format,
                        const core::tile_matrix_set& tms, int level, std::uint64_t col, std::uint64_t row,
                        const std::string& date) {
            return s->tile_named(layers, name, format, tms, level, col, row, date);
        };
        wmts.send_tile = [](const http_request& req, http_response& res, const std::shared_ptr<const cached_tile>& tile,
                            const char* content_type) { server_state::send_tile(req, res, tile, content_type); };
        register_wmts(routes, std::move(wmts));

        features_context features;
        features.pool = &state.pool;
        features.limits.max_response_bytes = state.config.ogc_max_response_bytes;
        features.catalog = [s](const http_request& req) { return s->catalog_for(req); };
        features.base_url = [s](const http_request& req) { return s->base_url(req); };
        register_features_api(routes, std::move(features));
    }

    // SIGHUP and POST /admin/reload: tilesets, rights and rate limits from the config file,
    // all or nothing; styles are read again whenever their files change. Connections stay.
    void reload_config()
    {
        try {
            state.reload_config();
            log().info("configuration reloaded from {}: {} composite tileset(s), rights {}", state.config.config_path,
                       state.tilesets()->size(), state.rules()->restricts() ? "restrict some layers" : "all public");
        } catch (const std::exception& e) {
            log().error("configuration not reloaded, the running one is kept: {}", e.what());
            throw;
        }
    }

    // LISTEN for the importer's publish notifications; on each, swap in the new catalog and
    // drop only the cached tiles of that layer inside the changed bbox.
    void listen_loop(server& owner)
    {
        bool lost = false;
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
                struct key_receiver : pqxx::notification_receiver {
                    key_receiver(pqxx::connection_base& c, key_directory& k)
                        : pqxx::notification_receiver(c, KEYS_CHANNEL), keys(k)
                    {
                    }
                    void operator()(const std::string& payload, int) override
                    {
                        log().info("API key {} revoked: forgetting the keys this server knew", payload);
                        keys.forget_all();
                    }
                    key_directory& keys;
                } keys_rx(*conn, state.keys);
                state.keys.forget_all(); // a revocation may have been missed while not listening
                if (lost) {
                    state.pool.drop_idle(); // the database went away: every idle connection is broken
                }
                owner.reload_catalog(); // anything published while we were not listening
                state.listening = true;
                if (lost) {
                    log().info("database reachable again: catalog re-read, listening for publishes");
                    lost = false;
                }
                while (!stopping) {
                    conn->await_notification(0, 200000);
                }
            } catch (const std::exception& e) {
                state.listening = false;
                lost = true;
                log().warn("publish listener: {}; retrying in 2 s", e.what());
                for (int i = 0; i < 20 && !stopping; ++i) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                }
            }
        }
    }

    // A publish of a layer version: the cached tiles outside the area it changed are carried
    // over to the new version's key in the same step that swaps the new catalog in, so only
    // tiles over the change are drawn again. Nothing can be stale whatever happens here —
    // keys name the versions drawn — so a notification not understood costs cache hits only.
    void on_publish(server& owner, const std::string& payload)
    {
        std::string layer;
        int version = 0;
        std::string valid_from;
        std::optional<core::box> changed;
        bool known_change = false;
        try {
            const auto p = nlohmann::json::parse(payload);
            layer = p.at("layer").get<std::string>();
            version = p.at("version").get<int>();
            valid_from = p.at("valid_from").get<std::string>();
            const auto& b = p.at("bbox");
            if (b.is_array() && b.size() == 4) {
                changed = core::box{b[0].get<double>(), b[1].get<double>(), b[2].get<double>(), b[3].get<double>()};
                known_change = true;
            } else if (b.is_null()) {
                known_change = true; // the new version has the same rows as the one it replaces
            }
        } catch (const std::exception& e) {
            log().warn("publish notification '{}' not understood ({}); reloading the catalog", payload, e.what());
        }
        const std::size_t carried = owner.reload_catalog(
            [&](const std::vector<core::layer>& before, const std::vector<core::layer>& after,
                const std::function<void()>& swap) -> std::size_t {
                const core::layer* old_layer = known_change ? core::find_public_layer(before, layer) : nullptr;
                const core::layer* new_layer = core::find_public_layer(after, layer);
                if (!known_change || new_layer == nullptr) {
                    swap();
                    return 0;
                }
                // The version the new one replaces from its start date on (0: none); retired
                // when the publish superseded it (same start date).
                const core::layer_version* from = old_layer != nullptr ? old_layer->as_of(valid_from) : nullptr;
                const int from_version = from != nullptr ? from->version : 0;
                const bool retired = from != nullptr && std::none_of(new_layer->versions.begin(),
                                                                     new_layer->versions.end(),
                                                                     [&](const core::layer_version& v) {
                                                                         return v.version == from_version;
                                                                     });
                return state.cache.carry(layer, from_version, version, changed, retired, swap);
            });
        state.metrics.publish_seen();
        if (!layer.empty()) {
            log().info("published {} version {}: {} cached tiles carried over", layer, version, carried);
        }
    }

    server_state state;
    std::unique_ptr<access_log> requests_log; // before the routes that write to it
    admin_access admin;
    seed_jobs jobs; // before the front end: its workers run the jobs' tasks until joined
    router routes;
    std::unique_ptr<http_frontend> frontend;
    std::atomic<bool> stopping{false};
    std::mutex publish_mutex;
    std::thread listener;
};

server::server(server_config config) : m_impl(std::make_unique<impl>(std::move(config))) {}

server::~server()
{
    m_impl->jobs.shutdown(); // else the front end would wait for every job to finish
    m_impl->stopping = true;
    if (m_impl->listener.joinable()) {
        m_impl->listener.join();
    }
}

void server::reload_catalog()
{
    reload_catalog([](const std::vector<core::layer>&, const std::vector<core::layer>&,
                      const std::function<void()>& swap) {
        swap();
        return std::size_t{0};
    });
}

std::size_t server::reload_catalog(const cache_update& update)
{
    auto& state = m_impl->state;
    std::shared_ptr<const std::vector<core::layer>> layers;
    std::shared_ptr<const locator> loc;
    {
        // Its own connection: not one of the pool's, whose statements have the request time limit
        // (indexing the locate boundaries reads whole layers) and which requests need meanwhile.
        auto conn = core::connect(state.pool.conninfo());
        layers = std::make_shared<const std::vector<core::layer>>(core::load_catalog(*conn));
        log().info("catalog: {} layers", layers->size());
        if (!state.locate_levels.empty()) {
            // Versions already indexed by the snapshot in service are shared, not rebuilt.
            const auto previous = state.locate_snapshot.load();
            loc = std::make_shared<const locator>(*conn, *layers, state.locate_levels, previous.get());
        }
    }
    // One step: publishes apply in order; the cache carries what a publish left unchanged and
    // the catalog is swapped under the cache's lock (tile_cache::carry).
    std::lock_guard<std::mutex> lock(m_impl->publish_mutex);
    const auto before = state.snapshot.load();
    const auto after = layers;
    const std::size_t carried = update(*before, *after, [&] {
        if (loc) {
            state.locate_snapshot.store(std::move(loc));
        }
        state.snapshot.store(std::move(layers));
    });
    ++state.reloads;
    return carried;
}

int server::bind()
{
    reload_catalog();
    m_impl->state.listening = true; // the database answered just now; the listener takes over
    auto& cfg = m_impl->state.config;
    m_impl->frontend = std::make_unique<http_frontend>(frontend_config_of(cfg), m_impl->routes);
    // stop() and SIGTERM cancel the seed jobs at once; the front end then waits for the tile
    // each job is on, not for the job.
    m_impl->frontend->set_stop_handler([this] { m_impl->jobs.shutdown(); });
    m_impl->frontend->set_reload_handler([this] {
        try {
            m_impl->reload_config();
        } catch (const std::exception&) { // logged; the running configuration stays
        }
    });
    if (m_impl->admin.enabled()) {
        log().info("admin API enabled (Authorization: Bearer); {} seed job(s) at a time", cfg.seed_jobs);
    } else {
        log().info("admin API disabled (set ONEMAP_ADMIN_TOKEN or --admin-token-file to enable it)");
    }
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
