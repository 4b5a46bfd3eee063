#include "onemap/importers/layer_import.hpp"

#include "onemap/core/calendar.hpp"
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"
#include "onemap/importers/crs_resolution.hpp"
#include "onemap/importers/datum_shift.hpp"
#include "onemap/importers/dissolve.hpp"
#include "onemap/importers/shapefile_census.hpp"
#include "onemap/importers/geometry_preparation.hpp"
#include "onemap/importers/text_decoder.hpp"
#include "row_pipeline.hpp"

#include <cpl_error.h>
#include <libpq-fe.h>
#include <nlohmann/json.hpp>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

namespace onemap::importers {

namespace {

using core::attribute;
using core::attribute_type;

const std::set<std::string> THEMES{"grid", "natural-resource", "water", "planning", "other"};

using detail::field_plan;

// Preparation threads beside the reader and the COPY writer.
unsigned worker_threads(const import_request& req)
{
    return req.threads != 0 ? req.threads : std::max(1U, std::thread::hardware_concurrency());
}

attribute_type column_type(const OGRFieldDefn& f)
{
    switch (f.GetType()) {
    case OFTInteger:
        return f.GetSubType() == OFSTBoolean ? attribute_type::boolean : attribute_type::integer;
    case OFTInteger64:
        return attribute_type::bigint;
    case OFTReal:
        return attribute_type::real;
    case OFTDate:
        return attribute_type::date;
    case OFTDateTime:
        return attribute_type::timestamp;
    default:
        return attribute_type::text;
    }
}



// A libpq result, cleared however the scope ends.
struct result_deleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

// Streams COPY data through libpq on the transaction's connection. The destructor aborts an
// unfinished COPY so the transaction can roll back cleanly.

class copy_stream {
public:
    copy_stream(pqxx::dbtransaction& txn, const std::string& statement)
        : m_pg(core::raw_handle(txn))
    {
        const result_ptr res(PQexec(m_pg, statement.c_str()));
        const bool ok = PQresultStatus(res.get()) == PGRES_COPY_IN;
        std::string why = ok ? "" : PQresultErrorMessage(res.get());
        if (!ok) {
            throw db_error("COPY failed to start: " + why);
        }
        m_open = true;
    }
    ~copy_stream()
    {
        if (m_open) {
            PQputCopyEnd(m_pg, "import aborted");
            drain();
        }
    }
    copy_stream(const copy_stream&) = delete;
    copy_stream& operator=(const copy_stream&) = delete;

    void send(std::string& buf)
    {
        if (buf.empty()) {
            return;
        }
        if (PQputCopyData(m_pg, buf.data(), static_cast<int>(buf.size())) != 1) {
            throw db_error(std::string("COPY data rejected: ") + PQerrorMessage(m_pg));
        }
        buf.clear();
    }
    void finish()
    {
        m_open = false;
        if (PQputCopyEnd(m_pg, nullptr) != 1) {
            throw db_error(std::string("COPY end failed: ") + PQerrorMessage(m_pg));
        }
        const std::string why = drain();
        if (!why.empty()) {
            throw db_error("COPY failed: " + why);
        }
    }

private:
    std::string drain()
    {
        std::string why;
        while (const result_ptr res{PQgetResult(m_pg)}) {
            if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
                why += PQresultErrorMessage(res.get());
            }
        }
        return why;
    }

