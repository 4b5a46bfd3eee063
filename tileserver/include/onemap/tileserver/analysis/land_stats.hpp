#pragma once
// 统计 and 变化: land-use area by class for every region of a boundary layer, and what changed
// between two versions of a land-use layer (parcels and an old→new class matrix). Both work on
// layer versions held in memory (feature_store) and split parcels on region (or filter)
// boundaries by geometry; a parcel wholly inside adds its own area, computed once per version.
#include "onemap/tileserver/analysis/feature_store.hpp"
#include "onemap/tileserver/analysis/geometry.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace onemap::tileserver::analysis {

/// Which columns of a layer_data hold what (indexes from layer_data::column, -1 = none).
struct class_columns {
    int code = -1;
    int name = -1;
};

struct region_areas {
    std::string code;
    std::string name;
    std::map<std::string, double> by_class; ///< class code → m²
};

struct land_stats {
    std::vector<region_areas> regions;           ///< in code order
    std::map<std::string, std::string> class_names; ///< class code → name (from the layer)
};

/// Area by class of `parcels` in every feature of `regions` (regions' `region_cols.code` and
/// `.name` name them). Regions are computed in parallel, one thread per core.
land_stats compute_land_stats(const layer_data& parcels, class_columns parcel_cols, const layer_data& regions,
                              class_columns region_cols, area_method m);

struct change_piece {
    std::int64_t from_fid = -1; ///< -1: the area is new in the later version
    std::int64_t to_fid = -1;   ///< -1: the area left the layer
    std::string from_class;
    std::string to_class;
    double area = 0;
    std::string geojson; ///< the piece's geometry, lon/lat
};

struct change_result {
    std::vector<change_piece> pieces; ///< where the class changed, by from then to id
    /// (old class, new class) → m², the diagonal (unchanged) included; "" = not in that version.
    std::map<std::pair<std::string, std::string>, double> matrix;
    std::map<std::string, std::string> class_names;
};

/// The changes from version `from` to version `to` of one layer, inside `filter` (lon/lat
/// polygonal; null = everywhere). Features with the same id and identical geometry in both
/// versions are compared by class alone; every other feature is overlaid with the other
/// version's features it meets, so split and merged parcels are answered by geometry.
change_result detect_changes(const layer_data& from, class_columns from_cols, const layer_data& to,
                             class_columns to_cols, const GEOSGeometry* filter, area_method m);

} // namespace onemap::tileserver::analysis
