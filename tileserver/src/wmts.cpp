#include "onemap/tileserver/wmts.hpp"

#include "request_params.hpp"

#include "onemap/core/calendar.hpp"
#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"
#include "onemap/tileserver/http_encoding.hpp"
#include "onemap/tileserver/analysis/geometry.hpp"
#include "onemap/tileserver/raster_service.hpp"
#include "onemap/tileserver/tile_store.hpp"
#include "onemap/tileserver/http_errors.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/except>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <variant>
#include <set>

namespace onemap::tileserver {

namespace {

using catalog_ptr = std::shared_ptr<const std::vector<core::layer>>;

const char* const PNG = "image/png";
const char* const MVT = "application/vnd.mapbox-vector-tile";
const char* const JSON = "application/json";
const char* const HTML = "text/html";
const char* const DEFAULT_STYLE = "default";
/// Features within this many pixels of the clicked point answer GetFeatureInfo.
constexpr double INFO_TOLERANCE_PX = 3;
constexpr int INFO_MAX_FEATURES = 10;

nlohmann::json json_of(const core::mvt::value& v)
{
    return std::visit([](const auto& x) { return nlohmann::json(x); }, v);
}

// The held features within `tolerance` (degrees) of the point, nearest first, then by fid, at
// most `limit`: what the query's ST_DWithin … ORDER BY ST_Distance, fid LIMIT answers (GEOS's
// planar distance, as PostGIS's).
std::vector<std::pair<double, held_layer::record>> nearest_held(const held_layer& held, double x, double y,
                                                                double tolerance, int limit)
{
    GEOSContextHandle_t h = analysis::geos();
    const analysis::geom_ptr point = analysis::own(GEOSGeom_createPointFromXY_r(h, x, y), "point");
    std::vector<std::pair<double, held_layer::record>> near;
    held.query(core::box{x - tolerance, y - tolerance, x + tolerance, y + tolerance},
               [&](const held_layer::record& r) {
                   const analysis::geom_ptr g = analysis::from_wkb(r.wkb());
                   double d = 0;
                   if (GEOSDistance_r(h, g.get(), point.get(), &d) == 1 && d <= tolerance) {
                       near.emplace_back(d, r);
                   }
               });
    std::sort(near.begin(), near.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first < b.first : a.second.fid() < b.second.fid();
    });
    if (near.size() > static_cast<std::size_t>(limit)) {
        near.erase(near.begin() + limit, near.end());
    }
    return near;
}


std::string number(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

// An OWS 1.1 exception report (07-057r7 table 28 and OWS 1.1 table 25) for whatever a WMTS
// request threw, by the one mapping of errors (classify_exception).
void send_wmts_exception(http_response& res, std::exception_ptr error)
{
    const error_answer a = classify_exception(std::move(error));
    const char* code = "NoApplicableCode";
    switch (a.kind) {
    case error_kind::bad_value:
    case error_kind::not_found:
    case error_kind::forbidden:
        code = a.kind == error_kind::forbidden ? "NoApplicableCode" : "InvalidParameterValue";
        break;
    case error_kind::missing_value:
        code = "MissingParameterValue";
        break;
    case error_kind::out_of_range:
        code = a.parameter == "I" || a.parameter == "J" ? "PointIJOutOfRange" : "TileOutOfRange";
        break;
    case error_kind::version:
        code = "VersionNegotiationFailed";
        break;
    case error_kind::not_implemented:
        code = "OperationNotSupported";
        break;
    case error_kind::unavailable:
    case error_kind::internal:
        break;
    }
    std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<ows:ExceptionReport xmlns:ows=\"http://www.opengis.net/ows/1.1\" "
                       "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                       "xsi:schemaLocation=\"http://www.opengis.net/ows/1.1 "
                       "http://schemas.opengis.net/ows/1.1.0/owsExceptionReport.xsd\" version=\"1.0.0\" "
                       "xml:lang=\"en\">\n  <ows:Exception exceptionCode=\"";
    body += code;
    body += '"';
    if (!a.parameter.empty()) {
        body += " locator=\"" + markup_escape(a.parameter) + "\"";
    }
    body += ">\n    <ows:ExceptionText>" + markup_escape(a.detail) + "</ows:ExceptionText>\n  </ows:Exception>\n"
            "</ows:ExceptionReport>\n";
    res.status = a.status;
    res.set_content(std::move(body), "application/xml");
    if (a.retry_after_s > 0) {
        res.set_header("Retry-After", std::to_string(a.retry_after_s));
    }
}

// KVP parameters with case-insensitive names (07-057r7 §8.1: names are case-insensitive).
class kvp {
public:
    explicit kvp(const http_request& req)
    {
        for (const auto& [name, value] : req.params) {
            std::string key = name;
            std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::toupper(c); });
            m_values.emplace(std::move(key), value);
        }
    }
    const std::string* find(const std::string& upper) const
    {
        const auto it = m_values.find(upper);
        return it == m_values.end() ? nullptr : &it->second;
    }
    const std::string& required(const std::string& upper) const
    {
        const auto* v = find(upper);
        if (v == nullptr || v->empty()) {
            throw missing_parameter(upper);
        }
        return *v;
    }

private:
    std::map<std::string, std::string> m_values;
};

