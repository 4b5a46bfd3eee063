#pragma once
// 合规性审查: how much of a project's red line lies on each control layer (ecological red
// line, basic farmland, outside the development boundary, cultivated land by class), with
// every overlapping feature and its own overlap area, and a conclusion per check and overall.
// Computed in memory over the layer versions of feature_store: R-tree candidates, then each
// candidate measured against the red line by overlap_meter (geometry.hpp), planar in the
// project's GK zone or ellipsoidal on GRS 80.
#include "onemap/tileserver/analysis/analysis_config.hpp"
#include "onemap/tileserver/analysis/feature_store.hpp"
#include "onemap/tileserver/analysis/geometry.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace onemap::tileserver::analysis {

/// A check with the data it reads: `data` null when the layer has no version on the date.
struct check_input {
    const check_config* config = nullptr;
    layer_data_ptr data;
    std::string valid_from;
};

// The names and values below are views into the checks' configuration and layer data
// (check_input): a review's result is read while its inputs are held. A review lists every
// overlapping parcel, and copying their attributes cost more than measuring them.
struct overlap_feature {
    std::int64_t fid = 0;
    std::vector<std::pair<std::string_view, std::string_view>> attributes;
    std::string_view class_code; ///< classes rule
    double area = 0;             ///< m², of the part inside the project
};

struct class_area {
    std::string_view code;
    std::string_view name;
    double area = 0;
    bool conflict = false;
};

enum class conclusion { pass, conflict, no_data };
const char* name_of(conclusion c) noexcept;

struct check_result {
    const check_config* config = nullptr;
    int version = 0;
    std::string valid_from;
    conclusion verdict = conclusion::no_data;
    double overlap = 0;  ///< m² of the project on the layer
    double conflict = 0; ///< m² in conflict: overlap (avoid), outside (within), conflicting classes
    std::vector<overlap_feature> features; ///< avoid/within: every overlap; classes: the conflicting ones
    std::vector<class_area> classes;       ///< classes rule, largest first
};

struct compliance_result {
    area_method method = area_method::planar;
    int zone = 0;          ///< the GK zone of the planar areas
    double project_area = 0;
    std::vector<check_result> checks;
    conclusion overall = conclusion::pass;
};

/// Any overlap smaller than this (m²) is a shared edge's numerical noise, not a conflict.
constexpr double AREA_TOLERANCE_M2 = 0.01;

/// The CGCS2000 3° GK zone of the project's centre, where its planar areas are measured.
/// \throws input_error("geometry") when the project lies outside the zones of China.
int project_zone(const GEOSGeometry* project_lonlat);

/// A review meeting more feature parts than this is not run on an event loop (~1 ms).
constexpr std::size_t IO_THREAD_PARTS = 400;

/// The review of a project measured by `meter` (made over the project, in its zone).
/// \throws core::would_block on an event-loop thread when it meets more than IO_THREAD_PARTS.
compliance_result review(const GEOSGeometry* project_lonlat, const std::vector<check_input>& checks,
                         const overlap_meter& meter);

} // namespace onemap::tileserver::analysis
