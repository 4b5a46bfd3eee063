#pragma once
// The `analysis:` section of onemap.yaml: the control checks of a compliance review, the
// land-use layer statistics and change detection read by default, and the input limits.
#include <cstddef>
#include <string>
#include <vector>

namespace YAML {
class Node;
} // namespace YAML

namespace onemap::tileserver::analysis {

enum class check_rule {
    avoid,   ///< any overlap with the layer conflicts (ecological red line, basic farmland)
    within,  ///< the part of the project outside the layer conflicts (development boundary)
    classes, ///< overlap by class; classes listed in conflict_classes conflict (cultivated land)
};

struct check_config {
    std::string id;
    std::string title;
    std::string layer;
    check_rule rule = check_rule::avoid;
    std::string class_field;                  ///< classes only
    std::string name_field;                   ///< classes only, optional
    std::vector<std::string> conflict_classes; ///< classes only: codes or code prefixes ("01")
    std::vector<std::string> attributes;      ///< reported for each overlapping feature
};

struct analysis_config {
    std::vector<check_config> checks;
    std::string land_use_layer;    ///< default `layer` of stats and changes
    std::string class_field;       ///< its class code attribute (DLBM)
    std::string name_field;        ///< its class name attribute (DLMC), optional
    double max_area_km2 = 100;     ///< compliance: larger projects are refused
    std::size_t max_vertices = 100000;
    std::size_t memory_mb = 4096;  ///< budget of the in-memory layer versions (fixed at start)
    std::string report_tileset;    ///< drawn under the red line in the HTML report ("" = first)
};

/// \throws config_error naming the file, line and key. No section gives the defaults and no checks.
analysis_config read_analysis_config(const YAML::Node& doc, const std::string& path);

/// The GB/T 21010-2017 first-level class name of a two-character code ("01" → 耕地); "" if unknown.
const char* land_class_level1_name(const std::string& code) noexcept;

} // namespace onemap::tileserver::analysis