// The WMTS spelling of a set's CRS: URNs, lat/lon order for EPSG geographic CRSs.
std::string wmts_crs(const core::tile_matrix_set& tms)
{
    if (tms.epsg() == 4326) {
        return "urn:ogc:def:crs:OGC:1.3:CRS84";
    }
    return "urn:ogc:def:crs:EPSG::" + std::to_string(tms.epsg());
}

std::string top_left_corner(const core::tile_matrix_set& tms, const core::tile_matrix& m)
{
    if (tms.geographic() && tms.epsg() != 4326) { // EPSG axis order: latitude first
        return number(m.origin_y) + " " + number(m.origin_x);
    }
    return number(m.origin_x) + " " + number(m.origin_y);
}

// The fields of one request, whichever encoding it came in.
struct wmts_tile_request {
    std::string layer;
    std::string style;
    std::string tms_id;
    std::string matrix;
    std::string row;
    std::string col;
    std::string time; ///< "" = current
};

struct resolved_tile {
    const core::tile_matrix_set* tms = nullptr;
    int level = 0;
    std::uint64_t col = 0;
    std::uint64_t row = 0;
    std::string date;
};

struct wmts_layer {
    std::string name;
    std::string title;
    std::string abstract;
    const tileset_config* composite = nullptr;
    std::vector<const core::layer*> members; ///< catalog layers drawn (one for a plain layer)
};

class wmts_service {
public:
    explicit wmts_service(wmts_context ctx) : m_ctx(std::move(ctx)) {}

    /// \pre `sets` outlives the answer (its layers point into it).
    static std::vector<wmts_layer> layers(const std::vector<tileset_config>& sets,
                                          const std::vector<core::layer>& catalog)
    {
        std::vector<wmts_layer> out;
        for (const auto& t : sets) {
            wmts_layer w{t.name, t.title, t.description, &t, {}};
            for (const auto& m : t.layers) {
                if (const auto* l = find_layer(catalog, m.layer)) {
                    w.members.push_back(l);
                }
            }
            if (!w.members.empty()) {
                out.push_back(std::move(w));
            }
        }
        for (const auto& l : catalog) {
            if (l.is_public && !l.versions.empty()) {
                out.push_back(wmts_layer{l.name, l.title, l.department + " — " + l.theme, nullptr, {&l}});
            }
        }
        return out;
    }

    static const core::layer* find_layer(const std::vector<core::layer>& catalog, const std::string& name)
    {
        return core::find_public_layer(catalog, name);
    }

