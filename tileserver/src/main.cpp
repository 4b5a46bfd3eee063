// onemap-server: serves the catalog's layers as tiles and APIs.
#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"
#include "onemap/tileserver/server.hpp"

#include <CLI/CLI.hpp>

#include <csignal>

namespace {
onemap::tileserver::server* g_server = nullptr;
extern "C" void on_signal(int)
{
    if (g_server != nullptr) {
        g_server->stop();
    }
}
} // namespace

int main(int argc, char** argv)
{
    CLI::App app{"onemap-server: vector tiles, WMTS and geoqueries over the onemap catalog"};
    onemap::tileserver::server_config config;
    std::string log_level = "info";
    app.add_option("-d,--db", config.db, "libpq connection string (default: PG* environment)");
    app.add_option("--host", config.host, "address to listen on")->capture_default_str();
    app.add_option("-p,--port", config.port, "port to listen on (0 = any free port)")->capture_default_str();
    app.add_option("--db-connections", config.db_connections, "database connections in the pool")->capture_default_str();
    std::size_t cache_mb = config.cache_bytes >> 20;
    app.add_option("--cache-mb", cache_mb, "tile cache budget in MiB")->capture_default_str();
    app.add_option("--tilesets", config.tilesets_path, "YAML of composite tilesets, e.g. tileserver/tilesets.yaml");
    app.add_option("--public-url", config.public_url, "base URL clients reach this server at");
    app.add_option("--log-level", log_level, "debug, info, warn, error");
    CLI11_PARSE(app, argc, argv);
    try {
        onemap::set_log_level(log_level);
        config.cache_bytes = cache_mb << 20;
        onemap::tileserver::server server(config);
        const int port = server.bind();
        g_server = &server;
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        onemap::log().info("listening on http://{}:{}/", config.host, port);
        server.run();
        g_server = nullptr;
        onemap::log().info("stopped");
        return 0;
    } catch (const std::exception& e) {
        onemap::log().error("{}", e.what());
        return 1;
    }
}
