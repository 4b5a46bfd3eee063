// The analytics routes: POST /analysis/compliance (合规性审查), GET /analysis/stats (统计) and
// GET /analysis/changes (变化). Each reads layer versions held in memory (feature_store), runs
// on a worker, and answers JSON, or a printable HTML report, CSV (UTF-8 with BOM) or XLSX.
// Rights: every layer a request reads must be visible to its caller (401/403 naming it);
// nothing here writes to the database.
#include "request_params.hpp"
#include "server_state.hpp"

#include "onemap/core/calendar.hpp"
#include "onemap/core/event_loop.hpp"
#include "onemap/core/log.hpp"
#include "onemap/core/error.hpp"
#include "onemap/tileserver/analysis/compliance.hpp"
#include "onemap/tileserver/analysis/land_stats.hpp"
#include "onemap/tileserver/analysis/project_input.hpp"
#include "onemap/tileserver/analysis/report_map.hpp"
#include "onemap/tileserver/analysis/tabular.hpp"
#include "onemap/tileserver/http_encoding.hpp"
#include "onemap/tileserver/http_errors.hpp"

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <cmath>
#include <sstream>

namespace onemap::tileserver {

namespace {

using json = nlohmann::json;
using namespace analysis;

constexpr const char* CSV_TYPE = "text/csv; charset=utf-8";
constexpr const char* XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

double rounded(double v, int decimals)
{
    const double f = std::pow(10.0, decimals);
    const double r = std::round(v * f) / f;
    return r == 0 ? 0.0 : r;
}

json area_json(double m2)
{
    return {{"m2", rounded(m2, 2)}, {"ha", rounded(m2 / HECTARE_M2, 4)}, {"mu", rounded(m2 / MU_M2, 2)}};
}

std::vector<std::string> split_list(const std::string& text)
{
    std::vector<std::string> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (!item.empty()) {
            out.push_back(item);
        }
    }
    return out;
}

std::string format_of(const http_request& req, std::initializer_list<const char*> allowed)
{
    const bool has_html =
        std::any_of(allowed.begin(), allowed.end(), [](const char* a) { return std::string_view(a) == "html"; });
    std::string f = req.has_param("format") ? req.get_param_value("format") : "";
    if (f.empty()) {
        // A browser asking for a page gets the report where there is one.
        const bool wants_html = req.get_header_value("Accept").find("text/html") != std::string::npos;
        f = has_html && wants_html ? "html" : "json";
    }
    std::string names;
    for (const char* a : allowed) {
        if (f == a) {
            return f;
        }
        names += names.empty() ? a : std::string(", ") + a;
    }
    throw input_error("format", "format must be one of " + names + ", got '" + f + "'");
}

std::string base64(const std::string& bytes)
{
    std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                      sodium_base64_VARIANT_ORIGINAL);
    out.resize(out.size() - 1); // the terminating NUL
    return out;
}

std::string fixed(double v, int decimals)
{
    std::string out;
    append_fixed(out, rounded(v, decimals), decimals);
    return out;
}

// The rings of a lon/lat polygonal geometry, for the report's map.
std::vector<polygon> polygons_of(const GEOSGeometry* g)
{
    GEOSContextHandle_t h = geos();
    std::vector<polygon> out;
    auto read_ring = [&](const GEOSGeometry* r) {
        ring pts;
        const GEOSCoordSequence* seq = GEOSGeom_getCoordSeq_r(h, r);
        unsigned int n = 0;
        GEOSCoordSeq_getSize_r(h, seq, &n);
        for (unsigned int i = 0; i < n; ++i) {
            lonlat p{};
            GEOSCoordSeq_getXY_r(h, seq, i, &p.lon, &p.lat);
            pts.push_back(p);
        }
        return pts;
    };
    const int parts = GEOSGetNumGeometries_r(h, g);
    for (int i = 0; i < parts; ++i) {
        const GEOSGeometry* p = GEOSGetGeometryN_r(h, g, i);
        if (GEOSGeomTypeId_r(h, p) != GEOS_POLYGON) {
            continue;
        }
        polygon poly;
        poly.push_back(read_ring(GEOSGetExteriorRing_r(h, p)));
        for (int k = 0; k < GEOSGetNumInteriorRings_r(h, p); ++k) {
            poly.push_back(read_ring(GEOSGetInteriorRingN_r(h, p, k)));
        }
        out.push_back(std::move(poly));
    }
    return out;
}

class analysis_routes {
public:
    /// A red line longer than this (bytes of GeoJSON: ~1,000 vertices) is reviewed on a worker.
    static constexpr std::size_t IO_THREAD_BODY_BYTES = std::size_t{32} << 10;

    explicit analysis_routes(server_state& state)
        : m_state(state),
          m_store(state.pool, state.analysis()->memory_mb << 20, std::chrono::milliseconds(state.config.tile_wait_timeout_ms))
    {
    }