    pg_conn* m_pg;
    bool m_open = false;
};


std::string dataset_label(const source_layer& src)
{
    std::string label = src.files.empty() ? src.dataset : src.files.front();
    if (!src.shapefile) {
        label += " (layer " + src.layer + ")";
    }
    return label;
}

geometry_family layer_family(OGRLayer& layer, const std::string& label)
{
    const auto declared = layer.GetGeomType();
    if (declared == wkbNone) {
        throw input_error("source", label + ": the layer has no geometry column");
    }
    if (auto f = family_of(declared)) {
        return *f;
    }
    // Mixed or undeclared (GeoJSON): the family most features have.
    std::size_t counts[3] = {0, 0, 0};
    layer.ResetReading();
    while (std::unique_ptr<OGRFeature> feat{layer.GetNextFeature()}) {
        if (const auto* g = feat->GetGeometryRef()) {
            if (auto f = family_of(g->getGeometryType())) {
                ++counts[static_cast<int>(*f)];
            }
        }
    }
    layer.ResetReading();
    const auto best = std::max_element(std::begin(counts), std::end(counts));
    if (*best == 0) {
        throw input_error("source", label + ": unsupported geometry type " +
                                        std::string(OGRGeometryTypeToName(declared)) +
                                        " (points, lines or polygons are supported)");
    }
    return static_cast<geometry_family>(best - std::begin(counts));
}

// The layer's columns after fid: their names, and their definitions for CREATE TABLE, each
// list starting with ", " (identifiers from the source's laundered field names, quoted).
struct attribute_columns {
    std::string names;
    std::string definitions;
};

attribute_columns columns_of(const std::vector<field_plan>& fields)
{
    attribute_columns c;
    for (const auto& f : fields) {
        c.names += ", " + core::quote_ident(f.attr.name);
        c.definitions += ", " + core::quote_ident(f.attr.name) + " " + core::sql_type(f.attr.type);
    }
    return c;
}

// The source's field names, for messages naming a field that is not there.
std::string field_names(const std::vector<field_plan>& fields)
{
    std::string names;
    for (const auto& f : fields) {
        names += (names.empty() ? "" : ", ") + f.attr.source_name;
    }
    return names;
}

// Generalised copies for low zooms, each derived from the next finer one: "<table>__z<z>" holds
// the features whose bounding box spans at least MIN_FEATURE_PIXELS (3) pixels at zoom z
// (a pixel is 360°/(256·2^z) of longitude or latitude), simplified to half a pixel. Smaller
// features are not drawn at z: that is the documented rule that keeps a million-parcel
// layer's z0..z12 tiles bounded in time and size. Returns the highest zoom built.
int build_overviews(pqxx::work& txn, const std::string& table, const std::vector<field_plan>& fields,
                    geometry_family family)
{
    const std::string columns = "fid" + columns_of(fields).names;
    std::string source = table;
    for (int z = core::OVERVIEW_MAX_ZOOM; z >= 0; --z) {
        char px[32];
        std::snprintf(px, sizeof px, "%.17g", core::MIN_FEATURE_PIXELS * core::degrees_per_pixel(z));
        char half[32];
        std::snprintf(half, sizeof half, "%.17g", core::degrees_per_pixel(z) / 2);
        const std::string target = table + "__z" + std::to_string(z);
        const std::string geom = family == geometry_family::point
                                     ? std::string("geom")
                                     : std::string("ST_Multi(ST_SimplifyPreserveTopology(geom, ") + half + "))";
        // The extent is the full-detail geometry's, carried down the chain, so simplification
        // at one level cannot push a feature under the threshold of the next.
        const std::string extent = source == table
                                       ? std::string("GREATEST(ST_XMax(geom) - ST_XMin(geom), ST_YMax(geom) - ST_YMin(geom))")
                                       : std::string("extent_deg");
        const std::string visible = family == geometry_family::point ? std::string("true") : extent + " >= " + px;
        txn.exec("CREATE TABLE " + core::qualified(core::DATA_SCHEMA, target) + " AS SELECT " + columns + ", " + geom +
                 " AS geom, " + extent + " AS extent_deg FROM " + core::qualified(core::DATA_SCHEMA, source) +
                 " WHERE " + visible);
        txn.exec("DELETE FROM " + core::qualified(core::DATA_SCHEMA, target) + " WHERE ST_IsEmpty(geom)");
        txn.exec("CREATE INDEX ON " + core::qualified(core::DATA_SCHEMA, target) + " USING gist (geom)");
        source = target;
    }
    return core::OVERVIEW_MAX_ZOOM;
}

// The dissolved copies (issue 18), COPYed zoom by zoom as the builder hands them over.
int copy_dissolved(pqxx::work& txn, overview_builder& builder, const std::string& table,
                   const std::vector<field_plan>& fields, import_result& result)
{
    const attribute_columns attrs = columns_of(fields);
    const std::string ddl_columns =
        "fid bigint NOT NULL" + attrs.definitions + ", geom geometry(MultiPolygon, 4490) NOT NULL, extent_deg double precision";
    const std::string columns = "fid" + attrs.names + ", geom, extent_deg";
    std::string kept; // the attributes of a row of `dup` below
    for (const auto& f : fields) {
        kept += ", d." + core::quote_ident(f.attr.name);
    }
    long long merged = 0;
    while (auto z = builder.next()) {
        const std::string target = core::qualified(core::DATA_SCHEMA, table + "__z" + std::to_string(z->zoom));
        txn.exec("CREATE TABLE " + target + " (" + ddl_columns + ")");
        {
            copy_stream copy(txn, "COPY " + target + " (" + columns + ") FROM STDIN");
            copy.send(z->copy_text);
            copy.finish();
        }
        // A large feature cut by the builder's job squares is one feature again: its pieces share
        // the cut exactly, so their union has no seam (MVT wants ids unique in a layer).
        txn.exec("WITH dup AS (DELETE FROM " + target + " WHERE fid IN (SELECT fid FROM " + target +
                 " GROUP BY fid HAVING count(*) > 1) RETURNING *), "
                 "g AS (SELECT fid, ST_Multi(ST_CollectionExtract(ST_Union(ST_MakeValid(geom)), 3)) AS geom FROM dup GROUP BY fid) "
                 "INSERT INTO " + target + " (" + columns + ") SELECT DISTINCT ON (d.fid) d.fid" + kept +
                 ", g.geom, GREATEST(ST_XMax(g.geom) - ST_XMin(g.geom), ST_YMax(g.geom) - ST_YMin(g.geom)) "
                 "FROM dup d JOIN g USING (fid) ORDER BY d.fid");
        txn.exec("CREATE INDEX ON " + target + " USING gist (geom)");
        merged += z->merged_rows;
        log().debug("{}: z{} dissolved by class: {} rows ({} merged areas, {} features kept)", table, z->zoom,
                    z->rows, z->merged_rows, z->kept_features);
    }
    if (builder.max_zoom() >= 0) {
        result.notes.push_back("low-zoom copies z0-" + std::to_string(builder.max_zoom()) +
                               " dissolved by class: " + std::to_string(merged) + " merged areas");
    }
    return builder.max_zoom();
}

// Who holds the layer's import lock: another onemap-import, by its application_name.
std::string lock_holder(pqxx::work& txn, const std::string& layer)
{
    const auto r = txn.exec_params(R"SQL(
WITH k AS (SELECT hashtext('onemap.layer:' || $1)::bigint AS key)
SELECT a.pid, coalesce(nullif(a.application_name, ''), 'a client'), to_char(a.xact_start, 'YYYY-MM-DD HH24:MI:SS')
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid, k
 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.classid = ((k.key >> 32) & 4294967295)::text::oid AND l.objid = (k.key & 4294967295)::text::oid
   AND a.pid <> pg_backend_pid())SQL",
                                   layer);
    if (r.empty()) {
        return "another import";
    }
    return "'" + r[0][1].as<std::string>() + "' (server pid " + r[0][0].as<std::string>() + ", importing since " +
           (r[0][2].is_null() ? std::string("?") : r[0][2].as<std::string>()) + ")";
}

