#pragma once
// The batch manifest (YAML): which files become which layers, with department, theme,
// encoding, srs and valid_from. Paths are relative to the manifest's folder.
//
//   layers:
//     - file: natural-resources/dltb_2022.shp
//       layer: dltb
//       title: 地类图斑
//       department: 自然资源和规划局
//       theme: natural-resource
//       encoding: GBK
//       srs: EPSG:4547
//       valid_from: 2022-12-31
//       id_field: BSM
#include "onemap/importers/import_request.hpp"

#include <string>
#include <vector>

namespace onemap::importers {

/// \throws config_error naming the entry and key that cannot be used.
std::vector<import_request> read_manifest(const std::string& path);

/// "EPSG:4547" or "4547" → 4547. \throws input_error (parameter "srs").
int parse_epsg(const std::string& text);

/// The JSON summary printed after a batch: per layer status, features, repaired, rejected,
/// seconds, and the first repairs/rejections.
std::string summary_json(const std::vector<import_result>& results);

} // namespace onemap::importers
