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
    /// Polygon layers that tile the land: the field whose classes the low-zoom copies dissolve
    /// by (issue 18), and the class level per zoom ("0-9:2,10-12:all", see class_levels).
    std::optional<std::string> class_field;
    std::optional<std::string> class_levels;
    /// Publish even when the source's parts disagree (.shp/.shx/.dbf counts, unread fields);
    /// the summary then says exactly what was lost.
    bool accept_loss = false;
    std::optional<std::string> towgs84; ///< "dx,dy,dz,rx,ry,rz,s": the source datum → WGS 84
    bool allow_outside_area = false;    ///< keep features outside EPSG:4490's area of use (China)
    bool accept_ballpark = false;       ///< publish with PROJ's no-op ballpark datum shift
    double lock_timeout = 600;          ///< seconds to wait for another import of the layer
    unsigned threads = 0;               ///< geometry preparation threads; 0 = one per core
};

/// \throws config_error naming the option that cannot be used (layer name, theme,
/// valid_from, encoding, towgs84, lock_timeout), before anything is read or stored.
void validate_request(const import_request& request);

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
    /// Counts: source_features = features + rejected + not_read; read = features + rejected;
    /// repaired features are among the stored ones.
    long long source_features = 0;      ///< what the source holds (its parts' largest count)
    long long read = 0;
    long long not_read = 0;             ///< lost with --accept-loss (see `lost`)
    long long features = 0;             ///< stored
    long long repaired = 0;
    long long rejected = 0;
    double seconds = 0;
    int source_srid = 0;
    std::string source_encoding;
    std::vector<feature_note> repairs;  ///< first entries only (see MAX_NOTES)
    std::vector<feature_note> rejections;
    std::vector<std::string> notes;     ///< layer-wide remarks (Z dropped, encoding detected…)
    std::vector<std::string> lost;      ///< what --accept-loss let go (records, fields)
    std::string transformation;         ///< PROJ's name of the operation to EPSG:4490
    double transformation_accuracy = -1; ///< metres, -1 unknown
    std::string transformation_how;
    bool ballpark = false;
};

constexpr std::size_t MAX_NOTES = 1000;

} // namespace onemap::importers