    void compliance(const http_request& req, http_response& res)
    {
        const auto cfg = m_state.analysis();
        const std::string date = requested_date(req);
        const area_method method = parse_area_method(req.has_param("method") ? req.get_param_value("method") : "planar");
        const std::string format = format_of(req, {"json", "html"});
        if (format == "html" || req.body.size() > IO_THREAD_BODY_BYTES) {
            core::may_block(); // a report draws a map; a long red line takes long to read
        }
        std::vector<const check_config*> chosen;
        if (req.has_param("checks")) {
            for (const auto& id : split_list(req.get_param_value("checks"))) {
                const auto it = std::find_if(cfg->checks.begin(), cfg->checks.end(),
                                             [&](const check_config& c) { return c.id == id; });
                if (it == cfg->checks.end()) {
                    throw input_error("checks", "no check '" + id + "' is configured (" + check_ids(*cfg) + ")");
                }
                chosen.push_back(&*it);
            }
        } else {
            for (const auto& c : cfg->checks) {
                chosen.push_back(&c);
            }
        }
        if (chosen.empty()) {
            throw not_found("no compliance checks are configured (analysis.checks in onemap.yaml)");
        }
        const caller who = server_state::caller_of(req);
        const auto rules = m_state.rules();
        for (const auto* c : chosen) {
            rules->require(c->layer, who);
        }
        const project p = read_project(req.body, req.has_param("crs") ? req.get_param_value("crs") : "",
                                       input_limits{cfg->max_area_km2, cfg->max_vertices});
        const auto catalog = m_state.catalog_for(req);
        // One meter over the red line serves the city test and every check.
        const overlap_meter meter(p.lonlat.get(), method, project_zone(p.lonlat.get()));
        require_in_city(*catalog, p.lonlat.get(), meter, date);
        std::vector<check_input> inputs;
        for (const auto* c : chosen) {
            check_input in;
            in.config = c;
            if (const auto* l = core::find_public_layer(*catalog, c->layer)) {
                if (const auto* v = l->as_of(date)) {
                    std::vector<std::string> cols = c->attributes;
                    for (const auto& f : {c->class_field, c->name_field}) {
                        if (!f.empty()) {
                            cols.push_back(f);
                        }
                    }
                    in.data = load(*l, *v, cols);
                    in.valid_from = v->valid_from;
                }
            }
            inputs.push_back(std::move(in));
        }
        const compliance_result r = review(p.lonlat.get(), inputs, meter);
        if (format == "html") {
            res.set_content(compliance_html(r, p, date, *catalog), "text/html; charset=utf-8");
            return;
        }
        res.set_content(compliance_json(r, p, date), JSON_TYPE);
    }

