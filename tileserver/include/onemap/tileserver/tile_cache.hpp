#pragma once
// In-process tile cache: LRU bounded in bytes, one computation per missing key however many
// requests wait for it, and invalidation by layer and lon/lat box when the importer publishes.
#include "onemap/core/tile_matrix_set.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace onemap::tileserver {

struct cached_tile {
    std::string body;      ///< as produced (MVT bytes, PNG …); empty = no content
    std::string gzipped;   ///< body gzip-compressed, empty when not worth it
    std::string etag;      ///< strong validator, quoted
};

struct tile_cache_stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t evictions = 0;
    std::uint64_t invalidated = 0;
    std::size_t bytes = 0;
    std::size_t entries = 0;
};

class tile_cache {
public:
    explicit tile_cache(std::size_t max_bytes);

    /// The cached tile for `key`, computing it with `compute` on a miss. Concurrent callers with
    /// the same key wait for the one computation. `layers` and `bounds` (lon/lat) say what
    /// invalidates the entry. Exceptions from `compute` reach every waiter; nothing is cached.
    std::shared_ptr<const cached_tile> get(const std::string& key, const std::vector<std::string>& layers,
                                           const core::box& bounds,
                                           const std::function<std::string()>& compute);
    /// The same, for a computation drawn from data pinned when epoch() was `pinned_epoch`
    /// (read before the catalog snapshot was): nothing is kept if an invalidation came since.
    std::shared_ptr<const cached_tile> get(const std::string& key, const std::vector<std::string>& layers,
                                           const core::box& bounds, const std::function<std::string()>& compute,
                                           std::uint64_t pinned_epoch);

    /// Stores a tile computed elsewhere (the other tiles of a rendered metatile) unless an
    /// invalidation happened after `epoch` was read; returns the tile either way.
    std::shared_ptr<const cached_tile> put(const std::string& key, const std::vector<std::string>& layers,
                                           const core::box& bounds, std::string body, std::uint64_t epoch);
    /// The cached tile for `key`, counted as a hit and made most recent; nullptr (not counted)
    /// when absent. The fast path of a request: nothing else is built before it.
    std::shared_ptr<const cached_tile> hit(const std::string& key);
    /// The cached tile for `key` without computing anything (and without counting a hit).
    std::shared_ptr<const cached_tile> peek(const std::string& key) const;
    /// Bumped by every invalidation: read it before fetching the data a put() will store.
    std::uint64_t epoch() const;

    /// Drops the entries built from `layer` whose bounds meet `bounds`; returns how many.
    /// `in_step` (a catalog swap) runs under the cache's lock after the drop and before the
    /// epoch moves on, so no request sees the new catalog with the old tiles, and no tile
    /// drawn from the old catalog is kept afterwards.
    std::size_t invalidate(const std::string& layer, const core::box& bounds, const std::function<void()>& in_step = {});
    /// Drops the entries built from `layer`, wherever they are.
    std::size_t invalidate(const std::string& layer, const std::function<void()>& in_step = {});
    void clear(const std::function<void()>& in_step = {});

    tile_cache_stats stats() const;
    std::size_t max_bytes() const noexcept { return m_max_bytes; }

private:
    struct entry {
        std::string key;
        std::shared_ptr<const cached_tile> tile;
        std::vector<std::string> layers;
        core::box bounds;
        std::size_t bytes = 0;
    };
    struct pending {
        std::mutex mutex;
        std::condition_variable done;
        bool finished = false;
        std::shared_ptr<const cached_tile> tile;
        std::exception_ptr error;
    };

    std::size_t invalidate_if(const std::function<bool(const entry&)>& pred, const std::function<void()>& in_step);
    void insert_locked(const std::string& key, const std::shared_ptr<const cached_tile>& tile,
                       const std::vector<std::string>& layers, const core::box& bounds);

    const std::size_t m_max_bytes;
    mutable std::mutex m_mutex;
    std::list<entry> m_lru; // front = most recent
    std::unordered_map<std::string, std::list<entry>::iterator> m_index;
    std::unordered_map<std::string, std::shared_ptr<pending>> m_pending;
    std::atomic<std::uint64_t> m_epoch{0}; // bumped (under m_mutex) by every invalidation
    std::size_t m_bytes = 0;
    tile_cache_stats m_stats;
};

/// gzip of `data` (zlib; `level` 1–9, -1 for zlib's default).
std::string gzip(const std::string& data, int level = -1);

} // namespace onemap::tileserver
