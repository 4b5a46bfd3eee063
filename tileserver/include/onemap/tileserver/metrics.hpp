#pragma once
// What the server is doing, for Prometheus (GET /metrics, text format 0.0.4), kept with
// prometheus-cpp's core library from Debian (prometheus-cpp-dev): its registry, counters,
// gauges and histograms are thread-safe and its serializer writes the exposition format, so
// nothing of the format is written by hand; its HTTP exposer (civetweb) is not used — /metrics
// is one more route of the Beast front end.
//
// A request finds its counter and histogram in its thread's map of handles by the route
// pattern's address and the status: no allocation, no shared lock, no label hashing.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
} // namespace prometheus

namespace onemap::tileserver {

/// Values read when scraped (the cache's, the pool's and the front end's own counters).
struct scrape_values {
    std::uint64_t cache_hits = 0;
    std::uint64_t cache_misses = 0;
    std::uint64_t cache_evictions = 0;
    std::size_t cache_bytes = 0;
    std::size_t cache_entries = 0;
    std::size_t pool_size = 0;
    std::size_t pool_in_use = 0;
    std::size_t pool_waiting = 0;
    std::size_t connections_open = 0;
    bool ready = false;
};

class server_metrics {
public:
    server_metrics();
    ~server_metrics();
    server_metrics(const server_metrics&) = delete;
    server_metrics& operator=(const server_metrics&) = delete;
    server_metrics(server_metrics&&) = delete;
    server_metrics& operator=(server_metrics&&) = delete;

    /// One answered request: by route pattern ("" = no route matched) and status.
    void request(std::string_view route, int status, double seconds);
    /// A tile drawn (a cache miss): by tileset and zoom, MVT or PNG.
    void tile_built(const std::string& tileset, int zoom, std::string_view format, double seconds);
    void publish_seen();
    /// A request refused for want of a right (401 or 403 naming a layer).
    void denied(const std::string& layer, int status);
    /// A request refused past its rate (429).
    void rate_limited(bool keyed);

    /// The exposition text, with the scrape-time values set first.
    std::string scrape(const scrape_values& now);

private:
    struct impl;
    std::unique_ptr<impl> m_impl;
};

} // namespace onemap::tileserver