    void stats(const http_request& req, http_response& res)
    {
        const auto cfg = m_state.analysis();
        const std::string date = requested_date(req);
        const area_method method = parse_area_method(req.has_param("method") ? req.get_param_value("method") : "planar");
        const std::string format = format_of(req, {"json", "csv", "xlsx"});
        const auto parcels = land_use_version(req, *cfg, date, "datetime");
        const std::string class_field = class_field_of(req, *cfg, *parcels.version);
        const std::string name_field = class_field == cfg->class_field ? cfg->name_field : "";
        int level = 2;
        if (req.has_param("level")) {
            const std::string& l = req.get_param_value("level");
            if (l != "1" && l != "2") {
                throw input_error("level", "level must be 1 (一级类) or 2 (二级类), got '" + l + "'");
            }
            level = l == "1" ? 1 : 2;
        }
        const locate_level& by = level_named(req);
        m_state.rules()->require(by.layer, server_state::caller_of(req));
        const auto catalog = m_state.catalog_for(req);
        const core::layer* region_layer = core::find_public_layer(*catalog, by.layer);
        const core::layer_version* region_version = region_layer != nullptr ? region_layer->as_of(date) : nullptr;
        if (region_version == nullptr) {
            throw not_found("layer '" + by.layer + "' (" + by.level + ") has no version on " + date);
        }
        const std::string region = req.has_param("region") ? req.get_param_value("region") : "";

        const std::string key = parcels.version->table + "|" + parcels.version->source_hash + "|" +
                                region_version->table + "|" + region_version->source_hash + "|" + class_field + "|" +
                                name_field + "|" + by.code_field + "|" + name_of(method);
        // Kept per version pair; computed once however many ask at once.
        auto kept = [&]() -> std::shared_ptr<const land_stats> {
            const std::lock_guard<std::mutex> lock(m_cache_mutex);
            const auto* hit = m_stats_cache.get(key);
            return hit != nullptr ? *hit : nullptr;
        };
        std::shared_ptr<const land_stats> computed = kept();
        if (!computed) {
            computed = m_stats.run(key, [&] {
                if (auto done = kept()) {
                    return done; // computed by the flight that just landed
                }
                auto parcel_data = load(*parcels.layer, *parcels.version, {class_field, name_field});
                auto region_data = load(*region_layer, *region_version, {by.code_field, by.name_field});
                auto s = std::make_shared<const land_stats>(compute_land_stats(
                    *parcel_data, {parcel_data->column(class_field), parcel_data->column(name_field)}, *region_data,
                    {region_data->column(by.code_field), region_data->column(by.name_field)}, method));
                const std::lock_guard<std::mutex> lock(m_cache_mutex);
                m_stats_cache.put(key, s, 4096 + s->regions.size() * 512);
                return s;
            });
        }
        // Rows: region × class at the level asked, regions filtered by the code prefix.
        struct row {
            const region_areas* region;
            std::map<std::string, double> classes;
            double total = 0;
        };
        std::vector<row> rows;
        std::map<std::string, double> city;
        double city_total = 0;
        for (const auto& ra : computed->regions) {
            if (!region.empty() && ra.code.compare(0, region.size(), region) != 0) {
                continue;
            }
            row r{&ra, {}, 0};
            for (const auto& c : ra.by_class) {
                const std::string code = level == 1 ? c.first.substr(0, 2) : c.first;
                r.classes[code] += c.second;
                r.total += c.second;
                city[code] += c.second;
            }
            city_total += r.total;
            rows.push_back(std::move(r));
        }
        if (!region.empty() && rows.empty()) {
            throw input_error("region", "no " + by.level + " code starts with '" + region + "' on " + date);
        }
        auto class_name = [&](const std::string& code) -> std::string {
            if (level == 1) {
                return land_class_level1_name(code);
            }
            const auto it = computed->class_names.find(code);
            return it == computed->class_names.end() ? "" : it->second;
        };
        if (format == "json") {
            json regions = json::array();
            for (const auto& r : rows) {
                json classes = json::array();
                for (const auto& c : r.classes) {
                    json item = area_json(c.second);
                    item["class"] = c.first;
                    item["name"] = class_name(c.first);
                    classes.push_back(std::move(item));
                }
                regions.push_back({{"code", r.region->code}, {"name", r.region->name}, {"classes", classes},
                                   {"total", area_json(r.total)}});
            }
            json classes = json::array();
            for (const auto& c : city) {
                json item = area_json(c.second);
                item["class"] = c.first;
                item["name"] = class_name(c.first);
                classes.push_back(std::move(item));
            }
            json doc = {{"layer", parcels.layer->name},
                        {"version", parcels.version->version},
                        {"valid_from", parcels.version->valid_from},
                        {"by", by.level},
                        {"boundary_layer", by.layer},
                        {"boundary_version", region_version->version},
                        {"class_field", class_field},
                        {"level", level},
                        {"datetime", date},
                        {"method", name_of(method)},
                        {"area_crs", method == area_method::planar ? "CGCS2000 3-degree Gauss-Krüger zone of each parcel"
                                                                   : "GRS 80 ellipsoid"},
                        {"regions", regions},
                        {"classes", classes},
                        {"total", area_json(city_total)}};
            if (!region.empty()) {
                doc["region"] = region;
            }
            res.set_content(doc.dump(), JSON_TYPE);
            return;
        }
        table t;
        t.name = "统计";
        t.header = {"区域代码", "区域名称", "地类编码", "地类名称", "面积(平方米)", "面积(公顷)", "面积(亩)"};
        auto add = [&](const std::string& code, const std::string& name, const std::string& cls,
                       const std::string& cname, double m2) {
            t.rows.push_back({cell(code), cell(name), cell(cls), cell(cname), cell(rounded(m2, 2), 2),
                              cell(m2 / HECTARE_M2, 4), cell(m2 / MU_M2, 2)});
        };
        for (const auto& r : rows) {
            for (const auto& c : r.classes) {
                add(r.region->code, r.region->name, c.first, class_name(c.first), c.second);
            }
            add(r.region->code, r.region->name, "合计", "", r.total);
        }
        for (const auto& c : city) {
            add("全部", "", c.first, class_name(c.first), c.second);
        }
        add("全部", "", "合计", "", city_total);
        send_table(res, format, {t}, "stats-" + parcels.layer->name + "-" + by.level);
    }

