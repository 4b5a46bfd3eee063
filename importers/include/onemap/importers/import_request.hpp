#pragma once
// What one layer import is asked to do, and what it did.
#include <optional>
#include <string>
#include <vector>

namespace onemap::importers {

struct import_request {
    std::string source;                 ///< file, folder, zip, GeoPackage, GeoJSON, FileGDB
    std::optional<std::string> source_layer; ///< layer inside a multi-layer source
    std::string layer;                  ///< onemap layer name; empty = from the source layer
    std::string title;                  ///< empty = layer name
    std::string department;
    std::string theme = "other";        ///< grid, natural-resource, water, planning, other
    std::optional<std::string> encoding; ///< overrides .cpg / LDID
    std::optional<int> srs;             ///< EPSG code overriding the .prj
    std::string valid_from;             ///< YYYY-MM-DD; empty = today
    std::optional<std::string> id_field; ///< integer-valued field giving stable feature ids
    bool is_public = true;
    bool force = false;                 ///< import even when the same file is already published
    bool overviews = true;              ///< build the generalised low-zoom copies
};

/// One feature the importer repaired or rejected.
struct feature_note {
    long long feature = 0;  ///< source FID
    std::string kind;       ///< make_valid, ring_order, duplicate_points, empty, wrong_type, …
    std::string detail;
};

struct import_result {
    std::string source;
    std::string layer;
    std::string status = "failed";      ///< published, unchanged, failed
    std::string error;                  ///< when failed: names file, feature, field
    int version = 0;
    std::string valid_from;
    long long features = 0;             ///< stored
    long long repaired = 0;
    long long rejected = 0;
    double seconds = 0;
    int source_srid = 0;
    std::string source_encoding;
    std::vector<feature_note> repairs;  ///< first entries only (see MAX_NOTES)
    std::vector<feature_note> rejections;
    std::vector<std::string> notes;     ///< layer-wide remarks (Z dropped, encoding detected…)
};

constexpr std::size_t MAX_NOTES = 1000;

} // namespace onemap::importers
