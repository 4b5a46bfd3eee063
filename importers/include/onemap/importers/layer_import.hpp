#pragma once
// Importing one source into versioned catalog layers, atomically: the new version's table,
// rows, indexes and catalog entries appear in one transaction, or not at all.
#include "onemap/importers/import_request.hpp"
#include "onemap/importers/progress.hpp"
#include "onemap/importers/source.hpp"

#include <pqxx/pqxx>

#include <vector>

namespace onemap::importers {

/// Imports every layer of `request.source`. Never throws for bad input: each layer's result
/// says failed and why. \throws db_error only when the database itself is unusable.
std::vector<import_result> import_source(pqxx::connection& conn, const import_request& request,
                                         progress& bar);

/// Imports one discovered layer. \throws input_error, db_error.
import_result import_layer(pqxx::connection& conn, const source_layer& source,
                           const import_request& request, progress& bar);

/// Lower-case ASCII identifier from a field or layer name ("DLBM" → "dlbm", "地类" → "f_3").
std::string launder_name(const std::string& name, std::size_t position);

} // namespace onemap::importers