    void changes(const http_request& req, http_response& res)
    {
        const auto cfg = m_state.analysis();
        const area_method method = parse_area_method(req.has_param("method") ? req.get_param_value("method") : "planar");
        const std::string format = format_of(req, {"json", "csv", "xlsx"});
        const std::string from_date = date_param(req, "from");
        const std::string to_date = date_param(req, "to");
        if (!(from_date < to_date)) {
            throw input_error("from", "from (" + from_date + ") must be before to (" + to_date + ")");
        }
        const auto from = land_use_version(req, *cfg, from_date, "from");
        const auto to = land_use_version(req, *cfg, to_date, "to");
        const std::string class_field = class_field_of(req, *cfg, *to.version);
        if (!has_attribute(*from.version, class_field)) {
            throw input_error("class_field", "version " + std::to_string(from.version->version) + " of '" +
                                                 from.layer->name + "' has no attribute '" + class_field + "'");
        }
        const std::string name_field = class_field == cfg->class_field ? cfg->name_field : "";
        if (req.has_param("bbox") && req.has_param("region")) {
            throw input_error("region", "give bbox or region, not both");
        }
        geom_ptr filter;
        std::string filter_key = "all";
        if (req.has_param("bbox")) {
            const auto b = bbox_param(req.get_param_value("bbox"));
            filter = own(GEOSGeom_createRectangle_r(geos(), b[0], b[1], b[2], b[3]), "making the bbox");
            filter_key = "bbox:" + req.get_param_value("bbox");
        } else if (req.has_param("region")) {
            filter = region_geometry(req, req.get_param_value("region"), to_date);
            filter_key = "region:" + req.get_param_value("region");
        }
        std::vector<std::string> cols{class_field};
        if (!name_field.empty()) {
            cols.push_back(name_field);
        }
        const auto a = load(*from.layer, *from.version, cols);
        const auto b = load(*to.layer, *to.version, cols);
        const change_result r = detect_changes(*a, {a->column(class_field), a->column(name_field)}, *b,
                                               {b->column(class_field), b->column(name_field)}, filter.get(), method);
        auto name = [&](const std::string& code) -> std::string {
            const auto it = r.class_names.find(code);
            return it == r.class_names.end() ? "" : it->second;
        };
        if (format == "json") {
            std::string out = "{\"type\":\"FeatureCollection\",\"features\":[";
            bool first = true;
            for (const auto& p : r.pieces) {
                json props = {{"from_id", p.from_fid < 0 ? json() : json(p.from_fid)},
                              {"to_id", p.to_fid < 0 ? json() : json(p.to_fid)},
                              {"from_class", p.from_class},
                              {"from_name", name(p.from_class)},
                              {"to_class", p.to_class},
                              {"to_name", name(p.to_class)},
                              {"area", area_json(p.area)}};
                out += first ? "" : ",";
                first = false;
                out += "{\"type\":\"Feature\",\"properties\":" + props.dump() + ",\"geometry\":" + p.geojson + "}";
            }
            json matrix = json::array();
            double changed = 0;
            for (const auto& m : r.matrix) {
                json item = area_json(m.second);
                item["from"] = m.first.first.empty() ? json() : json(m.first.first);
                item["to"] = m.first.second.empty() ? json() : json(m.first.second);
                matrix.push_back(std::move(item));
                changed += m.first.first != m.first.second ? m.second : 0.0;
            }
            json classes = json::object();
            for (const auto& c : r.class_names) {
                classes[c.first] = c.second;
            }
            json meta = {{"layer", to.layer->name},
                         {"from", {{"datetime", from_date}, {"version", from.version->version}, {"valid_from", from.version->valid_from}}},
                         {"to", {{"datetime", to_date}, {"version", to.version->version}, {"valid_from", to.version->valid_from}}},
                         {"class_field", class_field},
                         {"method", name_of(method)},
                         {"changed", area_json(changed)},
                         {"pieces", r.pieces.size()},
                         {"matrix", matrix},
                         {"class_names", classes}};
            std::string m = meta.dump();
            out += "]," + m.substr(1); // the members after the features
            res.set_content(std::move(out), "application/geo+json");
            return;
        }
        // The matrix as a table: a row per old class, a column per new class (m²).
        std::vector<std::string> olds;
        std::vector<std::string> news;
        for (const auto& m : r.matrix) {
            olds.push_back(m.first.first);
            news.push_back(m.first.second);
        }
        for (auto* v : {&olds, &news}) {
            std::sort(v->begin(), v->end());
            v->erase(std::unique(v->begin(), v->end()), v->end());
        }
        auto label = [&](const std::string& code) { return code.empty() ? std::string("(无)") : code + " " + name(code); };
        table matrix;
        matrix.name = "转移矩阵(平方米)";
        matrix.header.push_back("原地类 \\ 新地类");
        for (const auto& n : news) {
            matrix.header.push_back(label(n));
        }
        matrix.header.push_back("合计");
        for (const auto& o : olds) {
            std::vector<cell> row{cell(label(o))};
            double sum = 0;
            for (const auto& n : news) {
                const auto it = r.matrix.find({o, n});
                const double v = it == r.matrix.end() ? 0.0 : it->second;
                sum += v;
                row.emplace_back(rounded(v, 2), 2);
            }
            row.emplace_back(rounded(sum, 2), 2);
            matrix.rows.push_back(std::move(row));
        }
        table pieces;
        pieces.name = "变化图斑";
        pieces.header = {"原标识", "新标识", "原地类编码", "原地类名称", "新地类编码", "新地类名称", "面积(平方米)", "面积(公顷)", "面积(亩)"};
        for (const auto& p : r.pieces) {
            pieces.rows.push_back({cell(p.from_fid < 0 ? std::string() : std::to_string(p.from_fid)),
                                   cell(p.to_fid < 0 ? std::string() : std::to_string(p.to_fid)), cell(p.from_class),
                                   cell(name(p.from_class)), cell(p.to_class), cell(name(p.to_class)),
                                   cell(rounded(p.area, 2), 2), cell(p.area / HECTARE_M2, 4), cell(p.area / MU_M2, 2)});
        }
        send_table(res, format, {matrix, pieces}, "changes-" + to.layer->name + "-" + from_date + "-" + to_date);
    }

private:
    struct layer_at {
        const core::layer* layer = nullptr;
        const core::layer_version* version = nullptr;
    };

