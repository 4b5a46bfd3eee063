#pragma once
// The onemap HTTP server: routes, the catalog snapshot and the services behind them.
// It holds no state but caches and a copy of the catalog, so several can run behind one
// load balancer on one PostGIS.
#include "onemap/tileserver/http_frontend.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace onemap::core {
struct layer;
}

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
    /// Full-detail layer versions held in memory for tiles (tile_store.hpp); 0 = none.
    std::size_t tile_memory_bytes = 1024u << 20;
    bool listen_for_publish = true; ///< LISTEN onemap_publish: reload catalog, invalidate tiles
    std::string styles_dir = "styles"; ///< MapLibre style JSON files served at /styles/{name}.json
    std::string config_path;     ///< YAML of composite tilesets (the basemap); "" = none
    std::size_t ogc_max_response_bytes = 32u << 20; ///< OGC API items pages stop before this
    // Every wait for the database is bounded; past a limit the request gets 503 + Retry-After.
    int query_timeout_ms = 10000;    ///< statement_timeout of every query (tiles, PNG, features, grids)
    int db_wait_timeout_ms = 5000;   ///< for a free connection of the pool
    int connect_timeout_s = 5;       ///< opening a database connection
    int tile_wait_timeout_ms = 30000; ///< for another request's computation of the same tile
    /// Bearer token of the /admin/* routes; "" = they answer 403 (admin_access.hpp).
    std::string admin_token;
    std::size_t seed_jobs = 1;    ///< seed jobs running at once; more wait in a queue of 16
    std::string access_log;       ///< JSON line per request: a file, "-" = stdout, "" = none
    int slow_request_ms = 1000;   ///< requests slower than this are logged as warnings
};

class server {
public:
    /// \throws config_error (an admin token that cannot be used, a bad config file).
    explicit server(server_config config);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Loads the catalog and binds the socket; returns the bound port.
    /// \throws db_error, config_error.
    int bind();
    /// Serves until stop() is called (or a signal, with handle_signals). \pre bind() succeeded.
    void run();
    /// Stops accepting, cancels seed jobs, finishes requests in flight, closes idle
    /// connections; thread-safe.
    void stop();
    /// Re-reads the catalog from PostgreSQL and swaps it in.
    void reload_catalog();
    /// Brings the tile cache up to a new catalog: given the catalogs before and after, it runs
    /// `swap` (which puts `after` in service) in the same step, and returns how many cached
    /// tiles it carried over.
    using cache_update = std::function<std::size_t(const std::vector<core::layer>& before,
                                                   const std::vector<core::layer>& after,
                                                   const std::function<void()>& swap)>;
    /// Reloads the catalog and swaps it in through `update`; returns what `update` returned.
    std::size_t reload_catalog(const cache_update& update);

private:
    struct impl;
    std::unique_ptr<impl> m_impl;
};

} // namespace onemap::tileserver
