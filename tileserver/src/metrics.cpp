#include "onemap/tileserver/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <functional>
#include <sstream>

namespace onemap::tileserver {

namespace {

/// Request latency: 0.5 ms (a cached tile) to 10 s (the query limit).
const prometheus::Histogram::BucketBoundaries REQUEST_BUCKETS{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                              0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                                              5,      10};
/// Tile builds: 1 ms to 10 s.
const prometheus::Histogram::BucketBoundaries BUILD_BUCKETS{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                            0.25,  0.5,    1,     2.5,  5,     10};

} // namespace

struct server_metrics::impl {
    std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
    prometheus::Family<prometheus::Counter>& requests =
        prometheus::BuildCounter()
            .Name("onemap_http_requests_total")
            .Help("HTTP requests answered, by route pattern and status")
            .Register(*registry);
    prometheus::Family<prometheus::Histogram>& latency =
        prometheus::BuildHistogram()
            .Name("onemap_http_request_duration_seconds")
            .Help("Time from a request's arrival to its answer, by route pattern")
            .Register(*registry);
    prometheus::Family<prometheus::Histogram>& builds =
        prometheus::BuildHistogram()
            .Name("onemap_tile_build_seconds")
            .Help("Time to build a tile that was not cached, by tileset, zoom and format")
            .Register(*registry);
    prometheus::Family<prometheus::Counter>& denials =
        prometheus::BuildCounter()
            .Name("onemap_rights_denials_total")
            .Help("Requests refused for want of a right to a layer (401 without a key, 403 with one)")
            .Register(*registry);
    prometheus::Family<prometheus::Counter>& limited =
        prometheus::BuildCounter()
            .Name("onemap_rate_limited_total")
            .Help("Requests refused with 429, by whose rate (a key's or an address's)")
            .Register(*registry);
    prometheus::Counter& limited_keys = limited.Add({{"by", "key"}});
    prometheus::Counter& limited_addresses = limited.Add({{"by", "address"}});
    prometheus::Counter& publishes = prometheus::BuildCounter()
                                         .Name("onemap_publishes_seen_total")
                                         .Help("Layer versions published by the importer and taken in")
                                         .Register(*registry)
                                         .Add({});
    prometheus::Family<prometheus::Counter>& cache =
        prometheus::BuildCounter().Name("onemap_tile_cache_total").Help("Tile cache lookups and evictions").Register(*registry);
    prometheus::Counter& hits = cache.Add({{"event", "hit"}});
    prometheus::Counter& misses = cache.Add({{"event", "miss"}});
    prometheus::Counter& evictions = cache.Add({{"event", "eviction"}});
    prometheus::Family<prometheus::Gauge>& gauges =
        prometheus::BuildGauge().Name("onemap_state").Help("Sizes of the server's parts now").Register(*registry);
    prometheus::Gauge& cache_bytes = prometheus::BuildGauge()
                                         .Name("onemap_tile_cache_bytes")
                                         .Help("Bytes of tiles held in the cache")
                                         .Register(*registry)
                                         .Add({});
    prometheus::Gauge& cache_entries = gauges.Add({{"part", "cache_entries"}});
    prometheus::Family<prometheus::Gauge>& pool =
        prometheus::BuildGauge().Name("onemap_db_pool_connections").Help("Database pool connections by state").Register(*registry);
    prometheus::Gauge& pool_size = pool.Add({{"state", "size"}});
    prometheus::Gauge& pool_in_use = pool.Add({{"state", "in_use"}});
    prometheus::Gauge& pool_waiting = pool.Add({{"state", "waiting"}});
    prometheus::Gauge& open = gauges.Add({{"part", "http_connections"}});
    prometheus::Gauge& ready = prometheus::BuildGauge()
                                   .Name("onemap_ready")
                                   .Help("1 when the catalog is loaded and the database reachable (GET /ready)")
                                   .Register(*registry)
                                   .Add({});