    static std::string check_ids(const analysis_config& cfg)
    {
        std::string ids;
        for (const auto& c : cfg.checks) {
            ids += (ids.empty() ? "" : ", ") + c.id;
        }
        return ids.empty() ? "none" : ids;
    }

    static bool has_attribute(const core::layer_version& v, const std::string& name)
    {
        return std::any_of(v.attributes.begin(), v.attributes.end(),
                           [&](const core::attribute& a) { return a.name == name; });
    }

    // The columns of `wanted` the version has (a configured attribute a version lacks is left
    // out of the answer, not an error).
    static std::vector<std::string> existing(const core::layer_version& v, const std::vector<std::string>& wanted)
    {
        std::vector<std::string> out;
        for (const auto& w : wanted) {
            if (has_attribute(v, w)) {
                out.push_back(w);
            }
        }
        return out;
    }

    // A version with `wanted` and every column the configuration reads from its layer, so that
    // the review, the statistics and the changes share one load of it.
    layer_data_ptr load(const core::layer& layer, const core::layer_version& v, std::vector<std::string> wanted)
    {
        const auto cfg = m_state.analysis();
        for (const auto& c : cfg->checks) {
            if (c.layer == layer.name) {
                wanted.insert(wanted.end(), c.attributes.begin(), c.attributes.end());
                wanted.push_back(c.class_field);
                wanted.push_back(c.name_field);
            }
        }
        if (cfg->land_use_layer == layer.name) {
            wanted.push_back(cfg->class_field);
            wanted.push_back(cfg->name_field);
        }
        for (const auto& l : m_state.locate_levels) {
            if (l.layer == layer.name) {
                wanted.push_back(l.code_field);
                wanted.push_back(l.name_field);
            }
        }
        return m_store.get(layer, v, existing(v, wanted));
    }

    static std::string date_param(const http_request& req, const char* name)
    {
        if (!req.has_param(name)) {
            throw missing_parameter(name);
        }
        const auto d = core::parse_date_or_instant(req.get_param_value(name));
        if (!d) {
            throw input_error(name, std::string(name) + " must be a date YYYY-MM-DD, got '" + req.get_param_value(name) + "'");
        }
        return *d;
    }

    static std::array<double, 4> bbox_param(const std::string& text)
    {
        std::array<double, 4> b{};
        if (!parse_bbox(text, b) || !(b[0] < b[2] && b[1] < b[3]) || b[0] < -180 || b[2] > 180 || b[1] < -90 ||
            b[3] > 90) {
            throw input_error("bbox", "bbox must be minlon,minlat,maxlon,maxlat with min < max, in degrees, got '" +
                                          text + "'");
        }
        return b;
    }

    // The land-use layer of the request (its `layer`, else the configured one) and its version on `date`.
    layer_at land_use_version(const http_request& req, const analysis_config& cfg, const std::string& date,
                              const char* date_parameter) const
    {
        std::string name = req.has_param("layer") ? req.get_param_value("layer") : cfg.land_use_layer;
        if (name.empty()) {
            throw missing_parameter("layer");
        }
        m_state.rules()->require(name, server_state::caller_of(req));
        const auto catalog = m_state.catalog_for(req);
        layer_at out;
        out.layer = core::find_public_layer(*catalog, name);
        if (out.layer == nullptr) {
            throw input_error("layer", "no layer '" + name + "' is published");
        }
        if (out.layer->geometry_type != "MULTIPOLYGON") {
            throw input_error("layer", "layer '" + name + "' has no areas (" + out.layer->geometry_type + ")");
        }
        out.version = out.layer->as_of(date);
        if (out.version == nullptr) {
            throw input_error(date_parameter, "layer '" + name + "' has no version on " + date);
        }
        return out;
    }

    std::string class_field_of(const http_request& req, const analysis_config& cfg, const core::layer_version& v) const
    {
        std::string f = req.has_param("class_field") ? req.get_param_value("class_field") : "";
        if (f.empty()) {
            const std::string layer = req.has_param("layer") ? req.get_param_value("layer") : cfg.land_use_layer;
            if (layer != cfg.land_use_layer || cfg.class_field.empty()) {
                throw missing_parameter("class_field");
            }
            f = cfg.class_field;
        }
        for (auto& c : f) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (!has_attribute(v, f)) {
            std::string names;
            for (const auto& a : v.attributes) {
                names += (names.empty() ? "" : ", ") + a.name;
            }
            throw input_error("class_field", "the layer has no attribute '" + f + "' (" + names + ")");
        }
        return f;
    }

    const locate_level& level_named(const http_request& req) const
    {
        if (!req.has_param("by")) {
            throw missing_parameter("by");
        }
        const std::string& by = req.get_param_value("by");
        std::string names;
        for (const auto& l : m_state.locate_levels) {
            if (l.level == by) {
                return l;
            }
            names += (names.empty() ? "" : ", ") + l.level;
        }
        throw input_error("by", "by must be one of " + (names.empty() ? std::string("(no locate levels)") : names) +
                                    ", got '" + by + "'");
    }

