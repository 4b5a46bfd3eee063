#include "onemap/tileserver/tile_cache.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdio>

namespace onemap::tileserver {

namespace {

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
    if (t->body.capacity() > t->body.size() + t->body.size() / 8) {
        t->body.shrink_to_fit(); // the budget counts what is held, not what was asked for
    }
    if (t->body.size() > 64 && !is_png(t->body)) { // PNG is deflated already
        // Level 1: on 1M-parcel MVT tiles 2–4 % larger than zlib's default (6), in less than
        // half its time, which was 11 % of an uncached tile's CPU (bench/RESULTS.md, issue 17).
        t->gzipped = gzip(t->body, 1);
        if (t->gzipped.size() >= t->body.size()) {
            t->gzipped.clear();
            t->gzipped.shrink_to_fit();
        }
    }
    t->etag = make_etag(t->body);
    return t;
}

// Heap bytes of a string's buffer (none when it fits the small-string buffer), as malloc rounds.
std::size_t heap_bytes(const std::string& s) noexcept
{
    return s.capacity() > 15 ? (s.capacity() + 1 + 8 + 15) / 16 * 16 : 0;
}

// What an entry holds besides its key: the tile (bodies, ETag, the shared block) and the list of
// what it drew.
std::size_t tile_bytes(const cached_tile& t, const std::vector<drawn_layer>& drawn) noexcept
{
    std::size_t n = heap_bytes(t.body) + heap_bytes(t.gzipped) + heap_bytes(t.etag) + sizeof(cached_tile) + 32;
    n += drawn.capacity() * sizeof(drawn_layer);
    for (const auto& d : drawn) {
        n += heap_bytes(d.layer);
    }
    return n;
}

// The key of `key` with `layer`'s version replaced by `to`.
tile_key with_version(tile_key key, const std::string& layer, int to)
{
    for (auto& d : key.drawn) {
        if (d.layer == layer) {
            d.version = to;
        }
    }
    return key;
}

} // namespace

std::string gzip(const std::string& data, int level)
{
    z_stream zs{};
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return {};
    }
    const std::unique_ptr<z_stream, int (*)(z_stream*)> owned(&zs, deflateEnd);
    std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        return {};
    }
    out.resize(zs.total_out);
    out.shrink_to_fit(); // deflateBound is larger than the body: give the rest back
    return out;
}

std::string tile_key::str() const
{
    std::string s;
    s.reserve(base.size() + 1 + drawn.size() * 16);
    s += base;
    s += '|';
    for (std::size_t i = 0; i < drawn.size(); ++i) {
        if (i != 0) {
            s += ',';
        }
        s += drawn[i].layer;
        s += ':';
        s += std::to_string(drawn[i].version);
    }
    return s;
}

tile_cache::tile_cache(std::size_t max_bytes, std::chrono::milliseconds wait_limit, std::string wait_limit_name)
    : m_max_bytes(max_bytes), m_entries(max_bytes), m_flights(wait_limit, std::move(wait_limit_name))
{
}

std::shared_ptr<const cached_tile> tile_cache::get(const tile_key& key, const core::box& reach,
                                                   const std::function<std::string()>& compute)
{
    std::string k = key.str();
    if (auto t = hit(k)) {
        return t;
    }
    bool computed = false;
    auto tile = m_flights.run(k, [&] {
        // A computation that ended between the miss above and now has stored its tile.
        if (auto stored = peek(k)) {
            return stored;
        }
        computed = true;
        auto t = make_tile(compute());
        const std::lock_guard<std::mutex> lock(m_mutex);
        store_locked(k, t, key.drawn, reach);
        return t;
    });
    const std::lock_guard<std::mutex> lock(m_mutex);
    ++(computed ? m_stats.misses : m_stats.hits); // a waiter is served by another's computation
    return tile;
}

std::shared_ptr<const cached_tile> tile_cache::put(const tile_key& key, const core::box& reach, std::string body)
{
    auto tile = make_tile(std::move(body));
    const std::lock_guard<std::mutex> lock(m_mutex);
    store_locked(key.str(), tile, key.drawn, reach);
    return tile;
}

std::shared_ptr<const cached_tile> tile_cache::hit(const std::string& key)
{
    const std::lock_guard<std::mutex> lock(m_mutex);
    const stored_tile* s = m_entries.get(key);
    if (s == nullptr) {
        return nullptr;
    }
    ++m_stats.hits;
    return s->tile;
}

std::shared_ptr<const cached_tile> tile_cache::peek(const std::string& key) const
{
    const std::lock_guard<std::mutex> lock(m_mutex);
    const stored_tile* s = m_entries.peek(key);
    return s == nullptr ? nullptr : s->tile;
}

void tile_cache::store_locked(std::string key, const std::shared_ptr<const cached_tile>& tile,
                              const std::vector<drawn_layer>& drawn, const core::box& reach)
{
    stored_tile s{tile, drawn, reach};
    const std::size_t bytes = tile_bytes(*tile, s.drawn);
    m_stats.evictions += m_entries.put(std::move(key), std::move(s), bytes);
}

std::size_t tile_cache::carry(const std::string& layer, int from, int to, const std::optional<core::box>& changed,
                              bool retire_from, const std::function<void()>& in_step)
{
    const auto drew_from = [&](const stored_tile& s) {
        return std::any_of(s.drawn.begin(), s.drawn.end(),
                           [&](const drawn_layer& d) { return d.version == from && d.layer == layer; });
    };
    const std::lock_guard<std::mutex> lock(m_mutex);
    // Collected first: storing reorders the LRU list being walked.
    std::vector<std::pair<tile_key, stored_tile>> kept;
    m_entries.for_each([&](const std::string& key, const stored_tile& s) {
        if (drew_from(s) && !(changed && s.reach.intersects(*changed))) {
            tile_key k{key.substr(0, key.rfind('|')), s.drawn};
            kept.emplace_back(with_version(std::move(k), layer, to), s);
        }
    });
    if (retire_from) {
        m_stats.invalidated += m_entries.erase_if([&](const std::string&, const stored_tile& s) { return drew_from(s); });
    }
    // Least recent first, so that the carried entries keep their order of use.
    for (auto it = kept.rbegin(); it != kept.rend(); ++it) {
        std::string k = it->first.str();
        if (!m_entries.contains(k)) {
            store_locked(std::move(k), it->second.tile, it->first.drawn, it->second.reach);
        }
    }
    m_stats.carried += kept.size();
    if (in_step) {
        in_step();
    }
    return kept.size();
}

tile_cache_stats tile_cache::stats() const
{
    const std::lock_guard<std::mutex> lock(m_mutex);
    tile_cache_stats s = m_stats;
    s.bytes = m_entries.bytes();
    s.entries = m_entries.size();
    return s;
}

} // namespace onemap::tileserver
