#include "onemap/tileserver/features_api.hpp"

#include "request_params.hpp"

#include "onemap/core/calendar.hpp"
#include "onemap/core/error.hpp"
#include "onemap/tileserver/http_errors.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <optional>
#include <set>

namespace onemap::tileserver {

namespace {

using json = nlohmann::json;

const char* CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const char* EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490";
const char* EPSG3857 = "http://www.opengis.net/def/crs/EPSG/0/3857";
/// The latitude where Web Mercator's square world ends (atan(sinh(pi)), in degrees).
constexpr double WEB_MERCATOR_MAX_LAT = 85.0511287798066;

const std::set<std::string> RESERVED{"bbox", "bbox-crs", "datetime", "limit", "offset", "crs", "f"};

std::string lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

long long parse_int(const std::string& text, const char* parameter, long long min, long long max)
{
    long long v = 0;
    const auto* end = text.data() + text.size();
    const auto [p, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc() || p != end || v < min || v > max) {
        throw input_error(parameter, std::string(parameter) + " must be an integer in " + std::to_string(min) + ".." +
                                         std::to_string(max) + ", got '" + text + "'");
    }
    return v;
}

// A double as the shortest text that reads back to it.
std::string shortest(double v)
{
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

// One end of a `datetime`: a date or an RFC 3339 date-time (its date counts); "" or ".." is
// open.
std::optional<std::string> datetime_bound(const std::string& text, const std::string& whole)
{
    if (text.empty() || text == "..") {
        return std::nullopt;
    }
    const auto d = core::parse_date_or_instant(text);
    if (!d) {
        throw input_error("datetime", "datetime must be YYYY-MM-DD, an RFC 3339 date-time or an interval a/b of "
                                      "them (.. for an open end), got '" + whole + "'");
    }
    return *d;
}

// The versions of a layer an OGC request means, latest first: for an instant (a date or an
// RFC 3339 date-time; today without `datetime`) the version valid then; for an interval
// "a/b" every version valid at some time in it.
std::vector<const core::layer_version*> versions_for(const core::layer& l, const http_request& req)
{
    std::vector<const core::layer_version*> out;
    const std::string v = req.has_param("datetime") ? req.get_param_value("datetime") : core::today();
    const auto slash = v.find('/');
    if (slash == std::string::npos) {
        const auto date = datetime_bound(v, v);
        if (!date) {
            throw input_error("datetime", "datetime '" + v + "' is open on both sides: give a date or an interval");
        }
        if (const auto* version = l.as_of(*date)) {
            out.push_back(version);
        }
        return out;
    }
    const auto from = datetime_bound(v.substr(0, slash), v);
    const auto to = datetime_bound(v.substr(slash + 1), v);
    if (from && to && *to < *from) {
        throw input_error("datetime", "datetime interval ends before it starts: '" + v + "'");
    }
    for (auto it = l.versions.rbegin(); it != l.versions.rend(); ++it) {
        const bool starts_in_time = !to || it->valid_from <= *to;
        const bool ends_after = !from || !it->valid_to || *it->valid_to > *from;
        if (starts_in_time && ends_after) {
            out.push_back(&*it);
        }
    }
    return out;
}

json collection_json(const core::layer& l, const std::string& base)
{
    json bbox = json::array();
    for (const auto& v : l.versions) {
        if (v.bbox) {
            bbox.push_back({v.bbox->min_x, v.bbox->min_y, v.bbox->max_x, v.bbox->max_y});
            break;
        }
    }
    const std::string first = l.versions.empty() ? std::string() : l.versions.front().valid_from;
    const std::string url = base + "/ogc/collections/" + l.name;
    return {{"id", l.name},
            {"title", l.title},
            {"description", l.title + " (" + l.department + ", " + l.theme + ")"},
            {"itemType", "feature"},
            {"crs", {CRS84, EPSG4490, EPSG3857}},
            {"storageCrs", EPSG4490},
            {"extent",
             {{"spatial", {{"bbox", bbox}, {"crs", CRS84}}},
              {"temporal", {{"interval", json::array({json::array({first + "T00:00:00Z", nullptr})})}}}}},
            {"links",
             {{{"href", url}, {"rel", "self"}, {"type", "application/json"}},
              {{"href", url + "/items"}, {"rel", "items"}, {"type", "application/geo+json"}}}}};
}

class features_api {
public:
    explicit features_api(features_context ctx) : m_ctx(std::move(ctx)) {}

    json landing(const http_request& req) const
    {
        const std::string base = m_ctx.base_url(req) + "/ogc";
        return {{"title", "onemap"},
                {"description", "OGC API - Features over the city's one-map layers"},
                {"links",
                 {{{"href", base}, {"rel", "self"}, {"type", "application/json"}},
                  {{"href", base + "/api"}, {"rel", "service-desc"}, {"type", "application/vnd.oai.openapi+json;version=3.0"}},
                  {{"href", base + "/conformance"}, {"rel", "conformance"}, {"type", "application/json"}},
                  {{"href", base + "/collections"}, {"rel", "data"}, {"type", "application/json"}}}}};
    }

    static json conformance()
    {
        return {{"conformsTo",
                 {"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
                  "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
                  "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"}}};
    }

    json collections(const http_request& req) const
    {
        const std::string base = m_ctx.base_url(req);
        json list = json::array();
        for (const auto& l : *m_ctx.catalog(req)) {
            if (l.is_public) {
                list.push_back(collection_json(l, base));
            }
        }
        return {{"collections", list},
                {"links", {{{"href", base + "/ogc/collections"}, {"rel", "self"}, {"type", "application/json"}}}}};
    }

    json collection(const http_request& req, const std::string& id) const
    {
        const auto cat = m_ctx.catalog(req);
        return collection_json(find(*cat, id), m_ctx.base_url(req));
    }

    // Items or one item: GeoJSON text, and the CRS written in Content-Crs.
    std::pair<std::string, std::string> items(const http_request& req, const std::string& id,
                                              const std::string* feature_id) const
    {
        const auto cat = m_ctx.catalog(req);
        const core::layer& l = find(*cat, id);
        const auto versions = versions_for(l, req);
        const core::layer_version* v = versions.empty() ? nullptr : versions.front();

        // Output CRS (Part 2): EPSG:4490 in its own axis order (latitude first).
        const std::string crs = req.has_param("crs") ? req.get_param_value("crs") : CRS84;
        std::string geom_sql;
        if (crs == CRS84) {
            geom_sql = "geom";
        } else if (crs == EPSG4490) {
            geom_sql = "ST_FlipCoordinates(geom)";
        } else if (crs == EPSG3857) {
            // Web Mercator holds latitudes within ±85.0511° only: refuse a collection whose
            // features lie beyond rather than let the transformation fail in PostgreSQL.
            for (const auto* version : versions) {
                if (version->bbox && (version->bbox->min_y < -WEB_MERCATOR_MAX_LAT ||
                                       version->bbox->max_y > WEB_MERCATOR_MAX_LAT)) {
                    throw input_error("crs", "collection '" + id + "' has coordinates beyond latitude ±85.0511°, "
                                             "which " + std::string(EPSG3857) + " cannot represent; use " + CRS84 +
                                             " or " + EPSG4490);
                }
            }
            geom_sql = "ST_Transform(geom, 3857)";
        } else {
            throw input_error("crs", "crs must be one of " + std::string(CRS84) + ", " + EPSG4490 + ", " + EPSG3857);
        }

        std::vector<std::string> where;
        std::vector<std::pair<std::string, std::string>> property_filters; // column, placeholder
        std::vector<std::string> values;
        auto bind = [&values](std::string value_text) {
            values.push_back(std::move(value_text));
            return "$" + std::to_string(values.size());
        };
        long long limit = m_ctx.limits.default_limit;
        long long offset = 0;
        if (feature_id == nullptr) {
            for (const auto& [name, value] : req.params) {
                if (RESERVED.count(name) != 0) {
                    continue;
                }
                const core::attribute* attr = nullptr;
                if (v != nullptr) {
                    for (const auto& a : v->attributes) {
                        if (a.name == lower(name)) {
                            attr = &a;
                        }
                    }
                }
                if (attr == nullptr) {
                    throw input_error(name, "unknown query parameter '" + name + "' (not a property of " + id + ")");
                }
                property_filters.emplace_back(attr->name, bind(value));
            }
            if (req.has_param("limit")) {
                limit = parse_int(req.get_param_value("limit"), "limit", 1, m_ctx.limits.max_limit);
            }
            if (req.has_param("offset")) {
                offset = parse_int(req.get_param_value("offset"), "offset", 0, 1000000000000LL);
            }
            if (req.has_param("bbox")) {
                const std::string& text = req.get_param_value("bbox");
                std::array<double, 4> b{};
                if (!parse_bbox(text, b)) {
                    throw input_error("bbox", "bbox must be four numbers minx,miny,maxx,maxy with min <= max, got '" +
                                                  text + "'");
                }
                const std::string bcrs = req.has_param("bbox-crs") ? req.get_param_value("bbox-crs") : CRS84;
                // The corners bound as shortest round-trip text: no precision lost on the way.
                auto corners = [&](int x0, int y0, int x1, int y1) {
                    return bind(shortest(b[x0])) + "::float8, " + bind(shortest(b[y0])) + "::float8, " +
                           bind(shortest(b[x1])) + "::float8, " + bind(shortest(b[y1])) + "::float8";
                };
                std::string env;
                if (bcrs == CRS84) {
                    env = "ST_MakeEnvelope(" + corners(0, 1, 2, 3) + ", 4490)";
                } else if (bcrs == EPSG4490) { // latitude first
                    env = "ST_MakeEnvelope(" + corners(1, 0, 3, 2) + ", 4490)";
                    b = {b[1], b[0], b[3], b[2]};
                } else if (bcrs == EPSG3857) {
                    env = "ST_Transform(ST_MakeEnvelope(" + corners(0, 1, 2, 3) + ", 3857), 4490)";
                    // The area limit is in degrees: the corners back to lon/lat (spherical Mercator).
                    const auto lon = [](double x) { return x / 6378137.0 * 180.0 / M_PI; };
                    const auto lat = [](double y) { return std::atan(std::sinh(y / 6378137.0)) * 180.0 / M_PI; };
                    b = {lon(b[0]), lat(b[1]), lon(b[2]), lat(b[3])};
                } else {
                    throw input_error("bbox-crs", "bbox-crs must be one of " + std::string(CRS84) + ", " + EPSG4490 +
                                                      ", " + EPSG3857);
                }
                if ((b[2] - b[0]) * (b[3] - b[1]) > m_ctx.limits.max_bbox_degrees2) {
                    throw input_error("bbox", "bbox covers more than " + shortest(m_ctx.limits.max_bbox_degrees2) +
                                                  " square degrees; ask for a smaller area");
                }
                where.push_back("geom && " + env + " AND ST_Intersects(geom, " + env + ")");
            }
        } else {
            parse_int(*feature_id, "featureId", 0, 9223372036854775807LL);
            where.push_back("fid = " + bind(*feature_id) + "::bigint");
        }

        if (v == nullptr && feature_id != nullptr) {
            throw not_found("collection '" + id + "' has no version on that date");
        }
        // One SELECT per version; identifiers from the catalog (quoted), values bound. Over an
        // interval a feature comes once, as its latest version in the interval has it.
        std::string sql;
        for (const auto* version : versions) {
            std::string props = "'{}'::jsonb";
            for (const auto& a : version->attributes) {
                std::string key; // the catalog's column name as an SQL string literal
                for (char c : a.name) {
                    key += c == '\'' ? std::string("''") : std::string(1, c);
                }
                props += " || jsonb_build_object('" + key + "', " + core::quote_ident(a.name) + ")";
            }
            std::string select = "SELECT fid, " + std::to_string(version->version) + " AS version, (" + props +
                                 ")::text AS properties, ST_AsGeoJSON(" + geom_sql + ", 9, 0) AS geometry FROM " +
                                 core::qualified(core::DATA_SCHEMA, version->table);
            std::vector<std::string> conditions = where;
            for (const auto& filter : property_filters) {
                const std::string& column = filter.first; // a lambda cannot capture a structured binding in C++17
                const std::string& placeholder = filter.second;
                const bool has = std::any_of(version->attributes.begin(), version->attributes.end(),
                                             [&](const core::attribute& a) { return a.name == column; });
                conditions.push_back(has ? core::quote_ident(column) + "::text = " + placeholder
                                         : "false AND " + placeholder + "::text IS NULL");
            }
            for (std::size_t i = 0; i < conditions.size(); ++i) {
                select += (i == 0 ? " WHERE " : " AND ") + conditions[i];
            }
            sql += (sql.empty() ? "" : " UNION ALL ") + select;
        }
        if (versions.size() > 1) {
            sql = "SELECT DISTINCT ON (fid) * FROM (" + sql + ") AS all_versions ORDER BY fid, version DESC";
        }
        // The page's bounds are bound like every other value from the request.
        sql = "SELECT fid, properties, geometry FROM (" + sql + ") AS features ORDER BY fid LIMIT " +
              bind(std::to_string(limit + 1)) + "::bigint OFFSET " + bind(std::to_string(offset)) + "::bigint";

        pqxx::result rows; // no version in time: no feature, but a whole FeatureCollection
        if (!versions.empty()) {
            auto conn = m_ctx.pool->acquire();
            pqxx::work txn(*conn);
            // statement_timeout: the pool's, set on every connection (--query-timeout-ms).
            rows = txn.exec_params(sql, pqxx::prepare::make_dynamic_params(values));
        }

        auto feature_text = [&](const pqxx::row& r) {
            return "{\"type\":\"Feature\",\"id\":" + std::string(r[0].c_str()) + ",\"properties\":" + r[1].c_str() +
                   ",\"geometry\":" + (r[2].is_null() ? std::string("null") : std::string(r[2].c_str())) + "}";
        };
        if (feature_id != nullptr) {
            if (rows.empty()) {
                throw not_found("collection '" + id + "' has no feature " + *feature_id);
            }
            return {feature_text(rows[0]), crs};
        }
        // A page ends at `limit` features or where the next feature would take the body past
        // the response size cap (never before its first feature); `next` goes on from there.
        std::string out = "{\"type\":\"FeatureCollection\",\"features\":[";
        const auto available = std::min<std::size_t>(rows.size(), static_cast<std::size_t>(limit));
        std::size_t n = 0;
        for (; n < available; ++n) {
            std::string feature = feature_text(rows[static_cast<pqxx::result::size_type>(n)]);
            if (n > 0 && out.size() + feature.size() + 1 > m_ctx.limits.max_response_bytes) {
                break;
            }
            out += (n == 0 ? "" : ",") + feature;
        }
        const bool more = rows.size() > n;
        out += "],\"numberReturned\":" + std::to_string(n) + ",\"timeStamp\":\"" + core::today() + "T00:00:00Z\"";
        json links = json::array();
        const std::string self = m_ctx.base_url(req) + req.path;
        links.push_back({{"href", self + query(req, offset)}, {"rel", "self"}, {"type", "application/geo+json"}});
        if (more) {
            links.push_back({{"href", self + query(req, offset + static_cast<long long>(n))},
                             {"rel", "next"},
                             {"type", "application/geo+json"}});
        }
        out += ",\"links\":" + links.dump() + "}";
        return {out, crs};
    }

private:
    static const core::layer& find(const std::vector<core::layer>& layers, const std::string& id)
    {
        if (const auto* l = core::find_public_layer(layers, id)) {
            return *l;
        }
        throw not_found("no collection '" + id + "'");
    }

    static std::string query(const http_request& req, long long offset)
    {
        std::string q;
        for (const auto& [k, val] : req.params) {
            if (k != "offset") {
                q += (q.empty() ? "?" : "&") + k + "=" + encode_query_param(val);
            }
        }
        q += (q.empty() ? "?" : "&") + std::string("offset=") + std::to_string(offset);
        if (req.caller.key_in_query) { // a client that pages by these links sends no header either
            q += "&key=" + encode_query_param(req.caller.api_key);
        }
        return q;
    }

    features_context m_ctx;
};

} // namespace

void register_features_api(router& routes, features_context ctx)
{
    auto api = std::make_shared<features_api>(std::move(ctx));
    routes.get("/ogc", [api](const http_request& req, http_response& res) {
        res.set_content(api->landing(req).dump(), "application/json");
    });
    routes.get("/ogc/api", [](const http_request&, http_response& res) {
        // A minimal OpenAPI 3.0 description of the routes, for clients that look for one.
        const json doc = {
            {"openapi", "3.0.3"},
            {"info", {{"title", "onemap OGC API - Features"}, {"version", "1.0.0"}}},
            {"paths",
             {{"/ogc", {{"get", {{"summary", "landing page"}, {"responses", {{"200", {{"description", "landing"}}}}}}}}},
              {"/ogc/conformance", {{"get", {{"summary", "conformance classes"}, {"responses", {{"200", {{"description", "classes"}}}}}}}}},
              {"/ogc/collections", {{"get", {{"summary", "collections"}, {"responses", {{"200", {{"description", "collections"}}}}}}}}},
              {"/ogc/collections/{collectionId}/items",
               {{"get", {{"summary", "features (bbox, bbox-crs, datetime, limit, offset, crs, property=value)"},
                         {"responses", {{"200", {{"description", "GeoJSON FeatureCollection"}}}}}}}}},
              {"/ogc/collections/{collectionId}/items/{featureId}",
               {{"get", {{"summary", "one feature"}, {"responses", {{"200", {{"description", "GeoJSON Feature"}}}}}}}}}}}};
        res.set_content(doc.dump(), "application/vnd.oai.openapi+json;version=3.0");
    });
    routes.get("/ogc/conformance", [](const http_request&, http_response& res) {
        res.set_content(features_api::conformance().dump(), "application/json");
    });
    routes.get("/ogc/collections", [api](const http_request& req, http_response& res) {
        res.set_content(api->collections(req).dump(), "application/json");
    });
    routes.get("/ogc/collections/{collectionId}", [api](const http_request& req, http_response& res) {
        res.set_content(api->collection(req, req.path_param(0)).dump(), "application/json");
    });
    routes.get("/ogc/collections/{collectionId}/items", [api](const http_request& req, http_response& res) {
        auto [body, crs] = api->items(req, req.path_param(0), nullptr);
        res.set_header("Content-Crs", "<" + crs + ">");
        res.set_content(body, "application/geo+json");
    });
    routes.get("/ogc/collections/{collectionId}/items/{featureId}", [api](const http_request& req, http_response& res) {
        const std::string& fid = req.path_param(1);
        auto [body, crs] = api->items(req, req.path_param(0), &fid);
        res.set_header("Content-Crs", "<" + crs + ">");
        res.set_content(body, "application/geo+json");
    });
}

} // namespace onemap::tileserver
