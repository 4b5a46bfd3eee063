#pragma once
// The onemap HTTP server: routes, the catalog snapshot and the services behind them.
// It holds no state but caches and a copy of the catalog, so several can run behind one
// load balancer on one PostGIS.
#include <cstdint>
#include <memory>
#include <string>

namespace onemap::tileserver {

struct server_config {
    std::string db;                ///< libpq connection string ("" = PG* environment)
    std::string host = "127.0.0.1";
    int port = 8080;               ///< 0 = any free port (see server::bind)
    std::size_t db_connections = 8;
    /// cpp-httplib serves each keep-alive connection on one pool thread until it closes, so
    /// the pool must be as large as the concurrent connections expected.
    std::size_t http_threads = 256;
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
    /// Serves until stop() is called. \pre bind() succeeded.
    void run();
    void stop();
    /// Re-reads the catalog from PostgreSQL.
    void reload_catalog();

private:
    struct impl;
    std::unique_ptr<impl> m_impl;
};

} // namespace onemap::tileserver
