#pragma once
// In-process tile cache: LRU bounded in bytes, one computation per missing key however many
// requests wait for it, keyed by what a tile holds.
//
// A key names the tile (tileset, format, style, matrix set, z/x/y) and, for every layer the tile
// may draw, the version it draws. Versions are immutable once published, so an entry is never
// stale: a request for another date drawing the same versions hits it, and a new day costs
// nothing. A publish carries the entries outside the changed area over to the new version's key
// (tile_cache::carry), so that only tiles over the change are drawn again.
#include "onemap/core/lru_cache.hpp"
#include "onemap/core/single_flight.hpp"
#include "onemap/core/tile_matrix_set.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace onemap::tileserver {

struct cached_tile {
    std::string body;      ///< as produced (MVT bytes, PNG …); empty = no content
    std::string gzipped;   ///< body gzip-compressed, empty when not worth it
    std::string etag;      ///< strong validator, quoted
};

/// A layer a tile may draw and the version it draws; 0 when the layer has none at that date
/// (or is not published), so that its first publish can be carried like any other.
struct drawn_layer {
    std::string layer;
    int version = 0;
    bool operator==(const drawn_layer& o) const { return version == o.version && layer == o.layer; }
};

struct tile_key {
    std::string base;               ///< tileset, format, style revision, matrix set, z/x/y
    std::vector<drawn_layer> drawn; ///< every layer the tile may draw, with its version
    /// `base|layer:version,…`: the cache key.
    std::string str() const;
};

struct tile_cache_stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t evictions = 0;
    std::uint64_t invalidated = 0; ///< dropped because a publish retired the version they drew
    std::uint64_t carried = 0;     ///< kept for a new version because they lie outside its change
    std::size_t bytes = 0;
    std::size_t entries = 0;
};

class tile_cache {
public:
    /// `wait_limit` bounds how long a request waits for another's computation of the same
    /// tile (0 = no limit); past it, core::timeout_error naming `wait_limit_name`.
    explicit tile_cache(std::size_t max_bytes, std::chrono::milliseconds wait_limit = std::chrono::milliseconds(0),
                        std::string wait_limit_name = "tile wait limit");

    /// The cached tile for `key`, computing it with `compute` on a miss. Concurrent callers with
    /// the same key wait for the one computation. `reach` (lon/lat) is the area whose data the
    /// tile shows, buffer included. Exceptions from `compute` reach every waiter; nothing is
    /// cached.
    std::shared_ptr<const cached_tile> get(const tile_key& key, const core::box& reach,
                                           const std::function<std::string()>& compute);
    /// Stores a tile computed elsewhere (the other tiles of a rendered metatile); returns it.
    std::shared_ptr<const cached_tile> put(const tile_key& key, const core::box& reach, std::string body);
    /// The cached tile for `key` (tile_key::str()), counted as a hit and made most recent;
    /// nullptr (not counted) when absent. The fast path of a request.
    std::shared_ptr<const cached_tile> hit(const std::string& key);
    /// The cached tile for `key` without computing anything (and without counting a hit).
    std::shared_ptr<const cached_tile> peek(const std::string& key) const;

    /// A publish of `layer` version `to`, which replaces version `from` (0: none) from its start
    /// date on. The entries that drew `from` and whose reach misses `changed` (none: nothing
    /// changed) are the same tiles drawn with `to`: they are kept under `to`'s key as well — or
    /// instead, when `retire_from` (the publish superseded `from`), and the others of `from` are
    /// then dropped. `in_step` (the catalog swap) runs under the cache's lock after the carry, so
    /// no request looks for the new keys before they are there. Returns how many were carried.
    std::size_t carry(const std::string& layer, int from, int to, const std::optional<core::box>& changed,
                      bool retire_from, const std::function<void()>& in_step = {});

    tile_cache_stats stats() const;
    std::size_t max_bytes() const noexcept { return m_max_bytes; }

private:
    struct stored_tile {
        std::shared_ptr<const cached_tile> tile;
        std::vector<drawn_layer> drawn;
        core::box reach;
    };
    void store_locked(std::string key, const std::shared_ptr<const cached_tile>& tile,
                      const std::vector<drawn_layer>& drawn, const core::box& reach);

    const std::size_t m_max_bytes;
    mutable std::mutex m_mutex; // guards m_entries and m_stats
    core::lru_cache<stored_tile> m_entries;
    core::single_flight<std::shared_ptr<const cached_tile>> m_flights;
    tile_cache_stats m_stats;
};

/// gzip of `data` (zlib; `level` 1–9, -1 for zlib's default).
std::string gzip(const std::string& data, int level = -1);

} // namespace onemap::tileserver
