#pragma once
// Counting what a shapefile's three parts hold, read from their own headers and records rather
// than through GDAL: GDAL trusts the .shx for the feature count and drops an unreadable .dbf
// without a word, so a .shx from another file or a corrupt .dbf would publish less than the
// file holds.
#include <string>
#include <vector>

namespace onemap::importers {

struct shapefile_census {
    long long shp_records = 0;          ///< records walked in the .shp
    long long shx_records = 0;          ///< index entries in the .shx
    long long shx_misplaced = 0;        ///< .shx entries pointing elsewhere than the .shp record
    long long dbf_records_declared = 0; ///< the .dbf header's record count
    long long dbf_records_present = 0;  ///< whole records the .dbf's bytes hold
    long long dbf_records_deleted = 0;  ///< records flagged deleted, which GDAL skips
    std::vector<std::string> dbf_fields; ///< field names from the .dbf's descriptors
    /// What disagrees or is corrupt, each naming the file and the numbers; empty = consistent.
    std::vector<std::string> problems;

    /// The most records any part claims: what the source holds.
    long long source_records() const noexcept;
};

/// Reads the three parts. Never throws for bad content (that goes into `problems`).
/// \throws input_error when a part cannot be opened at all.
shapefile_census take_shapefile_census(const std::string& shp, const std::string& shx,
                                       const std::string& dbf);

} // namespace onemap::importers