    struct handles {
        prometheus::Counter* count = nullptr;
        prometheus::Histogram* time = nullptr;
    };
    /// Tells instances apart in the threads' memos (an address could be reused).
    const std::uint64_t id = [] {
        static std::atomic<std::uint64_t> next{0};
        return ++next;
    }();
    std::mutex mutex; // guards the maps of handles and the last scraped cache counters
    std::unordered_map<std::string, handles> by_route_status;
    std::unordered_map<std::string, prometheus::Histogram*> by_build;
    std::uint64_t last_hits = 0;
    std::uint64_t last_misses = 0;
    std::uint64_t last_evictions = 0;
};

server_metrics::server_metrics() : m_impl(std::make_unique<impl>()) {}
server_metrics::~server_metrics() = default;

void server_metrics::request(std::string_view route, int status, double seconds)
{
    // On every request: each thread keeps the handles it has used, by the route pattern's
    // address (stable: the router keeps its patterns for its life) and status, so a request
    // neither allocates nor takes the shared lock once its (route, status) has been seen.
    struct slot {
        std::uint64_t owner;
        const char* route;
        int status;
        bool operator==(const slot& o) const noexcept
        {
            return owner == o.owner && route == o.route && status == o.status;
        }
    };
    struct slot_hash {
        std::size_t operator()(const slot& s) const noexcept
        {
            return std::hash<const void*>{}(s.route) ^ (static_cast<std::size_t>(s.status) << 1) ^
                   (static_cast<std::size_t>(s.owner) << 20);
        }
    };
    thread_local std::unordered_map<slot, impl::handles, slot_hash> mine;
    impl::handles& h = mine[slot{m_impl->id, route.data(), status}];
    if (h.count == nullptr) {
        const std::string r(route.empty() ? "none" : route);
        const std::lock_guard<std::mutex> lock(m_impl->mutex);
        auto& found = m_impl->by_route_status[r + ' ' + std::to_string(status)];
        if (found.count == nullptr) {
            found.count = &m_impl->requests.Add({{"route", r}, {"status", std::to_string(status)}});
            found.time = &m_impl->latency.Add({{"route", r}}, REQUEST_BUCKETS);
        }
        h = found;
    }
    h.count->Increment();
    h.time->Observe(seconds);
}

void server_metrics::tile_built(const std::string& tileset, int zoom, std::string_view format, double seconds)
{
    std::string key = tileset + ' ' + std::to_string(zoom) + ' ' + std::string(format);
    prometheus::Histogram* h = nullptr;
    {
        const std::lock_guard<std::mutex> lock(m_impl->mutex);
        auto& found = m_impl->by_build[key];
        if (found == nullptr) {
            found = &m_impl->builds.Add(
                {{"tileset", tileset}, {"zoom", std::to_string(zoom)}, {"format", std::string(format)}}, BUILD_BUCKETS);
        }
        h = found;
    }
    h->Observe(seconds);
}

void server_metrics::rate_limited(bool keyed)
{
    (keyed ? m_impl->limited_keys : m_impl->limited_addresses).Increment();
}

void server_metrics::publish_seen()
{
    m_impl->publishes.Increment();
}

void server_metrics::denied(const std::string& layer, int status)
{
    m_impl->denials.Add({{"layer", layer}, {"status", std::to_string(status)}}).Increment();
}

std::string server_metrics::scrape(const scrape_values& now)
{
    {
        const std::lock_guard<std::mutex> lock(m_impl->mutex);
        // The cache counts on its own; the counters move by what it counted since the last scrape.
        auto advance = [](prometheus::Counter& c, std::uint64_t value, std::uint64_t& last) {
            if (value > last) {
                c.Increment(static_cast<double>(value - last));
            }
            last = value;
        };
        advance(m_impl->hits, now.cache_hits, m_impl->last_hits);
        advance(m_impl->misses, now.cache_misses, m_impl->last_misses);
        advance(m_impl->evictions, now.cache_evictions, m_impl->last_evictions);
    }
    m_impl->cache_bytes.Set(static_cast<double>(now.cache_bytes));
    m_impl->cache_entries.Set(static_cast<double>(now.cache_entries));
    m_impl->pool_size.Set(static_cast<double>(now.pool_size));
    m_impl->pool_in_use.Set(static_cast<double>(now.pool_in_use));
    m_impl->pool_waiting.Set(static_cast<double>(now.pool_waiting));
    m_impl->open.Set(static_cast<double>(now.connections_open));
    m_impl->ready.Set(now.ready ? 1 : 0);
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, m_impl->registry->Collect());
    return out.str();
}

} // namespace onemap::tileserver
