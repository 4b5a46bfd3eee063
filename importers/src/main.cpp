// onemap-import: load department data into versioned PostGIS layers.
#include "onemap/core/db.hpp"
#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"
#include "onemap/importers/layer_import.hpp"
#include "onemap/importers/manifest.hpp"

#include <CLI/CLI.hpp>
#include <gdal_priv.h>

#include <fstream>
#include <iostream>

int main(int argc, char** argv)
{
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
    app.add_option("--title", base.title, "layer title");
    app.add_option("--department", base.department, "owning department");
    app.add_option("--theme", base.theme, "grid, natural-resource, water, planning or other");
    app.add_option("--encoding", encoding, "attribute text encoding, overriding .cpg/LDID (GBK, GB18030, UTF-8, …)");
    app.add_option("--srs", srs, "EPSG:nnnn, overriding the .prj");
    app.add_option("--valid-from", base.valid_from, "first day this version is valid (YYYY-MM-DD; default today)");
    app.add_option("--id-field", id_field, "integer field giving stable feature ids (default: source FID)");
    app.add_flag("--force", base.force, "import even when the identical file is already published");
    bool no_overviews = false;
    app.add_flag("--no-overviews", no_overviews, "skip the generalised copies for zoom 0..11 (tiles then read the full table)");
    app.add_option("--summary", summary_path, "also write the JSON summary to this file");
    app.add_option("--log-level", log_level, "debug, info, warn, error");
    app.add_flag("-q,--quiet", quiet, "no progress display");
    CLI11_PARSE(app, argc, argv);

    try {
        onemap::set_log_level(log_level);
        onemap::route_gdal_messages();
        GDALAllRegister();

        std::vector<onemap::importers::import_request> requests;
        base.overviews = !no_overviews;
        if (!manifest_path.empty()) {
            if (!sources.empty()) {
                throw onemap::config_error("give either --manifest or source files, not both");
            }
            requests = onemap::importers::read_manifest(manifest_path);
            for (auto& r : requests) {
                r.overviews = !no_overviews;
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
            if (!srs.empty()) {
                base.srs = onemap::importers::parse_epsg(srs);
            }
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
}