// Serialises imports of one layer: waits up to `timeout` seconds for another import of it to
// finish, then gives up with a message naming the layer and the other import.
void lock_layer(pqxx::work& txn, const std::string& layer, double timeout, const std::string& label)
{
    if (txn.exec_params("SELECT pg_try_advisory_xact_lock(hashtext('onemap.layer:' || $1))", layer)[0][0].as<bool>()) {
        return;
    }
    const std::string holder = lock_holder(txn, layer);
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", timeout);
    const std::string refusal = label + ": layer '" + layer + "' is being imported by " + holder +
                                ", which did not finish within --lock-timeout " + seconds +
                                " s; nothing published. Run again when it has finished, or raise --lock-timeout";
    if (timeout <= 0) {
        throw db_error(refusal);
    }
    log().info("{}: layer '{}' is being imported by {}; waiting up to {} s (--lock-timeout)", label, layer, holder,
               seconds);
    txn.exec_params("SELECT set_config('lock_timeout', $1, true)",
                    std::to_string(std::max(1LL, std::llround(timeout * 1000))) + "ms");
    try {
        txn.exec_params("SELECT pg_advisory_xact_lock(hashtext('onemap.layer:' || $1))", layer);
    } catch (const pqxx::sql_error& e) {
        if (e.sqlstate() == "55P03") { // lock_not_available
            throw db_error(refusal);
        }
        throw;
    }
    txn.exec("SELECT set_config('lock_timeout', '0', true)");
    log().info("{}: the other import of layer '{}' has finished; importing", label, layer);
}

struct completeness_report {
    long long source_features = 0;
    long long deleted = 0; ///< .dbf records flagged deleted, skipped by GDAL
    std::vector<std::string> lost;
};

// The source's parts must agree before anything is published: a shapefile's .shp, .shx and
// .dbf record counts, and every field the .dbf declares read by GDAL. With `accept_loss` the
// disagreements become the summary's list of what was lost instead of a refusal.
completeness_report check_completeness(const source_layer& src, OGRLayer& layer, long long gdal_count,
                                       const std::string& label, bool accept_loss)
{
    completeness_report out;
    out.source_features = gdal_count;
    if (!src.shapefile || src.files.size() < 3) {
        return out;
    }
    const shapefile_census census = take_shapefile_census(src.files[0], src.files[1], src.files[2]);
    std::vector<std::string> problems = census.problems;
    const auto gdal_fields = static_cast<std::size_t>(layer.GetLayerDefn()->GetFieldCount());
    if (census.dbf_fields.size() > gdal_fields) {
        std::string names;
        for (std::size_t i = 0; i < census.dbf_fields.size(); ++i) {
            if (layer.GetLayerDefn()->GetFieldIndex(census.dbf_fields[i].c_str()) < 0) {
                names += (names.empty() ? "" : ", ") + census.dbf_fields[i];
            }
        }
        problems.push_back("the .dbf declares " + std::to_string(census.dbf_fields.size()) + " fields but only " +
                           std::to_string(gdal_fields) + " can be read (not read: " + names + ")");
    }
    out.source_features = std::max(census.source_records(), gdal_count);
    out.deleted = census.dbf_records_deleted;
    if (problems.empty()) {
        return out;
    }
    std::string all;
    for (const auto& p : problems) {
        all += (all.empty() ? "" : "; ") + p;
    }
    if (!accept_loss) {
        throw input_error("source", label + ": refusing to publish less than the file holds: " + all +
                                        ". Nothing published. Replace the damaged part, or pass --accept-loss to "
                                        "publish what can be read (the summary then lists what was lost)");
    }
    log().warn("{}: --accept-loss: publishing despite: {}", label, all);
    out.lost = problems;
    if (gdal_fields == 0 && !census.dbf_fields.empty()) {
        out.lost.push_back("every attribute: the features are published with geometry only");
    }
    return out;
}

} // namespace

