#pragma once
// The layer versions the analytics read, held in memory: each feature's WKB (lon/lat), the
// attribute columns the analysis needs, and a packed R-tree of bounding boxes. Published
// versions never change, so a loaded version stays valid until evicted (least recently used,
// within a memory budget); one load per version however many requests ask at once. A
// million 20-vertex parcels take about 450 MB and a few seconds to load; every later request
// on that version answers from memory.
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/lru_cache.hpp"
#include "onemap/core/single_flight.hpp"
#include "onemap/tileserver/analysis/geometry.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace onemap::tileserver::analysis {

/// One version of one layer with some of its attributes.
class layer_data {
public:
    layer_data(std::string layer, const core::layer_version& v, std::vector<std::string> columns);
    ~layer_data();
    layer_data(const layer_data&) = delete;
    layer_data& operator=(const layer_data&) = delete;

    /// Appends a feature (columns in the order given at construction); then build().
    void add(std::int64_t fid, std::vector<std::string> values, std::string wkb);
    /// Builds the R-tree and the fid index.
    void build();

    const std::string& layer() const noexcept { return m_layer; }
    int version() const noexcept { return m_version; }
    const std::string& table() const noexcept { return m_table; }
    std::size_t size() const noexcept { return m_fids.size(); }
    std::int64_t fid(std::size_t i) const { return m_fids[i]; }
    std::string_view wkb(std::size_t i) const { return m_wkb[i]; }
    const bounds& box(std::size_t i) const { return m_boxes[i]; }
    /// Index of `column` in the columns given at construction; -1 when absent.
    int column(std::string_view name) const noexcept;
    const std::string& value(std::size_t i, int column) const { return m_values[i * m_columns.size() + static_cast<std::size_t>(column)]; }
    const std::vector<std::string>& columns() const noexcept { return m_columns; }
    /// Features whose bounding box intersects `b`, in index order.
    std::vector<std::size_t> query(const bounds& b) const;
    /// The parts of features whose box meets `b`: (feature index, WKB). A feature of many
    /// vertices is held cut into small parts too (subdivide()), and only its parts meeting `b`
    /// are listed; the others are listed whole.
    struct part_ref {
        std::size_t feature;
        std::string_view wkb;
        bounds box;
        bool whole; ///< the part is the whole feature
    };
    std::vector<part_ref> parts(const bounds& b) const;
    /// Feature with this fid; -1 when none.
    long find(std::int64_t fid) const;
    /// The GEOS geometry of feature i (parsed now).
    geom_ptr geometry(std::size_t i) const { return from_wkb(m_wkb[i]); }
    /// The area of feature i by method (planar: in the GK zone of the feature's centre),
    /// computed on first use and kept (any thread).
    double area(std::size_t i, area_method m) const;
    /// Computes every feature's area() now, once, in parallel (before a whole-layer pass).
    void compute_areas(area_method m) const;
    std::size_t bytes() const noexcept { return m_bytes; }

private:
    struct rtree;
    std::string m_layer;
    int m_version = 0;
    std::string m_table;
    std::vector<std::string> m_columns;
    std::vector<std::int64_t> m_fids;
    std::vector<std::string> m_values;
    std::vector<std::string> m_wkb;
    std::vector<bounds> m_boxes;
    std::unique_ptr<rtree> m_tree;
    struct part {
        std::size_t owner;
        std::string wkb;
    };
    std::vector<part> m_parts;         // of the features of many vertices
    std::vector<bounds> m_part_boxes;
    std::vector<char> m_cut;           // per feature: held in parts
    std::unique_ptr<rtree> m_part_tree; // over m_parts
    std::vector<std::pair<std::int64_t, std::size_t>> m_by_fid; // sorted
    std::size_t m_bytes = 0;
    mutable std::once_flag m_area_once[2];
    mutable std::unique_ptr<std::atomic<double>[]> m_lazy_areas[2]; // NaN until computed
};

using layer_data_ptr = std::shared_ptr<const layer_data>;

class feature_store {
public:
    /// `max_bytes`: the memory budget; `wait_limit`: how long a request waits for another's load.
    feature_store(core::connection_pool& pool, std::size_t max_bytes, std::chrono::milliseconds wait_limit);

    /// Version `v` of `layer` with `columns` (each an attribute of the version, checked by the
    /// caller), loaded now if needed. \throws db_error, timeout_error.
    layer_data_ptr get(const core::layer& layer, const core::layer_version& v, std::vector<std::string> columns);

private:
    core::connection_pool& m_pool;
    std::mutex m_mutex;
    core::lru_cache<layer_data_ptr> m_cache;
    core::single_flight<layer_data_ptr> m_loads;
};

} // namespace onemap::tileserver::analysis