    std::string capabilities(const http_request& req) const
    {
        const catalog_ptr pinned = m_ctx.catalog(req);
        const std::string base = m_ctx.base_url(req);
        // A key given as ?key= goes into every URL: QGIS builds its requests from these.
        const std::string key = m_ctx.key_query ? m_ctx.key_query(req) : std::string();
        const std::string kvp_url = base + "/wmts?" + (key.empty() ? "" : key + "&");
        const std::string rest_url = base + "/wmts/1.0.0/";
        const std::string rest_query = key.empty() ? "" : "?" + key;
        std::string x;
        x.reserve(1 << 20);
        x += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<Capabilities xmlns=\"http://www.opengis.net/wmts/1.0\" xmlns:ows=\"http://www.opengis.net/ows/1.1\" "
             "xmlns:xlink=\"http://www.w3.org/1999/xlink\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
             "xmlns:gml=\"http://www.opengis.net/gml\" xsi:schemaLocation=\"http://www.opengis.net/wmts/1.0 "
             "http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd\" version=\"1.0.0\">\n"
             "  <ows:ServiceIdentification>\n"
             "    <ows:Title>onemap</ows:Title>\n"
             "    <ows:Abstract>The city's unified basemap and department layers (一张图), versioned in time</ows:Abstract>\n"
             "    <ows:ServiceType>OGC WMTS</ows:ServiceType>\n"
             "    <ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion>\n"
             "  </ows:ServiceIdentification>\n"
             "  <ows:ServiceProvider>\n"
             "    <ows:ProviderName>onemap</ows:ProviderName>\n"
             "    <ows:ServiceContact/>\n"
             "  </ows:ServiceProvider>\n"
             "  <ows:OperationsMetadata>\n";
        for (const char* op : {"GetCapabilities", "GetTile", "GetFeatureInfo"}) {
            x += std::string("    <ows:Operation name=\"") + op + "\">\n      <ows:DCP>\n        <ows:HTTP>\n";
            for (const auto& [href, encoding] : {std::pair{kvp_url, "KVP"}, std::pair{rest_url, "RESTful"}}) {
                x += "          <ows:Get xlink:href=\"" + markup_escape(href) +
                     "\">\n            <ows:Constraint name=\"GetEncoding\">\n              <ows:AllowedValues>\n"
                     "                <ows:Value>" +
                     encoding + "</ows:Value>\n              </ows:AllowedValues>\n            </ows:Constraint>\n"
                                "          </ows:Get>\n";
            }
            x += "        </ows:HTTP>\n      </ows:DCP>\n    </ows:Operation>\n";
        }
        x += "  </ows:OperationsMetadata>\n  <Contents>\n";
        const auto sets = m_ctx.tilesets();
        for (const auto& l : layers(*sets, *pinned)) {
            append_layer(x, l, rest_url, rest_query);
        }
        for (const auto* tms : core::all_tile_matrix_sets()) {
            append_tile_matrix_set(x, *tms);
        }
        x += "  </Contents>\n  <ServiceMetadataURL xlink:href=\"" +
             markup_escape(rest_url + "WMTSCapabilities.xml" + rest_query) + "\"/>\n</Capabilities>\n";
        return x;
    }

