// onemap-import: load department data into versioned PostGIS layers.
#include "onemap/core/db.hpp"
#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"
#include "onemap/importers/layer_import.hpp"
#include "onemap/importers/manifest.hpp"

#include <CLI/CLI.hpp>
#include <gdal_priv.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

int main(int argc, char** argv)
try {
    CLI::App app{"onemap-import: load department data (shapefiles, GeoPackage, GeoJSON, FileGDB, zip) "
                 "into versioned, validated PostGIS layers"};
    std::vector<std::string> sources;
    std::string manifest_path;
    std::string db;
    std::string summary_path;
    std::string srs;
    std::string log_level = "info";
    onemap::importers::import_request base;
    std::string encoding;
    std::string id_field;
    bool quiet = false;

    app.add_option("sources", sources, "files or folders to import (each layer of each)");
    app.add_option("-m,--manifest", manifest_path, "YAML manifest listing files → layers");
    app.add_option("-d,--db", db, "libpq connection string (default: PG* environment)");
    app.add_option("-l,--layer", base.layer, "onemap layer name (one source layer only)");
    std::string source_layer;
    app.add_option("--source-layer", source_layer,
                   "import only this layer of a multi-layer source (GeoPackage, FileGDB, zip); default: every layer, "
                   "each under its own name");
    app.add_option("--title", base.title, "layer title");
    app.add_option("--department", base.department, "owning department");
    app.add_option("--theme", base.theme, "grid, natural-resource, water, planning or other");
    app.add_option("--encoding", encoding, "attribute text encoding, overriding .cpg/LDID (GBK, GB18030, UTF-8, …)");
    app.add_option("--srs", srs, "EPSG:nnnn, overriding the .prj");
    app.add_option("--valid-from", base.valid_from, "first day this version is valid (YYYY-MM-DD; default today)");
    app.add_option("--id-field", id_field, "integer field giving stable feature ids (default: source FID)");
    app.add_flag("--force", base.force, "import even when the identical file is already published");
    app.add_flag("--accept-loss", base.accept_loss,
                 "publish even when the source's parts disagree (.shp/.shx/.dbf record counts, unreadable fields); "
                 "the summary lists what was lost");
    std::string towgs84;
    app.add_option("--towgs84", towgs84,
                   "dx,dy,dz,rx,ry,rz,s: the 7-parameter shift of the source datum to WGS 84/CGCS2000 your "
                   "surveying bureau issues (m, arc-seconds position vector, ppm; as PROJ's +towgs84)");
    app.add_flag("--accept-ballpark", base.accept_ballpark,
                 "publish a datum PROJ cannot shift (Beijing 1954, Xian 1980, …) with its no-op ballpark "
                 "offset, tens to hundreds of metres off");
    app.add_flag("--allow-outside-area", base.allow_outside_area,
                 "keep features that lie outside EPSG:4490's area of use (China) after transformation; "
                 "without it they are rejected per feature (a wrong CRS is the usual cause)");
    app.add_option("--lock-timeout", base.lock_timeout,
                   "seconds to wait while another import of the same layer runs (default 600; 0 = do not wait)");
    app.add_option("--threads", base.threads, "geometry preparation threads (default: one per core)")
        ->check(CLI::PositiveNumber);
    bool no_overviews = false;
    app.add_flag("--no-overviews", no_overviews, "skip the generalised copies for zoom 0..11 (tiles then read the full table)");
    std::string class_field;
    app.add_option("--class-field", class_field,
                   "polygons that tile the land (e.g. DLBM): dissolve features too small to see by this field's "
                   "classes in the copies for zoom 0..12");
    std::string class_levels;
    app.add_option("--class-levels", class_levels,
                   "characters of the class kept per zoom with --class-field (default \"0-9:2,10-12:all\": "
                   "一级类 up to z9, the whole code from z10)");
    app.add_option("--summary", summary_path, "also write the JSON summary to this file");
    app.add_option("--log-level", log_level, "debug, info, warn, error");
    app.add_flag("-q,--quiet", quiet, "no progress display");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2; // bad options, as documented
    }

    try {
        onemap::set_log_level(log_level);
        onemap::route_gdal_messages();
        GDALAllRegister();

        std::vector<onemap::importers::import_request> requests;
        base.overviews = !no_overviews;
        if (!(base.lock_timeout >= 0)) {
            throw onemap::config_error("--lock-timeout must be 0 or more seconds");
        }
        if (!manifest_path.empty()) {
            if (!sources.empty()) {
                throw onemap::config_error("give either --manifest or source files, not both");
            }
            requests = onemap::importers::read_manifest(manifest_path);
            // A manifest naming a file that is not there is a bad manifest: refuse the batch
            // before anything is imported.
            for (std::size_t i = 0; i < requests.size(); ++i) {
                if (!std::filesystem::exists(requests[i].source)) {
                    throw onemap::config_error(manifest_path + ": layers[" + std::to_string(i + 1) + "]: file '" +
                                               requests[i].source + "' does not exist");
                }
            }
            for (auto& r : requests) {
                r.overviews = !no_overviews;
                r.lock_timeout = base.lock_timeout;
                r.threads = base.threads;
                r.accept_loss = r.accept_loss || base.accept_loss;
                r.allow_outside_area = r.allow_outside_area || base.allow_outside_area;
            }
        } else {
            if (sources.empty()) {
                throw onemap::config_error("nothing to import: give source files or --manifest (see --help)");
            }
            if (!encoding.empty()) {
                base.encoding = encoding;
            }
            if (!id_field.empty()) {
                base.id_field = id_field;
            }
            if (!class_field.empty()) {
                base.class_field = class_field;
            }
            if (!class_levels.empty()) {
                base.class_levels = class_levels;
            }
            if (!srs.empty()) {
                base.srs = onemap::importers::parse_epsg(srs);
            }
            if (!source_layer.empty()) {
                base.source_layer = source_layer;
            }
            if (!towgs84.empty()) {
                base.towgs84 = towgs84;
            }
            onemap::importers::validate_request(base);
            for (const auto& s : sources) {
                auto r = base;
                r.source = s;
                requests.push_back(std::move(r));
            }
        }

        auto conn = onemap::core::connect(db);
        onemap::importers::progress bar(quiet ? nullptr : stderr);
        std::vector<onemap::importers::import_result> results;
        for (const auto& r : requests) {
            auto more = onemap::importers::import_source(*conn, r, bar);
            results.insert(results.end(), more.begin(), more.end());
        }
        const std::string summary = onemap::importers::summary_json(results);
        std::cout << summary << '\n';
        if (!summary_path.empty()) {
            std::ofstream(summary_path) << summary << '\n';
        }
        std::string failed;
        for (const auto& r : results) {
            if (r.status == "failed") {
                failed += (failed.empty() ? "" : ", ") + (r.layer.empty() ? r.source : r.layer);
                onemap::log().error("FAILED {} ({}): {}", r.layer, r.source, r.error);
            }
        }
        if (!failed.empty()) {
            onemap::log().error("{} of {} layers failed: {}", std::count_if(results.begin(), results.end(), [](const auto& r) { return r.status == "failed"; }), results.size(), failed);
            return 1;
        }
        return 0;
    } catch (const onemap::config_error& e) {
        onemap::log().error("{}", e.what());
        return 2;
    } catch (const onemap::input_error& e) {
        onemap::log().error("{}", e.what());
        return 2;
    } catch (const std::exception& e) {
        onemap::log().error("{}", e.what());
        return 3;
    }
} catch (const std::exception& e) {
    // Setting up the options or the logger failed, or a handler above threw: nothing escapes main.
    std::fprintf(stderr, "onemap-import: %s\n", e.what());
    return 3;
} catch (...) {
    std::fputs("onemap-import: unknown exception\n", stderr);
    return 3;
}