std::string launder_name(const std::string& name, std::size_t position)
{
    std::string out;
    for (char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) != 0 && u < 0x80) {
            out.push_back(static_cast<char>(std::tolower(u)));
        } else if (!out.empty() && out.back() != '_') {
            out.push_back('_');
        }
    }
    while (!out.empty() && out.back() == '_') {
        out.pop_back();
    }
    if (out.empty()) {
        out = "f_" + std::to_string(position);
    }
    if (std::isdigit(static_cast<unsigned char>(out[0])) != 0) {
        out = "f_" + out;
    }
    if (out == "fid" || out == "geom") {
        out += "_src";
    }
    return out.substr(0, 48);
}

import_result import_layer(pqxx::connection& conn, const source_layer& src,
                           const import_request& req, progress& bar)
{
    const auto started = std::chrono::steady_clock::now();
    const std::string label = dataset_label(src);
    import_result result;
    result.source = label;

    // ---- validate the request -----------------------------------------------------------
    result.layer = req.layer.empty() ? launder_name(src.layer, 0) : req.layer;
    if (result.layer.empty() || result.layer.size() > 48 ||
        result.layer.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos ||
        std::isalpha(static_cast<unsigned char>(result.layer[0])) == 0) {
        throw input_error("layer", "layer name '" + result.layer +
                                       "' must be lower-case ASCII letters, digits and _ (max 48)");
    }
    if (THEMES.count(req.theme) == 0) {
        throw input_error("theme", "theme '" + req.theme +
                                       "' is not one of grid, natural-resource, water, planning, other");
    }
    result.valid_from = req.valid_from.empty() ? core::today() : req.valid_from;
    if (!core::parse_iso_date(result.valid_from)) {
        throw input_error("valid_from", "valid_from '" + result.valid_from + "' is not a date YYYY-MM-DD");
    }

    // Named in pg_stat_activity, so a concurrent import of the layer can say who holds it.
    {
        pqxx::nontransaction name(conn);
        name.exec_params("SELECT set_config('application_name', $1, false)",
                         "onemap-import " + result.layer + " < " + std::filesystem::path(label).filename().string());
    }

    // ---- open, encoding, CRS ------------------------------------------------------------
    std::vector<std::string> open_options;
    if (src.shapefile) {
        open_options.emplace_back("ENCODING="); // raw bytes: we decode strictly ourselves
    }
    dataset_ptr ds = open_vector(src.dataset, open_options);
    OGRLayer* layer = ds->GetLayerByName(src.layer.c_str());
    if (layer == nullptr) {
        throw input_error("source", label + ": layer '" + src.layer + "' not found");
    }

    std::optional<text_decoder> decoder;
    if (src.shapefile) {
        auto meta = [layer](const char* key) {
            const char* v = layer->GetMetadataItem(key, "SHAPEFILE");
            return std::string(v != nullptr ? v : "");
        };
        const std::string detected =
            !meta("ENCODING_FROM_CPG").empty() ? meta("ENCODING_FROM_CPG") : meta("ENCODING_FROM_LDID");
        result.notes.push_back("GDAL saw CPG_VALUE='" + meta("CPG_VALUE") + "' LDID_VALUE='" +
                               meta("LDID_VALUE") + "' detected encoding '" + detected + "'");
        log().info("{}: CPG_VALUE='{}' LDID_VALUE='{}' SOURCE_ENCODING(detected)='{}'{}", label,
                   meta("CPG_VALUE"), meta("LDID_VALUE"), detected,
                   req.encoding ? " overridden by --encoding " + *req.encoding : "");
        if (req.encoding) {
            decoder.emplace(*req.encoding);
        } else if (!detected.empty()) {
            decoder.emplace(detected);
        }
    } else {
        // GDAL hands GeoPackage, GeoJSON and FileGDB text over as UTF-8; check it is.
        decoder.emplace("UTF-8");
        if (req.encoding && normalise_encoding(*req.encoding) != "UTF-8") {
            result.notes.push_back("--encoding ignored: " + label + " stores UTF-8 text");
        }
    }
    result.source_encoding = decoder ? decoder->encoding() : "";

    std::string prj_file;
    for (const auto& f : src.files) {
        if (f.size() > 4 && (f.compare(f.size() - 4, 4, ".prj") == 0 || f.compare(f.size() - 4, 4, ".PRJ") == 0)) {
            prj_file = f;
        }
    }
    const resolved_crs crs = resolve_crs(layer->GetSpatialRef(), req.srs, label, prj_file);
    result.source_srid = crs.epsg;
    result.notes.push_back("CRS EPSG:" + std::to_string(crs.epsg) + " (" + crs.name + ", " + crs.how + ")");
    OGREnvelope extent;
    std::optional<source_extent> data_extent;
    if (layer->GetExtent(&extent, TRUE) == OGRERR_NONE) {
        check_gauss_kruger_zone(crs.epsg, extent, label);
        data_extent = source_extent{extent.MinX, extent.MinY, extent.MaxX, extent.MaxY};
    }
    const transformation_choice transformation =
        choose_transformation(crs.epsg, data_extent, req.towgs84 ? std::optional(parse_towgs84(*req.towgs84)) : std::nullopt,
                              req.accept_ballpark, label);
    if (!transformation.pipeline.empty()) {
        result.transformation = transformation.name;
        result.transformation_accuracy = transformation.accuracy_m;
        result.transformation_how = transformation.how;
        result.ballpark = transformation.ballpark;
        result.notes.push_back("transformation to EPSG:4490: " + transformation.name + " (accuracy " +
                               (transformation.accuracy_m >= 0 ? std::to_string(transformation.accuracy_m) + " m"
                                                               : std::string("unknown")) +
                               "; " + transformation.how + ")");
        log().info("{}: EPSG:{} → EPSG:4490 by '{}' ({})", label, crs.epsg, transformation.name, transformation.how);
    }

    const long long total = layer->GetFeatureCount(TRUE);
    if (total == 0) {
        throw input_error("source", label + ": no features (empty file)");
    }
    const auto completeness = check_completeness(src, *layer, total, label, req.accept_loss);
    result.source_features = completeness.source_features;
    result.lost = completeness.lost;
    const geometry_family family = layer_family(*layer, label);

    // ---- attribute plan ----------------------------------------------------------------
    OGRFeatureDefn* defn = layer->GetLayerDefn();
    std::vector<field_plan> fields;
    std::set<std::string> used{"fid", "geom"};
    int id_index = -1;
    for (int i = 0; i < defn->GetFieldCount(); ++i) {
        const OGRFieldDefn* f = defn->GetFieldDefn(i);
        std::string name = launder_name(f->GetNameRef(), static_cast<std::size_t>(i));
        for (int k = 2; used.count(name) != 0; ++k) {
            name = launder_name(f->GetNameRef(), static_cast<std::size_t>(i)) + "_" + std::to_string(k);
        }
        used.insert(name);
        fields.push_back(field_plan{i, attribute{name, f->GetNameRef(), column_type(*f)}});
        if (req.id_field && EQUAL(f->GetNameRef(), req.id_field->c_str())) {
            id_index = i;
        }
    }
    int class_field = -1;
    if (req.class_field) {
        for (std::size_t k = 0; k < fields.size(); ++k) {
            if (EQUAL(fields[k].attr.source_name.c_str(), req.class_field->c_str()) ||
                fields[k].attr.name == *req.class_field) {
                class_field = static_cast<int>(k);
            }
        }
        if (class_field < 0) {
            throw input_error("class_field", label + ": class field '" + *req.class_field +
                                                 "' is not in the file (fields: " + field_names(fields) + ")");
        }
        if (family != geometry_family::polygon) {
            throw input_error("class_field", label + ": a class field dissolves polygons, but the file holds " +
                                                 family_name(family));
        }
    }
    const class_levels levels =
        req.class_levels ? class_levels::parse(*req.class_levels) : class_levels::land_use_default();
    const bool dissolve = class_field >= 0 && req.overviews;
    // What the catalog records of the dissolve (none without it).
    const std::optional<std::string> class_column =
        dissolve ? std::optional<std::string>(fields[static_cast<std::size_t>(class_field)].attr.name) : std::nullopt;
    const std::optional<std::string> class_spec =
        dissolve ? std::optional<std::string>(levels.to_string()) : std::nullopt;
    if (req.id_field && id_index < 0) {
        throw input_error("id_field", label + ": id field '" + *req.id_field +
                                          "' is not in the file (fields: " + field_names(fields) + ")");
    }

    const std::string options_key = src.layer + "|" + result.source_encoding + "|" +
                                    std::to_string(crs.epsg) + "|" + req.id_field.value_or("") +
                                    "|" + result.valid_from +
                                    (dissolve ? "|" + *class_column + "|" + *class_spec : std::string());
    const std::string hash = hash_files(src.files, options_key);

    // ---- one transaction: lock, version, table, COPY, index, catalog, NOTIFY ----------------
    core::ensure_catalog(conn);
    pqxx::work txn(conn);
    lock_layer(txn, result.layer, req.lock_timeout, label);
    const auto existing = core::load_layer(txn, result.layer);
    if (existing && existing->geometry_type != family_name(family)) {
        throw input_error("source", label + ": holds " + family_name(family) + " but layer '" +
                                        result.layer + "' is " + existing->geometry_type);
    }
    if (existing && !req.force) {
        for (const auto& v : existing->versions) {
            if (v.valid_from == result.valid_from && v.source_hash == hash) {
                result.status = "unchanged";
                result.version = v.version;
                result.features = v.feature_count;
                result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
                bar.finish(0, "unchanged (version " + std::to_string(v.version) + ")");
                return result;
            }
        }
    }
    const int version = txn.exec_params("SELECT coalesce(max(version), 0) + 1 FROM onemap.layer_version WHERE layer = $1",
                                        result.layer)[0][0]
                            .as<int>();
    const std::string table = result.layer + "__v" + std::to_string(version);
    const std::string qtable = core::qualified(core::DATA_SCHEMA, table);

    const attribute_columns attr_columns = columns_of(fields);
    const std::string columns = "fid" + attr_columns.names + ", geom";
    txn.exec("CREATE TABLE " + qtable + " (fid bigint NOT NULL" + attr_columns.definitions + ", geom geometry(" +
             family_name(family) + ", 4490) NOT NULL)");

    detail::row_context ctx;
    ctx.label = label;
    ctx.fields = fields;
    ctx.id_index = id_index;
    ctx.id_field = req.id_field.value_or("");
    ctx.family = family;
    ctx.transform_pipeline = transformation.pipeline;
    ctx.tolerate_unreadable = req.accept_loss;
    ctx.allow_outside_area = req.allow_outside_area;
    ctx.shapefile = src.shapefile;
    if (decoder) {
        ctx.encoding = decoder->encoding();
    }
    ctx.collect_polygons = dissolve;
    ctx.class_field = class_field;
    polygon_set polygons;

    bar.start(result.layer, total);
    detail::row_totals rows;
    {
        copy_stream copy(txn, "COPY " + qtable + " (" + columns + ") FROM STDIN");
        rows = detail::run_row_pipeline(*layer, ctx, worker_threads(req), [&](std::string& buf, long long read) {
            copy.send(buf);
            bar.update(read); // after each COPY buffer, on the writing thread
        }, dissolve ? &polygons : nullptr);
        if (ctx.encoding && *ctx.encoding != "UTF-8" && rows.non_ascii > 0 && rows.all_non_ascii_is_utf8) {
            throw input_error("encoding", label + ": declared " + *ctx.encoding +
                                              " but all its non-ASCII text is valid UTF-8; the file is "
                                              "probably UTF-8 (pass --encoding UTF-8)");
        }
        copy.finish();
    }
    result.features = rows.features;
    result.repaired = rows.repaired;
    result.rejected = rows.rejected;
    result.repairs = std::move(rows.repairs);
    result.rejections = std::move(rows.rejections);
    const long long read = rows.read;
    result.read = read;
    result.source_features = std::max(result.source_features, read);
    result.not_read = result.source_features - read;
    const long long missing = result.not_read - completeness.deleted; // deleted records are not lost
    if (missing > 0) {
        if (!req.accept_loss) {
            throw input_error("source", label + ": holds " + std::to_string(result.source_features) +
                                            " features but only " + std::to_string(read) + " could be read (" +
                                            std::to_string(missing) +
                                            " missing); nothing published. Repair the file, or pass --accept-loss "
                                            "to publish what can be read");
        }
        result.lost.push_back(std::to_string(missing) + " of the source's " + std::to_string(result.source_features) +
                              " features not read");
        if (rows.unreadable > 0) {
            result.lost.push_back(std::to_string(rows.unreadable) + " features GDAL could not read (first: " +
                                  rows.first_unreadable + ")");
        }
    }
    if (completeness.deleted > 0) {
        result.notes.push_back(std::to_string(completeness.deleted) +
                               " records flagged deleted in the .dbf were skipped (counted as not read)");
    }
    if (rows.outside_area_of_use > 0) {
        result.notes.push_back(std::to_string(rows.outside_area_of_use) +
                               " features lie outside EPSG:4490's area of use (China), kept by --allow-outside-area");
        log().warn("{}: {} features lie outside EPSG:4490's area of use (China)", label, rows.outside_area_of_use);
    }
    const long long dims_dropped = rows.dimensions_dropped;
    const OGREnvelope bbox = rows.bbox;
    if (result.features == 0) {
        std::string first;
        if (!result.rejections.empty()) {
            const auto& r = result.rejections.front();
            first = "; feature " + std::to_string(r.feature) + ": " + r.kind + " (" + r.detail + ")";
        }
        throw input_error("source", label + ": none of its " + std::to_string(read) +
                                        " features could be imported (all rejected)" + first);
    }
    if (dims_dropped > 0) {
        result.notes.push_back("Z/M dropped from " + std::to_string(dims_dropped) + " features");
    }

    // The dissolved copies are computed on worker threads while PostgreSQL indexes the table.
    std::optional<overview_builder> dissolved;
    if (dissolve) {
        dissolved.emplace(polygons, levels, copy_layout{fields.size(), static_cast<std::size_t>(class_field)},
                          worker_threads(req));
    }
    txn.exec("ALTER TABLE " + qtable + " ADD PRIMARY KEY (fid)");
    txn.exec("CREATE INDEX ON " + qtable + " USING gist (geom)");
    txn.exec("ANALYZE " + qtable);
    int overview_max_zoom = -1;
    if (dissolved) {
        overview_max_zoom = copy_dissolved(txn, *dissolved, table, fields, result);
        dissolved.reset();
        polygons = polygon_set();
    } else if (req.overviews) {
        overview_max_zoom = build_overviews(txn, table, fields, family);
    }

    nlohmann::json attrs = nlohmann::json::array();
    for (const auto& f : fields) {
        attrs.push_back({{"name", f.attr.name}, {"source", f.attr.source_name}, {"type", core::sql_type(f.attr.type)}});
    }
    nlohmann::json report = {{"notes", result.notes}};
    auto notes_json = [](const std::vector<feature_note>& notes) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& n : notes) {
            a.push_back({{"feature", n.feature}, {"kind", n.kind}, {"detail", n.detail}});
        }
        return a;
    };
    report["counts"] = {{"source_features", result.source_features}, {"read", result.read},
                        {"published", result.features},          {"repaired", result.repaired},
                        {"rejected", result.rejected},            {"not_read", result.not_read}};
    report["lost"] = result.lost;
    report["transformation"] = transformation.pipeline.empty()
                                   ? nlohmann::json(nullptr)
                                   : nlohmann::json{{"name", transformation.name},
                                                    {"accuracy_m", transformation.accuracy_m >= 0
                                                                       ? nlohmann::json(transformation.accuracy_m)
                                                                       : nlohmann::json(nullptr)},
                                                    {"ballpark", transformation.ballpark},
                                                    {"how", transformation.how}};
    report["repairs"] = notes_json(result.repairs);
    report["rejections"] = notes_json(result.rejections);

    txn.exec_params(R"SQL(
INSERT INTO onemap.layer (name, title, department, theme, geometry_type, source_srid, is_public)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (name) DO UPDATE SET title = EXCLUDED.title, department = EXCLUDED.department,
    theme = EXCLUDED.theme, source_srid = EXCLUDED.source_srid, is_public = EXCLUDED.is_public,
    updated_at = now())SQL",
                    result.layer, req.title.empty() ? result.layer : req.title, req.department, req.theme,
                    family_name(family), crs.epsg, req.is_public);

    // The version this one replaces on its start date (for the changed-area computation).
    const auto previous = txn.exec_params(
        "SELECT table_name, attributes::text FROM onemap.version_as_of($1, $2::date)", result.layer,
        result.valid_from);
    txn.exec_params("UPDATE onemap.layer_version SET superseded_by = $3 WHERE layer = $1 AND valid_from = $2::date "
                    "AND superseded_by IS NULL",
                    result.layer, result.valid_from, version);
    std::vector<std::string> files = src.files;
    txn.exec_params(R"SQL(
INSERT INTO onemap.layer_version (layer, version, table_name, valid_from, feature_count, bbox, attributes,
    source_files, source_hash, source_srid, source_encoding, repaired, rejected, report, overview_max_zoom,
    class_field, class_levels)
VALUES ($1, $2, $3, $4::date, $5, ST_MakeEnvelope($6, $7, $8, $9, 4490), $10::jsonb,
    string_to_array($11, E'\x1f'), $12, $13, $14, $15, $16, $17::jsonb, $18, $19, $20))SQL",
                    result.layer, version, table, result.valid_from, result.features, bbox.MinX, bbox.MinY,
                    bbox.MaxX, bbox.MaxY, attrs.dump(), [&files] {
                        std::string s;
                        for (const auto& f : files) {
                            s += (s.empty() ? "" : "\x1f") + f;
                        }
                        return s;
                    }(),
                    hash, crs.epsg, result.source_encoding, result.repaired, result.rejected, report.dump(),
                    overview_max_zoom, class_column, class_spec);
    txn.exec_params(R"SQL(
UPDATE onemap.layer_version v SET valid_to = n.next_from
  FROM (SELECT version, lead(valid_from) OVER (ORDER BY valid_from) AS next_from
          FROM onemap.layer_version WHERE layer = $1 AND superseded_by IS NULL) n
 WHERE v.layer = $1 AND v.version = n.version AND v.valid_to IS DISTINCT FROM n.next_from)SQL",
                    result.layer);

    // Changed area: features that differ from the version this one replaces on its start
    // date; everything when there was none or the attribute schema changed.
    std::optional<core::box> changed = core::box{bbox.MinX, bbox.MinY, bbox.MaxX, bbox.MaxY};
    if (!previous.empty()) {
        const std::string old_table = core::qualified(core::DATA_SCHEMA, previous[0][0].as<std::string>());
        const bool same_schema = nlohmann::json::parse(previous[0][1].as<std::string>()) == attrs;
        const std::string extent_of =
            same_schema ? "SELECT g FROM " + qtable + " n FULL JOIN " + old_table +
                              " o USING (fid), LATERAL (VALUES (n.geom), (o.geom)) v(g) "
                              "WHERE ROW(n.*) IS DISTINCT FROM ROW(o.*)"
                        : "SELECT geom FROM " + qtable + " UNION ALL SELECT geom FROM " + old_table;
        const auto r = txn.exec("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(g) AS e "
                                "FROM (" + extent_of + ") d(g)) x");
        if (r[0][0].is_null()) {
            changed.reset();
        } else {
            changed = core::box{r[0][0].as<double>(), r[0][1].as<double>(), r[0][2].as<double>(), r[0][3].as<double>()};
        }
    }
    const nlohmann::json payload = {{"layer", result.layer},
                                    {"version", version},
                                    {"valid_from", result.valid_from},
                                    {"bbox", changed ? nlohmann::json::array({changed->min_x, changed->min_y, changed->max_x, changed->max_y})
                                                     : nlohmann::json()}};
    txn.exec_params("SELECT pg_notify($1, $2)", core::PUBLISH_CHANNEL, payload.dump());
    txn.commit();

    result.status = "published";
    result.version = version;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    bar.finish(read, "published version " + std::to_string(version) + ": " + std::to_string(result.features) +
                         " features, " + std::to_string(result.repaired) + " repaired, " +
                         std::to_string(result.rejected) + " rejected");
    return result;
}