    static void append_layer(std::string& x, const wmts_layer& l, const std::string& rest_url,
                             const std::string& query)
    {
        std::optional<core::box> bbox;
        std::set<std::string> dates;
        const std::string today = core::today();
        std::string current;
        for (const auto* m : l.members) {
            for (const auto& v : m->versions) {
                dates.insert(v.valid_from);
                if (v.valid_from <= today && v.valid_from > current) {
                    current = v.valid_from;
                }
                if (v.bbox) {
                    if (!bbox) {
                        bbox = *v.bbox;
                    } else {
                        bbox->min_x = std::min(bbox->min_x, v.bbox->min_x);
                        bbox->min_y = std::min(bbox->min_y, v.bbox->min_y);
                        bbox->max_x = std::max(bbox->max_x, v.bbox->max_x);
                        bbox->max_y = std::max(bbox->max_y, v.bbox->max_y);
                    }
                }
            }
        }
        if (current.empty() && !dates.empty()) {
            current = *dates.begin();
        }
        const core::box b = bbox.value_or(core::box{-180, -85, 180, 85});
        x += "    <Layer>\n      <ows:Title>" + markup_escape(l.title) + "</ows:Title>\n";
        if (!l.abstract.empty()) {
            x += "      <ows:Abstract>" + markup_escape(l.abstract) + "</ows:Abstract>\n";
        }
        x += "      <ows:WGS84BoundingBox>\n        <ows:LowerCorner>" + number(b.min_x) + " " + number(b.min_y) +
             "</ows:LowerCorner>\n        <ows:UpperCorner>" + number(b.max_x) + " " + number(b.max_y) +
             "</ows:UpperCorner>\n      </ows:WGS84BoundingBox>\n";
        x += "      <ows:Identifier>" + markup_escape(l.name) + "</ows:Identifier>\n";
        x += "      <Style isDefault=\"true\">\n        <ows:Title>Default</ows:Title>\n        <ows:Identifier>" +
             std::string(DEFAULT_STYLE) + "</ows:Identifier>\n      </Style>\n";
        x += std::string("      <Format>") + PNG + "</Format>\n      <Format>" + MVT + "</Format>\n";
        x += std::string("      <InfoFormat>") + JSON + "</InfoFormat>\n      <InfoFormat>" + HTML + "</InfoFormat>\n";
        x += "      <Dimension>\n        <ows:Title>Version date</ows:Title>\n        <ows:Abstract>The data as it "
             "was on this date: each value is the date a version took effect</ows:Abstract>\n"
             "        <ows:Identifier>time</ows:Identifier>\n        <ows:UOM>ISO8601</ows:UOM>\n        <Default>" +
             current + "</Default>\n";
        for (const auto& d : dates) {
            x += "        <Value>" + d + "</Value>\n";
        }
        x += "      </Dimension>\n";
        for (const auto* tms : core::all_tile_matrix_sets()) {
            x += "      <TileMatrixSetLink>\n        <TileMatrixSet>" + tms->id() +
                 "</TileMatrixSet>\n        <TileMatrixSetLimits>\n";
            for (const auto& m : tms->matrices()) {
                const auto r = tms->tile_range(m.level, b);
                if (r.min_row == 0 || r.min_col == 0) {
                    // The official schema types the limits xs:positiveInteger: a level whose
                    // limits start at row or column 0 is left unlimited rather than invalid.
                    continue;
                }
                x += "          <TileMatrixLimits>\n            <TileMatrix>" + m.identifier +
                     "</TileMatrix>\n            <MinTileRow>" + std::to_string(r.min_row) +
                     "</MinTileRow>\n            <MaxTileRow>" + std::to_string(r.max_row) +
                     "</MaxTileRow>\n            <MinTileCol>" + std::to_string(r.min_col) +
                     "</MinTileCol>\n            <MaxTileCol>" + std::to_string(r.max_col) +
                     "</MaxTileCol>\n          </TileMatrixLimits>\n";
            }
            x += "        </TileMatrixSetLimits>\n      </TileMatrixSetLink>\n";
        }
        const std::string prefix = rest_url + l.name + "/{Style}/{time}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}";
        x += "      <ResourceURL format=\"" + std::string(PNG) + "\" resourceType=\"tile\" template=\"" +
             markup_escape(prefix + ".png" + query) + "\"/>\n";
        x += "      <ResourceURL format=\"" + std::string(MVT) + "\" resourceType=\"tile\" template=\"" +
             markup_escape(prefix + ".mvt" + query) + "\"/>\n";
        x += "      <ResourceURL format=\"" + std::string(JSON) + "\" resourceType=\"FeatureInfo\" template=\"" +
             markup_escape(prefix + "/{J}/{I}.json" + query) + "\"/>\n";
        x += "      <ResourceURL format=\"" + std::string(HTML) + "\" resourceType=\"FeatureInfo\" template=\"" +
             markup_escape(prefix + "/{J}/{I}.html" + query) + "\"/>\n";
        x += "    </Layer>\n";
    }

