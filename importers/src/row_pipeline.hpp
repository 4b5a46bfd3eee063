#pragma once
// The importer's hot loop, spread over threads: one reader (GDAL datasets are not
// thread-safe), N workers preparing features (decode, validate, repair, reproject, encode
// COPY text), and the calling thread taking batches in source order for COPY.
#include "onemap/core/catalog.hpp"
#include "onemap/importers/dissolve.hpp"
#include "onemap/importers/geometry_preparation.hpp"
#include "onemap/importers/import_request.hpp"

#include <ogrsf_frmts.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace onemap::importers::detail {

struct field_plan {
    int index; ///< OGR field index
    core::attribute attr;
};

struct row_context {
    std::string label;                   ///< file (and layer) named in messages
    std::vector<field_plan> fields;
    int id_index = -1;                   ///< OGR field giving the id; -1 = FID
    std::string id_field;
    geometry_family family = geometry_family::polygon;
    std::string transform_pipeline;      ///< PROJ pipeline to EPSG:4490; empty = none
    bool shapefile = false;
    std::optional<std::string> encoding; ///< none: the source declares none (ASCII only)
    /// --accept-loss: a feature GDAL cannot read is counted and skipped, not fatal.
    bool tolerate_unreadable = false;
    /// --allow-outside-area: features outside EPSG:4490's area of use (China) are stored and
    /// counted in a note; without it they are rejected (a wrong CRS is the usual cause).
    bool allow_outside_area = false;
    /// Gather each stored polygon for the low-zoom copies dissolved by class (issue 18), with
    /// its value of fields[class_field] (-1: none).
    bool collect_polygons = false;
    int class_field = -1;
};

struct row_totals {
    long long read = 0;
    long long features = 0;
    long long repaired = 0;
    long long rejected = 0;
    long long dimensions_dropped = 0;
    long long outside_area_of_use = 0;
    long long unreadable = 0;            ///< with tolerate_unreadable
    std::string first_unreadable;        ///< GDAL's message for the first of them
    long long non_ascii = 0;
    bool all_non_ascii_is_utf8 = true;
    bool any_geometry = false;
    OGREnvelope bbox;
    std::vector<feature_note> repairs;
    std::vector<feature_note> rejections;
};

/// Streams every feature of `layer` through `workers` preparation threads and hands COPY text,
/// in source order, to `sink(buffer, features_read)` on the calling thread (which may clear
/// the buffer). \throws input_error for input that stops the import (undecodable text, an
/// unreadable feature); anything `sink` throws is passed on after the threads have stopped.
/// With ctx.collect_polygons, every stored feature is also added to `*polygons`.
row_totals run_row_pipeline(OGRLayer& layer, const row_context& ctx, unsigned workers,
                            const std::function<void(std::string&, long long)>& sink,
                            polygon_set* polygons = nullptr);

} // namespace onemap::importers::detail