std::vector<import_result> import_source(pqxx::connection& conn, const import_request& request, progress& bar)
{
    std::vector<import_result> results;
    std::vector<source_layer> layers;
    try {
        layers = discover_layers(request.source);
        if (request.source_layer) {
            layers.erase(std::remove_if(layers.begin(), layers.end(),
                                        [&](const source_layer& l) { return l.layer != *request.source_layer; }),
                         layers.end());
            if (layers.empty()) {
                throw input_error("source_layer", request.source + ": has no layer '" + *request.source_layer + "'");
            }
        }
        if (layers.size() > 1 && !request.layer.empty()) {
            throw input_error("layer", request.source + ": holds " + std::to_string(layers.size()) +
                                           " layers; name one with source_layer or drop the layer name");
        }
    } catch (const input_error& e) {
        import_result r;
        r.source = request.source;
        r.layer = request.layer;
        r.error = e.what();
        results.push_back(std::move(r));
        return results;
    }
    for (const auto& l : layers) {
        const std::string layer_name = request.layer.empty() ? launder_name(l.layer, 0) : request.layer;
        try {
            try {
                results.push_back(import_layer(conn, l, request, bar));
            } catch (const pqxx::sql_error& e) {
                // A deadlock or serialisation failure against another session: once more.
                if (e.sqlstate() != "40P01" && e.sqlstate() != "40001") {
                    throw;
                }
                log().warn("{}: the database aborted the import of layer '{}' ({}); retrying once", dataset_label(l),
                           layer_name, e.sqlstate());
                results.push_back(import_layer(conn, l, request, bar));
            }
        } catch (const std::exception& e) {
            import_result r;
            r.source = dataset_label(l);
            r.layer = layer_name;
            r.error = e.what();
            if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
                std::string first_line = sql->what();
                first_line = first_line.substr(0, first_line.find('\n'));
                r.error = r.source + ": the database refused the import of layer '" + layer_name + "' (SQLSTATE " +
                          sql->sqlstate() + ": " + first_line + "); nothing published";
            } else if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
                r.error = r.source + ": the connection to the database was lost while importing layer '" +
                          layer_name + "'; nothing published";
            }
            bar.finish(0, std::string("FAILED: ") + e.what());
            log().error("{}", r.error);
            results.push_back(std::move(r));
        }
    }
    return results;
}

} // namespace onemap::importers