    static void append_tile_matrix_set(std::string& x, const core::tile_matrix_set& tms)
    {
        x += "    <TileMatrixSet>\n      <ows:Title>" + markup_escape(tms.title()) + "</ows:Title>\n      <ows:Identifier>" +
             tms.id() + "</ows:Identifier>\n      <ows:SupportedCRS>" + wmts_crs(tms) + "</ows:SupportedCRS>\n";
        if (tms.id() == "WebMercatorQuad") {
            x += "      <WellKnownScaleSet>urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible</WellKnownScaleSet>\n";
        }
        for (const auto& m : tms.matrices()) {
            x += "      <TileMatrix>\n        <ows:Identifier>" + m.identifier +
                 "</ows:Identifier>\n        <ScaleDenominator>" + number(m.scale_denominator) +
                 "</ScaleDenominator>\n        <TopLeftCorner>" + top_left_corner(tms, m) +
                 "</TopLeftCorner>\n        <TileWidth>" + std::to_string(m.tile_width) +
                 "</TileWidth>\n        <TileHeight>" + std::to_string(m.tile_height) +
                 "</TileHeight>\n        <MatrixWidth>" + std::to_string(m.matrix_width) +
                 "</MatrixWidth>\n        <MatrixHeight>" + std::to_string(m.matrix_height) +
                 "</MatrixHeight>\n      </TileMatrix>\n";
        }
        x += "    </TileMatrixSet>\n";
    }

    // Checks layer, style, matrix set, matrix, row, column and time; the tile they name.
    resolved_tile resolve(const wmts_tile_request& a, const std::vector<core::layer>& catalog) const
    {
        if (!has_layer(a.layer, catalog)) {
            throw input_error("LAYER", "no layer '" + a.layer + "'");
        }
        if (!a.style.empty() && a.style != DEFAULT_STYLE) {
            throw input_error("STYLE", "layer '" + a.layer + "' has one style, 'default'; got '" + a.style + "'");
        }
        resolved_tile t;
        t.tms = core::find_tile_matrix_set(a.tms_id);
        if (t.tms == nullptr) {
            throw input_error("TILEMATRIXSET", "no tile matrix set '" + a.tms_id + "'");
        }
        const tile_address at = parse_tile_address(*t.tms, a.matrix, a.col, a.row, {"TILEMATRIX", "TILECOL", "TILEROW"});
        t.level = at.level;
        t.col = at.col;
        t.row = at.row;
        t.date = resolve_time(a.time);
        return t;
    }

    /// The composite, kept alive (with the rest of its configuration) while the caller holds it.
    std::shared_ptr<const tileset_config> find_tileset(const std::string& name) const
    {
        return tileserver::find_tileset(m_ctx.tilesets(), name);
    }

    bool has_layer(const std::string& name, const std::vector<core::layer>& catalog) const
    {
        if (find_tileset(name) != nullptr) {
            return true;
        }
        const auto* l = find_layer(catalog, name);
        return l != nullptr && !l->versions.empty();
    }

    // "" and "current" mean today; a date or an RFC 3339 instant picks the versions valid then.
    // Clients that do not fill the template's {time} send it literally: that is the default.
    static std::string resolve_time(const std::string& value)
    {
        if (value.empty() || value == "current" || value == "{time}" || value == "{Time}") {
            return core::today();
        }
        const auto date = core::parse_date_or_instant(value);
        if (!date) {
            throw input_error("TIME", "TIME must be a date YYYY-MM-DD (or an RFC 3339 instant, or 'current'), got '" +
                                      value + "'");
        }
        return *date;
    }