    // The boundary with this code on `date`, at whichever locate level has it.
    geom_ptr region_geometry(const http_request& req, const std::string& code, const std::string& date)
    {
        const auto catalog = m_state.catalog_for(req);
        const caller who = server_state::caller_of(req);
        for (const auto& l : m_state.locate_levels) {
            if (!m_state.rules()->visible(l.layer, who)) {
                continue;
            }
            const auto* layer = core::find_public_layer(*catalog, l.layer);
            const auto* v = layer != nullptr ? layer->as_of(date) : nullptr;
            if (v == nullptr) {
                continue;
            }
            const auto data = load(*layer, *v, {l.code_field, l.name_field});
            const int col = data->column(l.code_field);
            for (std::size_t i = 0; i < data->size(); ++i) {
                if (data->value(i, col) == code) {
                    return data->geometry(i);
                }
            }
        }
        throw input_error("region", "no region has code '" + code + "' on " + date);
    }

    static void first_vertex(const GEOSGeometry* g, double& x, double& y)
    {
        GEOSContextHandle_t h = geos();
        const GEOSGeometry* polygon = GEOSGeomTypeId_r(h, g) == GEOS_POLYGON ? g : GEOSGetGeometryN_r(h, g, 0);
        const GEOSCoordSequence* ring = GEOSGeom_getCoordSeq_r(h, GEOSGetExteriorRing_r(h, polygon));
        GEOSCoordSeq_getXY_r(h, ring, 0, &x, &y);
    }

    // The project must meet the city: some boundary of the coarsest locate level.
    void require_in_city(const std::vector<core::layer>& catalog, const GEOSGeometry* project,
                         const overlap_meter& meter, const std::string& date)
    {
        if (m_state.locate_levels.empty()) {
            return;
        }
        const locate_level& l = m_state.locate_levels.front();
        const auto* layer = core::find_public_layer(catalog, l.layer);
        const auto* v = layer != nullptr ? layer->as_of(date) : nullptr;
        if (v == nullptr) {
            return;
        }
        const auto data = load(*layer, *v, {l.code_field});
        const auto parts = data->parts(bounds_of(project));
        // Mostly a vertex of the project lies inside a boundary; else they are measured.
        double x = 0;
        double y = 0;
        first_vertex(project, x, y);
        for (const auto& part : parts) {
            if (wkb_contains(part.wkb, x, y)) {
                return;
            }
        }
        for (const auto& part : parts) {
            if (meter.area(part.wkb) > 0) {
                return;
            }
        }
        throw input_error("geometry", "the project lies outside the city: no " + l.level + " boundary (layer '" +
                                          l.layer + "') meets it on " + date);
    }

    // Written by hand: a review lists every overlapping parcel, and building a JSON tree for
    // each cost more than measuring them.
    static void append_area(std::string& out, double m2)
    {
        out += "{\"m2\":";
        append_fixed(out, rounded(m2, 2), 2);
        out += ",\"ha\":";
        append_fixed(out, rounded(m2 / HECTARE_M2, 4), 4);
        out += ",\"mu\":";
        append_fixed(out, rounded(m2 / MU_M2, 2), 2);
        out += '}';
    }

    static void append_member(std::string& out, const char* name, std::string_view value)
    {
        out += ",\"";
        out += name;
        out += "\":";
        append_json_string(out, value);
    }

    static void append_share(std::string& out, const char* name, double share)
    {
        out += ",\"";
        out += name;
        out += "\":";
        append_fixed(out, rounded(share, 6), 6);
    }

