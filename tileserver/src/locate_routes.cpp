// Point location and grid boundaries: /locate answers from the in-memory boundary indexes on
// the I/O thread; boundaries come from PostGIS (on a worker).
#include "request_params.hpp"
#include "server_state.hpp"

#include "onemap/core/error.hpp"
#include "onemap/core/gcj02.hpp"
#include "onemap/tileserver/http_encoding.hpp"
#include "onemap/tileserver/http_errors.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace onemap::tileserver {

namespace {

class locate_routes {
public:
    explicit locate_routes(server_state& state) : m_state(state) {}

    // The JSON answer, or a problem (404) when no finest-level boundary covers the point.
    void locate(const http_request& req, http_response& res) const
    {
        double lon = parse_coordinate(req, "lon", -180, 180);
        double lat = parse_coordinate(req, "lat", -90, 90);
        const std::string crs = req.has_param("crs") ? req.get_param_value("crs") : "wgs84";
        if (crs == "gcj02") {
            const auto w = core::gcj02_to_wgs84({lon, lat});
            lon = w.lon;
            lat = w.lat;
        } else if (crs != "wgs84" && crs != "cgcs2000") {
            throw input_error("crs", "crs must be wgs84, cgcs2000 or gcj02, got '" + crs + "'");
        }
        const bool with_boundary = parse_flag(req, "boundary");
        const std::string date = requested_date(req);
        const auto loc = m_state.locator_now();
        // Levels whose layer the caller may not see are left out; the finest it may see must
        // cover the point.
        const auto rules = m_state.rules();
        const caller who = server_state::caller_of(req);
        const locate_level* finest = nullptr;
        for (const auto& l : loc->levels()) {
            if (rules->visible(l.layer, who)) {
                finest = &l;
            }
        }
        if (finest == nullptr) {
            rules->require(loc->levels().back().layer, who);
        }
        auto hits = loc->locate(lon, lat, date);
        if (rules->restricts()) {
            hits.erase(std::remove_if(hits.begin(), hits.end(),
                                      [&](const located& h) { return !rules->visible(h.layer, who); }),
                       hits.end());
        }
        if (hits.empty() || hits.back().level != finest->level) {
            std::string detail = "no " + finest->level + " covers the point (";
            append_fixed(detail, lon, 7);
            detail += ", ";
            append_fixed(detail, lat, 7);
            detail += ") on " + date;
            // Phones ask from outside the city often: answer without unwinding an exception.
            send_problem(res, 404, "Not Found", detail);
            return;
        }
        // Written by hand: this is the hottest JSON the server produces. One object per level,
        // keyed by level name (answer.grid.code), and "levels" naming them coarsest first.
        std::string out;
        out.reserve(768);
        out += "{\"lon\":";
        append_fixed(out, lon, 9);
        out += ",\"lat\":";
        append_fixed(out, lat, 9);
        out += ",\"crs\":";
        append_json_string(out, crs);
        out += ",\"datetime\":";
        append_json_string(out, date);
        for (const auto& h : hits) {
            out += ',';
            out += h.boundary->payload; // answer_member(), built when the snapshot was loaded
            if (with_boundary) {
                out += ",\"boundary\":";
                out += boundary_geojson(h, code_field_of(h.level), 0.0);
            }
            out += '}';
        }
        out += ",\"levels\":[";
        for (std::size_t i = 0; i < hits.size(); ++i) {
            if (i > 0) {
                out += ',';
            }
            append_json_string(out, hits[i].level);
        }
        out += "]}";
        res.set_content(std::move(out), JSON_TYPE);
    }

    nlohmann::json grid(const http_request& req, const std::string& code) const
    {
        const std::string date = requested_date(req);
        double simplify = 0;
        if (req.has_param("simplify")) {
            simplify = parse_coordinate(req, "simplify", 0, 10000);
        }
        const auto loc = m_state.locator_now();
        m_state.rules()->require(loc->levels().back().layer, server_state::caller_of(req));
        const auto hit = loc->find(code, date);
        if (!hit) {
            throw not_found("no " + loc->levels().back().level + " '" + code + "' on " + date);
        }
        return {{"type", "Feature"},
                {"id", hit->boundary->code},
                {"properties",
                 {{"code", hit->boundary->code}, {"name", hit->boundary->name}, {"level", std::string(hit->level)},
                  {"version", hit->version->version}, {"valid_from", hit->version->valid_from}}},
                {"geometry", nlohmann::json::parse(boundary_geojson(*hit, code_field_of(hit->level), simplify))}};
    }

    nlohmann::json grid_neighbors(const http_request& req, const std::string& code) const
    {
        const std::string date = requested_date(req);
        const auto loc = m_state.locator_now();
        m_state.rules()->require(loc->levels().back().layer, server_state::caller_of(req));
        if (!loc->find(code, date)) {
            throw not_found("no " + loc->levels().back().level + " '" + code + "' on " + date);
        }
        nlohmann::json list = nlohmann::json::array();
        for (const auto* n : loc->neighbors(code, date)) {
            list.push_back({{"code", n->code}, {"name", n->name}});
        }
        return {{"code", code}, {"datetime", date}, {"neighbors", list}};
    }

private:
    // The boundary of one located feature as GeoJSON text, optionally simplified (metres).
    std::string boundary_geojson(const located& hit, const std::string& code_field, double simplify_m) const
    {
        auto conn = m_state.pool.acquire();
        pqxx::read_transaction txn(*conn);
        const auto r = txn.exec_params("SELECT ST_AsGeoJSON(ST_Multi(ST_SimplifyPreserveTopology(geom, $1)), 7) FROM " +
                                           core::qualified(core::DATA_SCHEMA, hit.version->table) + " WHERE fid = $2 AND " +
                                           core::quote_ident(code_field) + "::text = $3",
                                       simplify_m / 111320.0, static_cast<long long>(hit.boundary->fid),
                                       hit.boundary->code);
        return r.empty() ? "null" : r[0][0].as<std::string>();
    }

    const std::string& code_field_of(std::string_view level) const
    {
        for (const auto& l : m_state.locate_levels) {
            if (l.level == level) {
                return l.code_field;
            }
        }
        throw std::logic_error("unknown level " + std::string(level));
    }

    server_state& m_state;
};

} // namespace

void register_locate_routes(router& routes, server_state& state)
{
    auto api = std::make_shared<const locate_routes>(state);
    routes.get("/locate", [api](const http_request& req, http_response& res) { api->locate(req, res); });
    routes.get("/grids/{code}/neighbors", [api](const http_request& req, http_response& res) {
        res.set_content(api->grid_neighbors(req, req.path_param(0)).dump(), JSON_TYPE);
    });
    routes.get("/grids/{code}", [api](const http_request& req, http_response& res) {
        res.set_content(api->grid(req, req.path_param(0)).dump(), "application/geo+json");
    });
}

} // namespace onemap::tileserver