    static tile_format parse_format(const std::string& format, const char* parameter)
    {
        if (format == PNG || format == "png") {
            return tile_format::png;
        }
        if (format == MVT || format == "mvt" || format == "application/x-protobuf" || format == "pbf") {
            return tile_format::mvt;
        }
        throw input_error(parameter, std::string(parameter) + " must be " + PNG + " or " + MVT + ", got '" + format + "'");
    }

    void get_tile(const http_request& req, http_response& res, const wmts_tile_request& a, tile_format format) const
    {
        const catalog_ptr pinned = m_ctx.catalog(req);
        const resolved_tile t = resolve(a, *pinned);
        const auto tile = m_ctx.tile(*pinned, a.layer, format, *t.tms, t.level, t.col, t.row, t.date);
        res.set_header("Cache-Control", "public, max-age=300");
        if (!tile) {
            res.status = 204; // GDAL, QGIS and OpenLayers read 204 as an empty tile
            return;
        }
        m_ctx.send_tile(req, res, tile, format == tile_format::png ? PNG : MVT);
    }

    // Features under pixel (i, j) of a tile, nearest first, from each layer drawn there.
    void feature_info(const http_request& req, http_response& res, const wmts_tile_request& a,
                      const std::string& i_text, const std::string& j_text, bool html) const
    {
        const catalog_ptr pinned = m_ctx.catalog(req);
        const resolved_tile t = resolve(a, *pinned);
        const auto i = parse_index(i_text, "I");
        const auto j = parse_index(j_text, "J");
        const auto* m = t.tms->matrix(t.level);
        if (i >= m->tile_width) {
            throw out_of_range("I",
                            "I " + i_text + " is outside 0.." + std::to_string(m->tile_width - 1));
        }
        if (j >= m->tile_height) {
            throw out_of_range("J",
                            "J " + j_text + " is outside 0.." + std::to_string(m->tile_height - 1));
        }
        const core::box tb = t.tms->tile_bounds(t.level, t.col, t.row);
        double x = tb.min_x + (static_cast<double>(i) + 0.5) * m->cell_size;
        double y = tb.max_y - (static_cast<double>(j) + 0.5) * m->cell_size;
        if (!t.tms->geographic()) {
            x = core::mercator_x_to_lon(x);
            y = core::mercator_y_to_lat(y);
        }
        const core::box lonlat_tile = t.tms->tile_bounds_lonlat(t.level, t.col, t.row);
        const double tolerance = INFO_TOLERANCE_PX * lonlat_tile.width() / m->tile_width;

        // The layers drawn at this level, in drawing order (resolve() made sure the name is
        // a composite or a layer of this catalog snapshot).
        const auto composite = find_tileset(a.layer);
        const auto queried = raster_service::picks_at(
            *pinned, composite.get(), composite == nullptr ? find_layer(*pinned, a.layer) : nullptr, *t.tms, t.level, t.date);

        nlohmann::json features = nlohmann::json::array();
        {
            std::optional<core::connection_pool::lease> conn; // only for versions not held
            std::optional<pqxx::read_transaction> txn;
            // Top of the drawing first: the layer the user sees is the last one drawn.
            for (auto it = queried.rbegin(); it != queried.rend(); ++it) {
                const core::layer* layer = it->layer;
                const core::layer_version* version = it->version;
                auto add = [&](std::int64_t fid, nlohmann::json props) {
                    features.push_back({{"type", "Feature"},
                                        {"id", fid},
                                        {"layer", layer->name},
                                        {"version", version->version},
                                        {"properties", std::move(props)},
                                        {"geometry", nullptr}});
                };
                if (const held_layer_ptr held = m_ctx.store != nullptr ? m_ctx.store->find(*version, version->table)
                                                                       : nullptr) {
                    for (const auto& [distance, r] : nearest_held(*held, x, y, tolerance, INFO_MAX_FEATURES)) {
                        nlohmann::json props = nlohmann::json::object();
                        r.each_value(held->columns(), [&](std::size_t k, std::optional<std::string_view> text) {
                            const auto& attr = version->attributes[k];
                            props[attr.name] = text ? json_of(attribute_value(attr, *text)) : nlohmann::json();
                        });
                        add(r.fid(), std::move(props));
                    }
                    continue;
                }
                if (!txn) {
                    conn.emplace(m_ctx.pool->acquire());
                    txn.emplace(**conn);
                }
                std::string sql = "SELECT fid";
                for (const auto& attr : version->attributes) {
                    sql += ", " + core::quote_ident(attr.name);
                }
                // Identifiers come from the catalog; the point and tolerance are bound.
                sql += " FROM " + core::qualified(core::DATA_SCHEMA, version->table) +
                       " WHERE geom && ST_Expand(ST_SetSRID(ST_MakePoint($1, $2), 4490), $3)"
                       " AND ST_DWithin(geom, ST_SetSRID(ST_MakePoint($1, $2), 4490), $3)"
                       " ORDER BY ST_Distance(geom, ST_SetSRID(ST_MakePoint($1, $2), 4490)), fid LIMIT $4";
                const auto rows = txn->exec_params(sql, x, y, tolerance, INFO_MAX_FEATURES);
                for (const auto& r : rows) {
                    nlohmann::json props = nlohmann::json::object();
                    for (std::size_t k = 0; k < version->attributes.size(); ++k) {
                        const auto& f = r[static_cast<pqxx::row::size_type>(k + 1)];
                        const auto& attr = version->attributes[k];
                        props[attr.name] = f.is_null() ? nlohmann::json() : json_of(attribute_value(attr, f));
                    }
                    add(r[0].as<std::int64_t>(), std::move(props));
                }
            }
        }
        if (!html) {
            const nlohmann::json doc = {{"type", "FeatureCollection"},
                                        {"lon", x},
                                        {"lat", y},
                                        {"datetime", t.date},
                                        {"features", features}};
            res.set_content(doc.dump(), "application/geo+json");
            return;
        }
        std::string h = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + markup_escape(a.layer) +
                        "</title></head><body>\n";
        char where[96];
        std::snprintf(where, sizeof where, "%.7f, %.7f", x, y);
        h += "<p>" + std::string(where) + " · " + t.date + "</p>\n";
        if (features.empty()) {
            h += "<p>No feature here.</p>\n";
        }
        for (const auto& f : features) {
            h += "<table border=\"1\"><caption>" + markup_escape(f["layer"].get<std::string>()) + " #" +
                 std::to_string(f["id"].get<long long>()) + "</caption>\n";
            for (const auto& [k, v] : f["properties"].items()) {
                h += "<tr><th>" + markup_escape(k) + "</th><td>" +
                     markup_escape(v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump()) + "</td></tr>\n";
            }
            h += "</table>\n";
        }
        h += "</body></html>\n";
        res.set_content(h, "text/html; charset=utf-8");
    }