    std::string compliance_json(const compliance_result& r, const project& p, const std::string& date) const
    {
        std::string out;
        out.reserve(16384); // a review on parcels lists some 100 of them
        out += "{\"datetime\":";
        append_json_string(out, date);
        append_member(out, "input_crs", "EPSG:" + std::to_string(p.input_epsg));
        append_member(out, "method", name_of(r.method));
        append_member(out, "area_crs",
                      r.method == area_method::planar
                          ? "EPSG:" + std::to_string(gk_epsg(r.zone, false)) + " (CGCS2000 3-degree Gauss-Krüger zone " +
                                std::to_string(r.zone) + ")"
                          : std::string("GRS 80 ellipsoid (geodesic area)"));
        const bounds b = bounds_of(p.lonlat.get());
        out += ",\"project\":{\"area\":";
        append_area(out, r.project_area);
        out += ",\"vertices\":" + std::to_string(p.vertices) + ",\"polygons\":" + std::to_string(p.parts) + ",\"bbox\":[";
        for (const double v : {b.min_x, b.min_y, b.max_x, b.max_y}) {
            append_fixed(out, v, 9);
            out += ',';
        }
        out.back() = ']';
        out += "},\"checks\":[";
        for (const auto& c : r.checks) {
            out += "{\"id\":";
            append_json_string(out, c.config->id);
            append_member(out, "title", c.config->title);
            append_member(out, "layer", c.config->layer);
            append_member(out, "rule", c.config->rule == check_rule::avoid    ? "avoid"
                                       : c.config->rule == check_rule::within ? "within"
                                                                              : "classes");
            append_member(out, "conclusion", name_of(c.verdict));
            append_member(out, "message", message_of(c));
            if (c.verdict != conclusion::no_data) {
                out += ",\"version\":" + std::to_string(c.version);
                append_member(out, "valid_from", c.valid_from);
                out += ",\"overlap\":";
                append_area(out, c.overlap);
                append_share(out, "overlap_share", c.overlap / r.project_area);
                out += ",\"conflict_area\":";
                append_area(out, c.conflict);
                append_share(out, "conflict_share", c.conflict / r.project_area);
                out += ",\"features\":[";
                for (const auto& f : c.features) {
                    out += "{\"id\":";
                    out += std::to_string(f.fid);
                    out += ",\"properties\":{";
                    for (const auto& a : f.attributes) {
                        append_json_string(out, a.first);
                        out += ':';
                        append_json_string(out, a.second);
                        out += ',';
                    }
                    if (out.back() == ',') {
                        out.pop_back();
                    }
                    out += "},\"area\":";
                    append_area(out, f.area);
                    append_share(out, "share", f.area / r.project_area);
                    if (!f.class_code.empty()) {
                        append_member(out, "class", f.class_code);
                    }
                    out += "},";
                }
                if (out.back() == ',') {
                    out.pop_back();
                }
                out += ']';
                if (c.config->rule == check_rule::classes) {
                    out += ",\"classes\":[";
                    for (const auto& k : c.classes) {
                        out += "{\"class\":";
                        append_json_string(out, k.code);
                        append_member(out, "name", k.name);
                        out += ",\"area\":";
                        append_area(out, k.area);
                        append_share(out, "share", k.area / r.project_area);
                        out += std::string(",\"conflict\":") + (k.conflict ? "true" : "false") + "},";
                    }
                    if (out.back() == ',') {
                        out.pop_back();
                    }
                    out += ']';
                }
            }
            out += "},";
        }
        if (out.back() == ',') {
            out.pop_back();
        }
        out += ']';
        append_member(out, "conclusion", name_of(r.overall));
        append_member(out, "message", r.overall == conclusion::pass       ? "通过：未发现冲突"
                                      : r.overall == conclusion::conflict ? "不通过：存在冲突"
                                                                          : "不完整：部分图层在该日期无数据");
        out += '}';
        return out;
    }

    static std::string message_of(const check_result& c)
    {
        if (c.verdict == conclusion::no_data) {
            return "图层在该日期无数据";
        }
        const std::string ha = fixed(c.conflict / HECTARE_M2, 4) + " 公顷";
        switch (c.config->rule) {
        case check_rule::avoid:
            return c.verdict == conclusion::pass ? "不占用" + c.config->title : "占用" + c.config->title + " " + ha;
        case check_rule::within:
            return c.verdict == conclusion::pass ? "全部位于" + c.config->title + "内"
                                                 : "位于" + c.config->title + "外 " + ha;
        case check_rule::classes:
            break;
        }
        return c.verdict == conclusion::pass ? "不占用受控地类" : "占用受控地类 " + ha;
    }

