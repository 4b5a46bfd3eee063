#pragma once
// The onemap HTTP server: routes, the catalog snapshot and the services behind them.
// It holds no state but caches and a copy of the catalog, so several can run behind one
// load balancer on one PostGIS.
#include "onemap/tileserver/http_frontend.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace onemap::tileserver {

struct server_config {
    std::string db;                ///< libpq connection string ("" = PG* environment)
    /// Address, threads, limits and timeouts of the HTTP front end. `http.port` 0 = any free
    /// port (see server::bind); `http.worker_threads` 0 = max(cores, db_connections).
    frontend_config http;
    std::size_t db_connections = 8;
    std::string cors_origin = "*"; ///< Access-Control-Allow-Origin; "" = no CORS headers
    std::string public_url;        ///< base URL written into TileJSON/capabilities; "" = from Host
    std::size_t cache_bytes = 256u << 20; ///< tile cache budget
    bool listen_for_publish = true; ///< LISTEN onemap_publish: reload catalog, invalidate tiles
    std::string styles_dir = "styles"; ///< MapLibre style JSON files served at /styles/{name}.json
    std::string config_path;     ///< YAML of composite tilesets (the basemap); "" = none
    std::size_t ogc_max_response_bytes = 32u << 20; ///< OGC API items pages stop before this
    int query_timeout_ms = 10000; ///< statement_timeout of OGC API queries; longer → 503
};

class server {
public:
    explicit server(server_config config);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Loads the catalog and binds the socket; returns the bound port.
    /// \throws db_error, config_error.
    int bind();
    /// Serves until stop() is called (or a signal, with handle_signals). \pre bind() succeeded.
    void run();
    /// Stops accepting, finishes requests in flight, closes idle connections; thread-safe.
    void stop();
    /// Re-reads the catalog from PostgreSQL.
    void reload_catalog();
    /// Drops the cached tiles a publish changed and runs its argument (the catalog swap) in the
    /// same step; returns how many tiles it dropped.
    using invalidator = std::function<std::size_t(const std::function<void()>& swap)>;
    /// Reloads the catalog and swaps it in through `invalidate`, so that no request sees the new
    /// catalog beside the tiles the publish changed; returns what `invalidate` returned.
    std::size_t reload_catalog(const invalidator& invalidate);

private:
    struct impl;
    std::unique_ptr<impl> m_impl;
};

} // namespace onemap::tileserver