    void handle_kvp(const http_request& req, http_response& res) const
    {
        const kvp p(req);
        const auto* service = p.find("SERVICE");
        if (service == nullptr || service->empty()) {
            throw missing_parameter("SERVICE");
        }
        if (*service != "WMTS") {
            throw input_error("SERVICE", "SERVICE must be WMTS, got '" + *service + "'");
        }
        const std::string& request = p.required("REQUEST");
        if (request == "GetCapabilities") {
            if (const auto* v = p.find("ACCEPTVERSIONS"); v != nullptr && v->find("1.0.0") == std::string::npos) {
                throw version_mismatch("ACCEPTVERSIONS",
                                "this server speaks WMTS 1.0.0 only, not " + *v);
            }
            res.set_header("Cache-Control", "public, max-age=60");
            res.set_content(capabilities(req), "application/xml");
            return;
        }
        if (request != "GetTile" && request != "GetFeatureInfo") {
            throw not_implemented("REQUEST",
                            "REQUEST must be GetCapabilities, GetTile or GetFeatureInfo, got '" + request + "'");
        }
        if (const auto* v = p.find("VERSION"); v == nullptr || v->empty()) {
            throw missing_parameter("VERSION");
        } else if (*v != "1.0.0") {
            throw input_error("VERSION", "VERSION must be 1.0.0, got '" + *v + "'");
        }
        wmts_tile_request a;
        a.layer = p.required("LAYER");
        const auto* style = p.find("STYLE");
        if (style == nullptr) {
            throw missing_parameter("STYLE");
        }
        a.style = *style;
        a.tms_id = p.required("TILEMATRIXSET");
        a.matrix = p.required("TILEMATRIX");
        a.row = p.required("TILEROW");
        a.col = p.required("TILECOL");
        if (const auto* time = p.find("TIME")) {
            a.time = *time;
        }
        if (request == "GetTile") {
            get_tile(req, res, a, parse_format(p.required("FORMAT"), "FORMAT"));
            return;
        }
        const std::string& info = p.required("INFOFORMAT");
        if (info != JSON && info != HTML && info != "application/geo+json") {
            throw input_error("INFOFORMAT", std::string("INFOFORMAT must be ") + JSON + " or " + HTML + ", got '" + info + "'");
        }
        feature_info(req, res, a, p.required("I"), p.required("J"), info == HTML);
    }

private:
    wmts_context m_ctx;
};

} // namespace

