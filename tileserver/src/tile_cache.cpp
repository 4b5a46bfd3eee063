#include "onemap/tileserver/tile_cache.hpp"

#include "onemap/core/event_loop.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <functional>

namespace onemap::tileserver {

using core::may_block;

namespace {

// Per-entry bookkeeping the byte budget counts besides the bodies (key, list node, map slot).
constexpr std::size_t ENTRY_OVERHEAD = 256;

std::string make_etag(const std::string& body)
{
    // FNV-1a 64 over the bytes: a strong validator for identical bodies.
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : body) {
        h = (h ^ c) * 1099511628211ULL;
    }
    char buf[24];
    std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
    return buf;
}

bool is_png(const std::string& body)
{
    return body.size() > 8 && body.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0;
}

std::shared_ptr<const cached_tile> make_tile(std::string body)
{
    auto t = std::make_shared<cached_tile>();
    t->body = std::move(body);
    if (t->body.size() > 64 && !is_png(t->body)) { // PNG is deflated already
        t->gzipped = gzip(t->body);
        if (t->gzipped.size() >= t->body.size()) {
            t->gzipped.clear();
        }
    }
    t->etag = make_etag(t->body);
    return t;
}

} // namespace

std::string gzip(const std::string& data, int level)
{
    z_stream zs{};
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return {};
    }
    std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return rc == Z_STREAM_END ? out : std::string();
}

tile_cache::tile_cache(std::size_t max_bytes) : m_max_bytes(max_bytes) {}

std::shared_ptr<const cached_tile> tile_cache::get(const std::string& key, const std::vector<std::string>& layers,
                                                   const core::box& bounds,
                                                   const std::function<std::string()>& compute)
{
    return get(key, layers, bounds, compute, m_epoch.load(std::memory_order_acquire));
}

std::shared_ptr<const cached_tile> tile_cache::get(const std::string& key, const std::vector<std::string>& layers,
                                                   const core::box& bounds, const std::function<std::string()>& compute,
                                                   std::uint64_t pinned_epoch)
{
    std::shared_ptr<pending> wait_for;
    bool leader = false;
    const std::uint64_t epoch = pinned_epoch;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (auto it = m_index.find(key); it != m_index.end()) {
            m_lru.splice(m_lru.begin(), m_lru, it->second);
            ++m_stats.hits;
            return it->second->tile;
        }
        may_block(); // computing, or waiting for another's computation, is a worker's job
        auto [pit, inserted] = m_pending.try_emplace(key, nullptr);
        if (inserted) {
            pit->second = std::make_shared<pending>();
            leader = true;
            ++m_stats.misses;
        } else {
            ++m_stats.hits; // served by the computation already under way
        }
        wait_for = pit->second;
    }

    if (!leader) {
        std::unique_lock<std::mutex> lock(wait_for->mutex);
        wait_for->done.wait(lock, [&] { return wait_for->finished; });
        if (wait_for->error) {
            std::rethrow_exception(wait_for->error);
        }
        return wait_for->tile;
    }

    std::shared_ptr<const cached_tile> tile;
    std::exception_ptr error;
    try {
        tile = make_tile(compute());
    } catch (...) {
        error = std::current_exception();
    }

    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_pending.erase(key);
        // A tile computed from data an invalidation has since replaced is handed out to its
        // waiters but not kept.
        if (tile && epoch == m_epoch) {
            insert_locked(key, tile, layers, bounds);
        }
    }
    {
        std::lock_guard<std::mutex> lock(wait_for->mutex);
        wait_for->finished = true;
        wait_for->tile = tile;
        wait_for->error = error;
    }
    wait_for->done.notify_all();
    if (error) {
        std::rethrow_exception(error);
    }
    return tile;
}

std::shared_ptr<const cached_tile> tile_cache::peek(const std::string& key) const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    const auto it = m_index.find(key);
    return it == m_index.end() ? nullptr : it->second->tile;
}

std::shared_ptr<const cached_tile> tile_cache::hit(const std::string& key)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    const auto it = m_index.find(key);
    if (it == m_index.end()) {
        return nullptr;
    }
    m_lru.splice(m_lru.begin(), m_lru, it->second);
    ++m_stats.hits;
    return it->second->tile;
}

std::uint64_t tile_cache::epoch() const
{
    return m_epoch.load(std::memory_order_acquire);
}

std::shared_ptr<const cached_tile> tile_cache::put(const std::string& key, const std::vector<std::string>& layers,
                                                   const core::box& bounds, std::string body, std::uint64_t epoch)
{
    auto tile = make_tile(std::move(body));
    std::lock_guard<std::mutex> lock(m_mutex);
    if (epoch != m_epoch) {
        return tile; // built from data an invalidation has since replaced: not kept
    }
    insert_locked(key, tile, layers, bounds);
    return tile;
}

void tile_cache::insert_locked(const std::string& key, const std::shared_ptr<const cached_tile>& tile,
                               const std::vector<std::string>& layers, const core::box& bounds)
{
    entry e;
    e.key = key;
    e.tile = tile;
    e.layers = layers;
    e.bounds = bounds;
    e.bytes = tile->body.size() + tile->gzipped.size() + key.size() + ENTRY_OVERHEAD;
    if (auto it = m_index.find(e.key); it != m_index.end()) { // a put() got there first
        m_bytes -= it->second->bytes;
        m_lru.erase(it->second);
        m_index.erase(it);
    }
    if (e.bytes > m_max_bytes) {
        return;
    }
    m_bytes += e.bytes;
    m_lru.push_front(std::move(e));
    m_index[m_lru.front().key] = m_lru.begin();
    while (m_bytes > m_max_bytes && !m_lru.empty()) {
        const entry& victim = m_lru.back();
        m_bytes -= victim.bytes;
        m_index.erase(victim.key);
        m_lru.pop_back();
        ++m_stats.evictions;
    }
}

std::size_t tile_cache::invalidate_if(const std::function<bool(const entry&)>& pred,
                                      const std::function<void()>& in_step)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    std::size_t dropped = 0;
    for (auto it = m_lru.begin(); it != m_lru.end();) {
        if (pred(*it)) {
            m_bytes -= it->bytes;
            m_index.erase(it->key);
            it = m_lru.erase(it);
            ++dropped;
        } else {
            ++it;
        }
    }
    m_stats.invalidated += dropped;
    if (in_step) {
        in_step();
    }
    // After the swap: a reader that sees the new epoch sees the new catalog.
    m_epoch.fetch_add(1, std::memory_order_release);
    return dropped;
}

std::size_t tile_cache::invalidate(const std::string& layer, const core::box& bounds,
                                   const std::function<void()>& in_step)
{
    return invalidate_if(
        [&](const entry& e) {
            return e.bounds.intersects(bounds) && std::find(e.layers.begin(), e.layers.end(), layer) != e.layers.end();
        },
        in_step);
}

std::size_t tile_cache::invalidate(const std::string& layer, const std::function<void()>& in_step)
{
    return invalidate_if(
        [&](const entry& e) { return std::find(e.layers.begin(), e.layers.end(), layer) != e.layers.end(); },
        in_step);
}

void tile_cache::clear(const std::function<void()>& in_step)
{
    invalidate_if([](const entry&) { return true; }, in_step);
}

tile_cache_stats tile_cache::stats() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    tile_cache_stats s = m_stats;
    s.bytes = m_bytes;
    s.entries = m_lru.size();
    return s;
}

} // namespace onemap::tileserver