    std::string compliance_html(const compliance_result& r, const project& p,
                                const std::string& date, const std::vector<core::layer>& catalog)
    {
        const auto cfg = m_state.analysis();
        std::string map_png;
        std::string map_note;
        if (const auto sets = m_state.tilesets(); !sets->empty()) {
            const std::string name = cfg->report_tileset.empty() ? sets->front().name : cfg->report_tileset;
            const auto composite = m_state.find_tileset(name);
            try {
                if (composite) {
                    map_png = render_report_map(
                        polygons_of(p.lonlat.get()), [&](int z, std::uint32_t x, std::uint32_t y) -> std::string {
                            const auto t = m_state.raster_tile_for(catalog, composite.get(), nullptr,
                                                                   core::web_mercator_quad(), z, x, y, date, 1.0);
                            return t ? t->body : std::string();
                        });
                }
            } catch (const onemap::error& e) {
                // The review stands without its map (a server without styles draws no basemap).
                log().warn("compliance report: no map: {}", e.what());
                map_note = std::string("（底图无法绘制：") + e.what() + "）";
            }
        }
        std::string h;
        h += "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>合规性审查报告</title><style>"
             "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #999;padding:4px 8px;text-align:left}td.n{text-align:right}"
             ".conflict{color:#c00;font-weight:bold}.pass{color:#070}"
             "@media print{body{margin:0}}</style></head><body>";
        h += "<h1>建设项目合规性审查报告</h1>";
        h += "<p>审查日期：" + markup_escape(date) + "　面积计算：" +
             (r.method == area_method::planar ? "CGCS2000 3度带高斯-克吕格投影平面面积（第 " + std::to_string(r.zone) +
                                                    " 带，EPSG:" + std::to_string(gk_epsg(r.zone, false)) + "）"
                                              : std::string("GRS 80 椭球面积")) +
             "</p>";
        h += "<p>项目面积：" + fixed(r.project_area, 2) + " 平方米 ＝ " + fixed(r.project_area / HECTARE_M2, 4) +
             " 公顷 ＝ " + fixed(r.project_area / MU_M2, 2) + " 亩</p>";
        const char* overall_class = r.overall == conclusion::conflict ? "conflict" : "pass";
        h += std::string("<p>总体结论：<span class=\"") + overall_class + "\">" +
             (r.overall == conclusion::pass       ? "通过"
              : r.overall == conclusion::conflict ? "不通过"
                                                  : "不完整") +
             "</span></p>";
        if (!map_png.empty()) {
            h += "<figure><img alt=\"项目红线与管控图层\" width=\"800\" height=\"600\" src=\"data:image/png;base64," +
                 base64(map_png) + "\"><figcaption>红线范围（红色）与底图管控图层</figcaption></figure>";
        } else {
            h += "<p>" + markup_escape(map_note.empty() ? "（未配置底图）" : map_note) + "</p>";
        }
        h += "<table><tr><th>审查项</th><th>图层</th><th>重叠面积(平方米)</th><th>公顷</th><th>亩</th><th>占项目比例</th>"
             "<th>结论</th></tr>";
        for (const auto& c : r.checks) {
            h += "<tr><td>" + markup_escape(c.config->title) + "</td><td>" + markup_escape(c.config->layer) +
                 "</td><td class=\"n\">" + fixed(c.conflict, 2) + "</td><td class=\"n\">" +
                 fixed(c.conflict / HECTARE_M2, 4) + "</td><td class=\"n\">" + fixed(c.conflict / MU_M2, 2) +
                 "</td><td class=\"n\">" + fixed(100 * c.conflict / r.project_area, 2) + "%</td><td class=\"" +
                 (c.verdict == conclusion::conflict ? "conflict" : "pass") + "\">" + markup_escape(message_of(c)) +
                 "</td></tr>";
        }
        h += "</table>";
        for (const auto& c : r.checks) {
            if (c.features.empty() && c.classes.empty()) {
                continue;
            }
            h += "<h2>" + markup_escape(c.config->title) + "</h2>";
            if (!c.classes.empty()) {
                h += "<table><tr><th>地类编码</th><th>地类名称</th><th>面积(平方米)</th><th>公顷</th><th>亩</th><th>受控</th></tr>";
                for (const auto& k : c.classes) {
                    h += "<tr><td>" + markup_escape(k.code) + "</td><td>" + markup_escape(k.name) + "</td><td class=\"n\">" +
                         fixed(k.area, 2) + "</td><td class=\"n\">" + fixed(k.area / HECTARE_M2, 4) +
                         "</td><td class=\"n\">" + fixed(k.area / MU_M2, 2) + "</td><td>" + (k.conflict ? "是" : "否") +
                         "</td></tr>";
                }
                h += "</table>";
            }
            if (!c.features.empty()) {
                h += "<table><tr><th>要素</th><th>属性</th><th>重叠面积(平方米)</th><th>亩</th></tr>";
                for (const auto& f : c.features) {
                    std::string attrs;
                    for (const auto& a : f.attributes) {
                        attrs += markup_escape(a.first) + "=" + markup_escape(a.second) + " ";
                    }
                    h += "<tr><td>" + std::to_string(f.fid) + "</td><td>" + attrs + "</td><td class=\"n\">" +
                         fixed(f.area, 2) + "</td><td class=\"n\">" + fixed(f.area / MU_M2, 2) + "</td></tr>";
                }
                h += "</table>";
            }
        }
        h += "</body></html>";
        return h;
    }

    static void send_table(http_response& res, const std::string& format, const std::vector<table>& tables,
                           const std::string& filename)
    {
        if (format == "csv") {
            res.set_content(to_csv(tables.front()), CSV_TYPE);
            res.set_header("Content-Disposition", "attachment; filename=\"" + filename + ".csv\"");
            return;
        }
        res.set_content(to_xlsx(tables), XLSX_TYPE);
        res.set_header("Content-Disposition", "attachment; filename=\"" + filename + ".xlsx\"");
    }

    server_state& m_state;
    feature_store m_store;
    core::single_flight<std::shared_ptr<const land_stats>> m_stats;
    std::mutex m_cache_mutex;
    core::lru_cache<std::shared_ptr<const land_stats>> m_stats_cache{64 << 20};
};

} // namespace

void register_analysis_routes(router& routes, server_state& state)
{
    auto api = std::make_shared<analysis_routes>(state);
    const route_options on_worker{nullptr, run_on::worker};
    // A review of a red line of ordinary size over data already held is answered on the I/O
    // thread (a hand-over to a worker cost as much as the review); compliance() moves the rest.
    routes.post("/analysis/compliance", [api](const http_request& req, http_response& res) { api->compliance(req, res); },
                route_options{nullptr, run_on::io_first});
    routes.get("/analysis/stats", [api](const http_request& req, http_response& res) { api->stats(req, res); },
               on_worker);
    routes.get("/analysis/changes", [api](const http_request& req, http_response& res) { api->changes(req, res); },
               on_worker);
}

} // namespace onemap::tileserver
