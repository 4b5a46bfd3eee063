#pragma once
// Layer versions held in memory for building vector tiles without a query (issue 17).
//
// A published version never changes, so what is read of it once serves every tile drawn from
// it until it is evicted: each feature's id, attribute values (as PostgreSQL's text) and lon/lat
// WKB, packed one record after another in large blocks, with a packed R-tree of their boxes.
// A tile then costs an R-tree query and the encoding (core::mvt, the same as from a query), and
// the database none of its CPU.
//
// The first tile drawn from a version's table (its own, or the generalised copy of a low zoom)
// asks for it: a background thread reads the table with one cursor while that tile, and every
// tile until the load ends, is built from PostGIS as before (the first request is no slower
// than without the store). Held versions share a byte budget,
// the least recently used evicted first; a version larger than the budget is never held and its
// tiles keep coming from PostGIS. Every server builds its own store from PostgreSQL: nothing is
// written or shared, so servers behind a balancer need no coordination.
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/lru_cache.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace onemap::tileserver {

/// One layer version's features, read-only once made.
class held_layer {
public:
    /// A feature's record: its id, its geometry, and its attribute values in the version's
    /// attribute order (nullopt for NULL).
    class record {
    public:
        explicit record(const char* at) noexcept : m_at(at) {}
        std::int64_t fid() const noexcept;
        std::string_view wkb() const noexcept;
        /// Calls f(column, value) for every attribute, in order.
        template <typename F>
        void each_value(std::size_t columns, F&& f) const
        {
            const char* p = values_begin();
            for (std::size_t c = 0; c < columns; ++c) {
                std::uint32_t n = 0;
                std::memcpy(&n, p, sizeof n);
                p += sizeof n;
                if (n == NULL_VALUE) {
                    f(c, std::optional<std::string_view>());
                } else {
                    f(c, std::optional<std::string_view>(std::string_view(p, n)));
                    p += n;
                }
            }
        }
        static constexpr std::uint32_t NULL_VALUE = 0xFFFFFFFFU;

    private:
        const char* values_begin() const noexcept;
        const char* m_at;
    };

    explicit held_layer(std::size_t columns);
    ~held_layer();
    held_layer(const held_layer&) = delete;
    held_layer& operator=(const held_layer&) = delete;

    /// Appends a feature (while loading): its lon/lat box, `values` in attribute order (nullopt
    /// for NULL), WKB.
    void add(std::int64_t fid, const core::box& box, const std::vector<std::optional<std::string_view>>& values,
             std::string_view wkb);
    /// Builds the R-tree; nothing is added after.
    void build();

    /// Calls f(record) for every feature whose box meets the lon/lat box.
    template <typename F>
    void query(const core::box& b, F&& f) const
    {
        for_each_in(b, [&](std::size_t i, const core::box&) { f(record(m_records[i])); });
    }
    /// The same, with each feature's lon/lat box: f(record, box).
    template <typename F>
    void query_boxed(const core::box& b, F&& f) const
    {
        for_each_in(b, [&](std::size_t i, const core::box& box) { f(record(m_records[i]), box); });
    }

    /// A polygon's label point (lon/lat) by fid, computed by `compute` the first time it is
    /// asked for and kept: PNG tiles of a labelled layer ask for the same anchors in every tile
    /// of a metatile. Thread-safe.
    template <typename F>
    std::optional<std::pair<double, double>> label_point(std::int64_t fid, F&& compute) const
    {
        {
            const std::lock_guard<std::mutex> lock(m_anchors_mutex);
            if (const auto it = m_anchors.find(fid); it != m_anchors.end()) {
                return it->second;
            }
        }
        const std::optional<std::pair<double, double>> p = compute();
        const std::lock_guard<std::mutex> lock(m_anchors_mutex);
        m_anchors.emplace(fid, p);
        return p;
    }

    std::size_t size() const noexcept { return m_records.size(); }
    std::size_t columns() const noexcept { return m_columns; }
    /// Bytes held: records, boxes, index.
    std::size_t bytes() const noexcept;

private:
    /// f(index, box) for every feature whose box meets `b` (boxes live in the index once built).
    void for_each_in(const core::box& b, const std::function<void(std::size_t, const core::box&)>& f) const;
    char* reserve(std::size_t n);

    struct index;
    std::size_t m_columns;
    std::vector<std::unique_ptr<char[]>> m_blocks;
    std::size_t m_block_used = 0;
    std::size_t m_block_bytes = 0;
    std::size_t m_allocated = 0;
    std::vector<const char*> m_records;
    std::vector<core::box> m_boxes;
    std::unique_ptr<index> m_index;
    mutable std::mutex m_anchors_mutex;
    mutable std::unordered_map<std::int64_t, std::optional<std::pair<double, double>>> m_anchors;
};

using held_layer_ptr = std::shared_ptr<const held_layer>;

class tile_store {
public:
    /// `max_bytes` 0: nothing is held (every tile comes from PostGIS).
    tile_store(core::connection_pool& pool, std::size_t max_bytes);
    ~tile_store();
    tile_store(const tile_store&) = delete;
    tile_store& operator=(const tile_store&) = delete;

    /// The version's `table` (its own, or a generalised copy: layer_version::table_for_resolution)
    /// when held; else nullptr, and its load is queued (once).
    held_layer_ptr find(const core::layer_version& v, const std::string& table);
    /// The same, loaded now on this thread if it is not held; nullptr when it does not fit the
    /// budget. For tests and tools. \throws db_error.
    held_layer_ptr hold(const core::layer_version& v, const std::string& table);

    struct stats {
        std::size_t bytes = 0;      ///< held now
        std::size_t max_bytes = 0;  ///< the budget
        std::size_t versions = 0;   ///< held now
        std::size_t loads = 0;      ///< finished since start
        std::size_t refused = 0;    ///< versions larger than the budget
        std::size_t failed = 0;     ///< loads that failed (retried after a minute)
        std::size_t queued = 0;     ///< loads waiting
        bool loading = false;
        std::size_t hits = 0;       ///< find()s answered from memory (tiles, PNGs, feature info)
        std::size_t misses = 0;     ///< find()s of a version not held (then read by a query)
    };
    stats current() const;

private:
    struct wanted {
        core::layer_version version;
        std::string table;
    };
    static std::string key_of(const core::layer_version& v, const std::string& table);
    held_layer_ptr load(const core::layer_version& v, const std::string& table);
    /// Records a finished load (nullptr: refused, too large). Under m_mutex.
    void keep(const std::string& key, const held_layer_ptr& got);
    void run_loader();

    core::connection_pool& m_pool;
    const std::size_t m_max_bytes;
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    core::lru_cache<held_layer_ptr> m_held;
    std::deque<wanted> m_queue;
    std::set<std::string> m_queued;  // keys queued or loading
    std::set<std::string> m_refused; // keys too large for the budget
    std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> m_failed;
    std::size_t m_loads = 0;
    std::size_t m_failures = 0;
    std::size_t m_hits = 0;
    std::size_t m_misses = 0;
    bool m_loading = false;
    bool m_stop = false;
    std::atomic<bool> m_stopping{false};
    std::thread m_loader;
};

} // namespace onemap::tileserver
