#pragma once
// The layer catalog in PostgreSQL (schema `onemap`) and its in-memory snapshot.
//
// Each layer has versions; each version is one table `onemap_data."<layer>__v<n>"` with
// columns fid (stable feature id), the layer's attributes and geom (EPSG:4490, multi-type,
// GiST-indexed). A version is valid from `valid_from` until the next active version's
// `valid_from`. Importing again with the same valid_from supersedes the earlier import.
#include "onemap/core/tile_matrix_set.hpp"

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

namespace onemap::core {

constexpr const char* CATALOG_SCHEMA = "onemap";
constexpr const char* DATA_SCHEMA = "onemap_data";
/// Channel the importer NOTIFYs after each publish; payload is JSON
/// {"layer":…, "version":…, "bbox":[minx,miny,maxx,maxy]} (EPSG:4490, null when unknown).
constexpr const char* PUBLISH_CHANNEL = "onemap_publish";
/// The storage CRS of every layer: CGCS2000 geographic, lon/lat order.
constexpr int STORAGE_SRID = 4490;

/// PostgreSQL column types onemap stores attributes as.
enum class attribute_type { integer, bigint, real, text, date, timestamp, boolean };

const char* sql_type(attribute_type t) noexcept;
std::optional<attribute_type> attribute_type_from_sql(const std::string& name);

struct attribute {
    std::string name;        ///< column name (lower-case, laundered)
    std::string source_name; ///< field name in the source file
    attribute_type type = attribute_type::text;
};

struct layer_version {
    int version = 0;
    std::string table;       ///< table name in DATA_SCHEMA
    std::string valid_from;  ///< YYYY-MM-DD
    std::optional<std::string> valid_to; ///< exclusive; none = open-ended
    long long feature_count = 0;
    std::optional<box> bbox; ///< lon/lat, none for an empty version
    std::vector<attribute> attributes;
    std::string source_hash;
    std::string imported_at;
    /// Tables "<table>__z<z>" exist for z = 0..overview_max_zoom (-1: none), see
    /// overview_table().
    int overview_max_zoom = -1;
    /// When the copies are dissolved by class (issue 18): the class column, and the class
    /// level kept per zoom ("0-9:2,10-12:all").
    std::optional<std::string> class_field;
    std::string class_levels;

    /// The table to read for a tile whose pixels span `degrees_per_pixel` of longitude: the
    /// generalised copy for that zoom when there is one, else the full table.
    std::string table_for_resolution(double degrees_per_pixel) const;

    bool valid_on(const std::string& date) const
    {
        return valid_from <= date && (!valid_to || date < *valid_to);
    }
};

struct layer {
    std::string name;
    std::string title;
    std::string department;
    std::string theme;
    std::string geometry_type; ///< MULTIPOLYGON, MULTILINESTRING or MULTIPOINT
    int source_srid = 0;
    bool is_public = true;
    std::vector<layer_version> versions; ///< active versions, ascending valid_from

    /// The version valid on `date` (YYYY-MM-DD); nullptr when none was.
    const layer_version* as_of(const std::string& date) const;
};

/// The public layer of that name in a catalog snapshot; nullptr when there is none.
const layer* find_public_layer(const std::vector<layer>& layers, const std::string& name);

/// Highest zoom with a generalised copy of each layer version.
constexpr int OVERVIEW_MAX_ZOOM = 12;
/// A feature is drawn at zoom z (up to OVERVIEW_MAX_ZOOM) when its bounding box spans at least
/// this many pixels of degrees_per_pixel(z), in longitude or latitude.
constexpr double MIN_FEATURE_PIXELS = 3.0;

/// Longitude degrees one 256-px tile pixel spans at Web Mercator zoom z (at the equator).
double degrees_per_pixel(int z) noexcept;

/// Creates or upgrades the catalog schema. Idempotent; safe to run concurrently.
void ensure_catalog(pqxx::connection_base& conn);

/// All layers with their active versions, by name.
std::vector<layer> load_catalog(pqxx::connection_base& conn);

/// Reads the catalog of one layer; nothing when it does not exist.
std::optional<layer> load_layer(pqxx::transaction_base& txn, const std::string& name);

} // namespace onemap::core
