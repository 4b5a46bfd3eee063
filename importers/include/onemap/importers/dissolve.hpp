#pragma once
// Land use at every zoom (issue 18): the low-zoom copies of a partition layer (parcels that tile
// the land, classified by a field such as DLBM) are built by dissolving by class.
//
// For each zoom z = 0..OVERVIEW_MAX_ZOOM the layer is sampled on a grid of half a pixel of z
// (degrees_per_pixel(z) / 2, in lon/lat): each grid cell takes the feature whose polygon holds
// its centre. A feature large enough to see at z (its box spans MIN_FEATURE_PIXELS pixels) keeps
// its own label, id and attributes; smaller ones take the label of their class, cut to the
// zoom's class level (e.g. the first two characters of DLBM below z10), so neighbours of one
// class merge. The boundaries between labels are traced once as arcs shared by both sides and
// simplified once, so the copy stays a partition: no gaps, no double-painted areas. Slivers
// thinner than the grid vanish in the sampling; sampling at cell centres keeps each class's area
// unbiased, and the simplification (a quarter pixel) keeps it so.
//
// Work is cut into jobs (one zoom, one square of CELL grid cells) run on worker threads; memory
// is the layer's polygons (8 bytes per vertex) plus one label raster per thread.
#include "onemap/core/catalog.hpp"

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

class OGRGeometry;

namespace onemap::importers {

/// Which class level each zoom keeps: the number of leading characters of the class value
/// (0 = the whole value), for z = 0..OVERVIEW_MAX_ZOOM.
struct class_levels {
    std::array<int, core::OVERVIEW_MAX_ZOOM + 1> prefix{};

    /// "0-9:2,10-12:all": zoom ranges and the characters kept ("all" or 0: the whole value).
    /// Zooms not named keep the whole value. \throws config_error (parameter "class_levels").
    static class_levels parse(const std::string& spec);
    /// DLBM's: 一级类 (two characters) up to z9, 二级类 (the whole code) at z10–12.
    static class_levels land_use_default();
    std::string to_string() const;
};

/// The class value cut to `chars` characters (UTF-8 code points; 0 = the whole value).
std::string_view class_prefix(std::string_view value, int chars) noexcept;

/// A polygon layer's features as they load: id, class value, the COPY text of the id and
/// attributes, and the rings (lon/lat, quantised to 1e-7°).
class polygon_set {
public:
    /// `class_value`: the class field's COPY text (empty: no class, written as NULL);
    /// `row_prefix`: the feature's COPY text up to its geometry ("id\tattr\t…", no trailing tab);
    /// `g`: its (multi)polygon in EPSG:4490 (other types: added without rings).
    void add(std::int64_t fid, std::string_view class_value, std::string_view row_prefix, const OGRGeometry& g);
    /// Appends feature `index` of `from`.
    void append(const polygon_set& from, std::size_t index);
    std::size_t size() const noexcept
    {
        return m_fid.size();
    }

    struct ibox {
        std::int32_t min_x, min_y, max_x, max_y;
    };
    std::int64_t fid(std::size_t i) const noexcept
    {
        return m_fid[i];
    }
    const ibox& box(std::size_t i) const noexcept
    {
        return m_box[i];
    }
    /// The interned class value (empty: none).
    std::string_view class_value(std::size_t i) const noexcept
    {
        return m_classes[m_class[i]];
    }
    std::string_view row_prefix(std::size_t i) const noexcept;
    /// Rings of feature i: [first, last) into ring_end().
    std::pair<std::uint32_t, std::uint32_t> rings(std::size_t i) const noexcept
    {
        return {i == 0 ? 0U : m_feature_ring_end[i - 1], m_feature_ring_end[i]};
    }
    /// Vertex [begin, end) of ring r: begin = r == 0 ? 0 : ring_end(r - 1).
    std::uint32_t ring_end(std::uint32_t r) const noexcept
    {
        return m_ring_end[r];
    }
    const std::int32_t* xy() const noexcept
    {
        return m_xy.data();
    }
    std::int64_t max_fid() const noexcept
    {
        return m_max_fid;
    }

private:
    std::uint32_t intern(std::string_view value);

    std::vector<std::int64_t> m_fid;
    std::vector<std::uint32_t> m_class;
    std::vector<std::string> m_classes;
    std::map<std::string, std::uint32_t, std::less<>> m_class_index;
    std::string m_rows;
    std::vector<std::size_t> m_row_end;
    std::vector<ibox> m_box;
    std::vector<std::int32_t> m_xy;
    std::vector<std::uint32_t> m_ring_end;
    std::vector<std::uint32_t> m_feature_ring_end;
    std::int64_t m_max_fid = -1;
};

constexpr double COORD_SCALE = 1e7; ///< polygon_set's units per degree

/// How the copies' COPY rows are written: the layer's attribute columns, and which is the class.
struct copy_layout {
    std::size_t attribute_count = 0;
    std::size_t class_attribute = 0; ///< index among the attributes
};

/// One zoom's copy: COPY text for "<table>__z<z>" (fid, attributes, geom, extent_deg).
struct zoom_copy {
    int zoom = 0;
    std::string copy_text;
    long long rows = 0;
    long long merged_rows = 0;   ///< rows of merged small features (class areas)
    long long kept_features = 0; ///< features drawn as themselves
};

/// Computes the copies z = 0..max_zoom() on `threads` threads, started by the
/// constructor; next() hands them over in zoom order on the caller's thread.
class overview_builder {
public:
    overview_builder(const polygon_set& features, const class_levels& levels, const copy_layout& layout,
                     unsigned threads);
    ~overview_builder();
    overview_builder(const overview_builder&) = delete;
    overview_builder& operator=(const overview_builder&) = delete;

    /// The next zoom's copy (0, 1, …); nothing after the last. Rethrows a worker's error.
    std::optional<zoom_copy> next();
    /// The highest zoom with a copy: where at least 1 % of the features are under
    /// MIN_FEATURE_PIXELS (above, tiles read the full table); -1 when there is none.
    int max_zoom() const noexcept
    {
        return m_max_zoom;
    }

private:
    struct job {
        int zoom;
        std::int64_t cell_x, cell_y;
    };
    void work();
    /// Job `index` of m_jobs; its merged areas get ids unique in the zoom.
    void run(const job& j, std::size_t index, std::string& out, long long& rows, long long& merged,
             long long& kept);

    const polygon_set& m_features;
    class_levels m_levels;
    copy_layout m_layout;
    std::vector<job> m_jobs;
    std::size_t m_next_job = 0;
    std::array<int, core::OVERVIEW_MAX_ZOOM + 1> m_jobs_left{};
    std::array<zoom_copy, core::OVERVIEW_MAX_ZOOM + 1> m_done{};
    int m_next_zoom = 0;
    int m_max_zoom = -1;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::exception_ptr m_error;
    bool m_cancel = false;
    std::vector<std::thread> m_threads;
};

} // namespace onemap::importers
