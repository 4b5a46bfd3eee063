#pragma once
// Finding and opening department data with GDAL/OGR.
#include <gdal_priv.h>

#include <memory>
#include <string>
#include <vector>

namespace onemap::importers {

struct dataset_closer {
    void operator()(GDALDataset* ds) const noexcept { GDALClose(ds); }
};
using dataset_ptr = std::unique_ptr<GDALDataset, dataset_closer>;

/// One layer of one source, as found on disk.
struct source_layer {
    std::string dataset;   ///< what GDAL opens (a path, or /vsizip/… for a zip)
    std::string layer;     ///< layer name inside the dataset
    std::vector<std::string> files; ///< every file whose bytes make up the layer (hashed)
    bool shapefile = false;
};

/// Expands a path (file, folder of files, zip, GeoPackage, FileGDB) into its layers.
/// \throws input_error naming the path when it cannot be read or a shapefile part is missing.
std::vector<source_layer> discover_layers(const std::string& path);

/// Opens a vector dataset read-only. \throws input_error with GDAL's reason.
dataset_ptr open_vector(const std::string& path, const std::vector<std::string>& open_options = {});

/// SHA-256 over the files' bytes, in order, as lower-case hex.
std::string hash_files(const std::vector<std::string>& files, const std::string& extra);

} // namespace onemap::importers