void register_wmts(router& routes, wmts_context ctx)
{
    auto service = std::make_shared<const wmts_service>(std::move(ctx));
    const route_options ows{send_wmts_exception, run_on::io_first};
    // Capabilities are built from the catalog for each request: a worker's job.
    const route_options ows_worker{send_wmts_exception, run_on::worker};
    routes.get("/wmts", [service](const http_request& req, http_response& res) { service->handle_kvp(req, res); },
               ows);
    routes.get(
        "/wmts/1.0.0/WMTSCapabilities.xml",
        [service](const http_request& req, http_response& res) {
            res.set_header("Cache-Control", "public, max-age=60");
            res.set_content(service->capabilities(req), "application/xml");
        },
        ows_worker);
    // {layer}/{style}[/{time}]/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.{png|mvt}, and
    // GetFeatureInfo: the same followed by /{J}/{I}.{json|html}. With and without the time
    // segment; `n` is where the parameters after the address start.
    for (const bool timed : {false, true}) {
        const std::string address = timed ? "/wmts/1.0.0/{layer}/{style}/{time}/{tms}/{matrix}/{row}/{col}"
                                          : "/wmts/1.0.0/{layer}/{style}/{tms}/{matrix}/{row}/{col}";
        const std::size_t n = timed ? 7 : 6;
        auto address_of = [timed](const http_request& req) {
            const std::size_t t = timed ? 1 : 0;
            return wmts_tile_request{req.path_param(0),     req.path_param(1),     req.path_param(2 + t),
                                     req.path_param(3 + t), req.path_param(4 + t), req.path_param(5 + t),
                                     timed ? req.path_param(2) : std::string()};
        };
        routes.get(
            address + ".{format:png|mvt}",
            [service, address_of, n](const http_request& req, http_response& res) {
                service->get_tile(req, res, address_of(req), wmts_service::parse_format(req.path_param(n), "format"));
            },
            ows);
        routes.get(
            address + "/{j}/{i}.{format:json|html}",
            [service, address_of, n](const http_request& req, http_response& res) {
                service->feature_info(req, res, address_of(req), req.path_param(n + 1), req.path_param(n),
                                      req.path_param(n + 2) == "html");
            },
            ows);
    }
    routes.get(
        "/wmts/*",
        [](const http_request& req, http_response&) {
            throw not_found("no WMTS resource at " + req.path);
        },
        ows);
}

} // namespace onemap::tileserver
