#include "onemap/tileserver/analysis/project_input.hpp"

#include "onemap/core/error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <cmath>
#include <cstdio>
#include <vector>

namespace onemap::tileserver::analysis {

namespace {

// The body's JSON tree is allocated from a per-thread arena, reset for each body: a red line's
// tree is a few hundred small arrays, and a malloc and a free for each cost more than reading
// it. Nothing of the tree outlives read_project().
class json_arena {
public:
    void* take(std::size_t n, std::size_t align)
    {
        std::size_t at = (m_used + align - 1) & ~(align - 1);
        if (m_blocks.empty() || at + n > m_size) {
            m_size = std::max(BLOCK, n + align);
            m_blocks.push_back(std::make_unique<unsigned char[]>(m_size));
            at = 0;
        }
        m_used = at + n;
        return m_blocks.back().get() + at;
    }

    // Forgets every tree; keeps one block for the next.
    void reset()
    {
        if (m_blocks.size() > 1 || m_size > BLOCK) {
            m_blocks.clear();
        }
        m_used = 0;
        m_size = m_blocks.empty() ? 0 : BLOCK;
    }

private:
    static constexpr std::size_t BLOCK = std::size_t{64} << 10;
    std::vector<std::unique_ptr<unsigned char[]>> m_blocks;
    std::size_t m_size = 0;
    std::size_t m_used = 0;
};

json_arena& arena()
{
    thread_local json_arena a;
    return a;
}

template <typename T>
struct arena_allocator {
    using value_type = T;
    arena_allocator() = default;
    template <typename U>
    arena_allocator(const arena_allocator<U>& /*other*/) noexcept
    {
    }
    T* allocate(std::size_t n) { return static_cast<T*>(arena().take(n * sizeof(T), alignof(T))); }
    void deallocate(T* /*p*/, std::size_t /*n*/) noexcept {}
    template <typename U>
    bool operator==(const arena_allocator<U>& /*other*/) const noexcept
    {
        return true;
    }
    template <typename U>
    bool operator!=(const arena_allocator<U>& /*other*/) const noexcept
    {
        return false;
    }
};

using json = nlohmann::basic_json<std::map, std::vector, std::string, bool, std::int64_t, std::uint64_t, double,
                                  arena_allocator>;

bool geographic(int epsg) noexcept
{
    return epsg == 4490 || epsg == 4326;
}

bool prefixed_gk(int epsg) noexcept
{
    return epsg >= 4513 && epsg <= 4533;
}

std::string lower(std::string s)
{
    for (auto& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

std::string where(double x, double y)
{
    char buf[96];
    std::snprintf(buf, sizeof buf, "(%.7f, %.7f)", x, y);
    return buf;
}

struct reader {
    std::vector<GEOSGeometry*> polygons; // owned until handed to GEOS
    std::size_t vertices = 0;
    std::size_t max_vertices = 0;

    reader() = default;
    reader(const reader&) = delete;
    reader& operator=(const reader&) = delete;
    ~reader()
    {
        for (auto* p : polygons) {
            GEOSGeom_destroy_r(geos(), p);
        }
    }

    GEOSGeometry* ring(const json& positions, const std::string& at)
    {
        if (!positions.is_array() || positions.size() < 4) {
            throw input_error("geometry", at + ": a ring needs at least 4 positions");
        }
        vertices += positions.size();
        if (vertices > max_vertices) {
            throw input_error("geometry", "more than " + std::to_string(max_vertices) +
                                              " vertices (analysis.limits.max_vertices)");
        }
        GEOSContextHandle_t h = geos();
        GEOSCoordSequence* seq = GEOSCoordSeq_create_r(h, static_cast<unsigned>(positions.size()), 2);
        for (std::size_t i = 0; i < positions.size(); ++i) {
            const json& p = positions[i];
            if (!p.is_array() || p.size() < 2 || !p[0].is_number() || !p[1].is_number()) {
                GEOSCoordSeq_destroy_r(h, seq);
                throw input_error("geometry", at + "[" + std::to_string(i) + "]: a position is [x, y]");
            }
            const double x = p[0].get<double>();
            const double y = p[1].get<double>();
            if (!std::isfinite(x) || !std::isfinite(y)) {
                GEOSCoordSeq_destroy_r(h, seq);
                throw input_error("geometry", at + "[" + std::to_string(i) + "]: not a finite number");
            }
            GEOSCoordSeq_setXY_r(h, seq, static_cast<unsigned>(i), x, y);
        }
        const json& first = positions.front();
        const json& last = positions.back();
        if (first[0] != last[0] || first[1] != last[1]) {
            GEOSCoordSeq_destroy_r(h, seq);
            throw input_error("geometry", at + ": the ring is not closed (its last position must repeat the first)");
        }
        GEOSGeometry* r = GEOSGeom_createLinearRing_r(h, seq);
        if (r == nullptr) {
            throw input_error("geometry", at + ": not a ring");
        }
        return r;
    }

    void polygon(const json& rings, const std::string& at)
    {
        if (!rings.is_array() || rings.empty()) {
            throw input_error("geometry", at + ": a polygon needs an exterior ring");
        }
        GEOSContextHandle_t h = geos();
        std::vector<GEOSGeometry*> made;
        try {
            for (std::size_t i = 0; i < rings.size(); ++i) {
                made.push_back(ring(rings[i], at + "[" + std::to_string(i) + "]"));
            }
        } catch (...) {
            for (auto* r : made) {
                GEOSGeom_destroy_r(h, r);
            }
            throw;
        }
        GEOSGeometry* p = GEOSGeom_createPolygon_r(h, made[0], made.size() > 1 ? made.data() + 1 : nullptr,
                                                   static_cast<unsigned>(made.size() - 1));
        polygons.push_back(p);
    }

    void geometry(const json& g, const std::string& at)
    {
        if (!g.is_object() || !g.contains("type") || !g["type"].is_string()) {
            throw input_error("geometry", at + ": not a GeoJSON geometry (no type)");
        }
        const std::string type = g["type"].get<std::string>();
        if (type != "Polygon" && type != "MultiPolygon") {
            throw input_error("geometry", at + ": a " + type + " is not a polygon (Polygon or MultiPolygon)");
        }
        if (!g.contains("coordinates") || !g["coordinates"].is_array()) {
            throw input_error("geometry", at + ": no coordinates");
        }
        const json& c = g["coordinates"];
        if (type == "Polygon") {
            polygon(c, at + ".coordinates");
            return;
        }
        for (std::size_t i = 0; i < c.size(); ++i) {
            polygon(c[i], at + ".coordinates[" + std::to_string(i) + "]");
        }
    }

    void any(const json& doc)
    {
        if (!doc.is_object() || !doc.contains("type") || !doc["type"].is_string()) {
            throw input_error("body", "the body must be a GeoJSON object with a type");
        }
        const std::string type = doc["type"].get<std::string>();
        if (type == "FeatureCollection") {
            if (!doc.contains("features") || !doc["features"].is_array()) {
                throw input_error("body", "a FeatureCollection needs a features array");
            }
            const json& fs = doc["features"];
            for (std::size_t i = 0; i < fs.size(); ++i) {
                feature(fs[i], "features[" + std::to_string(i) + "]");
            }
        } else if (type == "Feature") {
            feature(doc, "feature");
        } else {
            geometry(doc, "geometry");
        }
    }

    void feature(const json& f, const std::string& at)
    {
        if (!f.is_object() || f.value("type", "") != "Feature") {
            throw input_error("geometry", at + ": not a Feature");
        }
        if (!f.contains("geometry") || f["geometry"].is_null()) {
            throw input_error("geometry", at + ": the feature has no geometry");
        }
        geometry(f["geometry"], at + ".geometry");
    }
};

// The CRS named in the body: {"type":"name","properties":{"name":…}} (GeoJSON 2008, as GDAL
// writes it), or a plain string.
std::string body_crs(const json& doc)
{
    if (!doc.is_object() || !doc.contains("crs") || doc["crs"].is_null()) {
        return "";
    }
    const json& c = doc["crs"];
    if (c.is_string()) {
        return c.get<std::string>();
    }
    if (c.is_object() && c.contains("properties") && c["properties"].is_object() &&
        c["properties"].contains("name") && c["properties"]["name"].is_string()) {
        return c["properties"]["name"].get<std::string>();
    }
    throw input_error("crs", "the body's crs member must be {\"type\":\"name\",\"properties\":{\"name\":…}}");
}

// Coordinates must be plausible for their CRS: the commonest mistakes are GK coordinates sent
// as lon/lat, a zone prefix the CRS does not have (or lacks), and northing/easting swapped.
void check_ranges(const GEOSGeometry* g, int epsg, const std::string& crs_name)
{
    const bounds b = bounds_of(g);
    if (geographic(epsg)) {
        if (b.min_x < -180 || b.max_x > 180 || b.min_y < -90 || b.max_y > 90) {
            throw input_error("crs", "coordinates such as " + where(b.max_x, b.max_y) + " are not " + crs_name +
                                         " longitude/latitude: state the CRS of projected coordinates (crs "
                                         "parameter or the body's crs member, e.g. EPSG:4547)");
        }
        return;
    }
    const int zone = prefixed_gk(epsg) ? epsg - 4513 + 25 : epsg - 4534 + 25;
    const double offset = prefixed_gk(epsg) ? zone * 1e6 : 0.0;
    const bool east_ok = b.min_x > offset && b.max_x < offset + 1e6;
    const bool north_ok = b.min_y > 0 && b.max_y < 1e7;
    if (east_ok && north_ok) {
        return;
    }
    std::string hint;
    if (!prefixed_gk(epsg) && b.min_x > zone * 1e6 && b.max_x < (zone + 1) * 1e6) {
        hint = ": the eastings carry the zone number " + std::to_string(zone) + ", so the CRS is EPSG:" +
               std::to_string(gk_epsg(zone, true));
    } else if (prefixed_gk(epsg) && b.min_x > 0 && b.max_x < 1e6) {
        hint = ": the eastings have no zone number, so the CRS is EPSG:" + std::to_string(gk_epsg(zone, false));
    } else if (b.min_y > offset && b.max_y < offset + 1e6) {
        hint = ": the positions look like [northing, easting]; GeoJSON wants [easting, northing]";
    }
    throw input_error("crs", "coordinates such as " + where(b.min_x, b.min_y) + " are outside " + crs_name +
                                 " (zone " + std::to_string(zone) + ")" + hint);
}

} // namespace

int accepted_crs(const std::string& name, const char* parameter)
{
    const std::string n = lower(name);
    if (n == "cgcs2000") {
        return 4490;
    }
    if (n == "wgs84" || n == "ogc:crs84" || n == "crs84" || n == "urn:ogc:def:crs:ogc:1.3:crs84" ||
        n == "urn:ogc:def:crs:ogc::crs84" || n == "http://www.opengis.net/def/crs/ogc/1.3/crs84") {
        return 4326;
    }
    int code = 0;
    const auto epsg_at = n.find("epsg");
    if (epsg_at != std::string::npos) {
        // The code is the last run of digits: EPSG:4547, urn:ogc:def:crs:EPSG::4547,
        // urn:ogc:def:crs:EPSG:9.8:4547, http://www.opengis.net/def/crs/EPSG/0/4547.
        std::size_t end = n.size();
        std::size_t begin = end;
        while (begin > epsg_at && std::isdigit(static_cast<unsigned char>(n[begin - 1])) != 0) {
            --begin;
        }
        if (begin < end && end - begin <= 6 && (n[begin - 1] == ':' || n[begin - 1] == '/')) {
            code = std::stoi(n.substr(begin));
        }
    }
    if (geographic(code) || (code >= 4513 && code <= 4554)) {
        return code;
    }
    throw input_error(parameter, "CRS '" + name +
                                     "' is not accepted: use CGCS2000 (EPSG:4490), WGS 84 (EPSG:4326, OGC:CRS84) or "
                                     "a CGCS2000 3-degree Gauss-Krüger zone (EPSG:4513–4533 with the zone number in "
                                     "the easting, EPSG:4534–4554 without)");
}

project read_project(std::string_view body, const std::string& crs_param, const input_limits& limits)
{
    if (body.empty()) {
        throw input_error("body", "the body is empty: send the project's red line as GeoJSON");
    }
    arena().reset(); // the last body's tree is gone
    json doc;
    try {
        doc = json::parse(body.begin(), body.end());
    } catch (const json::exception& e) {
        // parse_error, and out_of_range for a number beyond double (1E400)
        throw input_error("body", std::string("invalid JSON: ") + e.what());
    }
    project out;
    const std::string named = crs_param.empty() ? body_crs(doc) : crs_param;
    out.input_epsg = named.empty() ? 4490 : accepted_crs(named, "crs");
    const std::string crs_name = named.empty() ? "lon/lat" : "EPSG:" + std::to_string(out.input_epsg);

    reader r;
    r.max_vertices = limits.max_vertices;
    r.any(doc);
    if (r.polygons.empty()) {
        throw input_error("geometry", "the body holds no polygon");
    }
    out.vertices = r.vertices;
    GEOSContextHandle_t h = geos();
    geom_ptr collection = own(GEOSGeom_createCollection_r(h, GEOS_MULTIPOLYGON, r.polygons.data(),
                                                          static_cast<unsigned>(r.polygons.size())),
                              "collecting the polygons");
    r.polygons.clear(); // owned by the collection now
    if (GEOSisEmpty_r(h, collection.get()) != 0) {
        throw input_error("geometry", "the geometry is empty");
    }
    check_ranges(collection.get(), out.input_epsg, crs_name);

    // Each polygon must be valid on its own; overlapping features are then joined.
    const int n = GEOSGetNumGeometries_r(h, collection.get());
    for (int i = 0; i < n; ++i) {
        const GEOSGeometry* part = GEOSGetGeometryN_r(h, collection.get(), i);
        char* reason = nullptr;
        GEOSGeometry* location = nullptr;
        if (plainly_valid(part) || GEOSisValidDetail_r(h, part, 0, &reason, &location) == 1) {
            continue;
        }
        std::string message = "polygon " + std::to_string(i) + " is not valid";
        if (reason != nullptr) {
            message += ": " + std::string(reason);
            GEOSFree_r(h, reason);
        }
        if (location != nullptr) {
            double x = 0;
            double y = 0;
            GEOSGeomGetX_r(h, location, &x);
            GEOSGeomGetY_r(h, location, &y);
            message += " at " + where(x, y);
            GEOSGeom_destroy_r(h, location);
        }
        throw input_error("geometry", message + " (a red line is refused, not repaired: correct the ring)");
    }
    geom_ptr joined = n > 1 ? own(GEOSUnaryUnion_r(h, collection.get()), "joining the features") : std::move(collection);
    out.lonlat = geographic(out.input_epsg) ? std::move(joined) : transform(joined.get(), out.input_epsg, 4490);
    out.lonlat = polygonal_part(std::move(out.lonlat));
    if (!out.lonlat) {
        throw input_error("geometry", "the geometry has no area");
    }
    out.parts = static_cast<std::size_t>(GEOSGetNumGeometries_r(h, out.lonlat.get()));
    // Planar in the zone of its centre where it has one (the limit is no survey figure; the
    // geodesic area costs several times as much).
    const bounds box = bounds_of(out.lonlat.get());
    const int zone = gk_zone((box.min_x + box.max_x) / 2);
    const double km2 = (zone != 0 ? area_of(out.lonlat.get(), area_method::planar, zone)
                                  : ellipsoidal_area(out.lonlat.get())) / 1e6;
    if (!(km2 > 0)) {
        throw input_error("geometry", "the geometry has no area");
    }
    if (km2 > limits.max_area_km2) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "the project covers %.2f km², more than the limit of %.2f km²", km2,
                      limits.max_area_km2);
        throw input_error("geometry", std::string(buf) + " (analysis.limits.max_area_km2)");
    }
    return out;
}

} // namespace onemap::tileserver::analysis
