#include "route_table.hpp"

#include "admin_routes.hpp"
#include "server_state.hpp"

#include "onemap/core/event_loop.hpp"
#include "onemap/tileserver/features_api.hpp"
#include "onemap/tileserver/wmts.hpp"

#include <libxml/parser.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

// fontconfig keeps its configuration for the life of the process (the glyph source asks it for
// every font once); LeakSanitizer should not count it (as in tests/render).
extern "C" const char* __lsan_default_suppressions()
{
    return "leak:libfontconfig.so\n";
}

namespace onemap::fuzz {

namespace {

using tileserver::http_method;
using tileserver::http_request;
using tileserver::http_response;

[[noreturn]] void finding(const std::string& what, const http_request& req, const http_response& res)
{
    std::fprintf(stderr, "fuzz finding: %s\n  request: %s\n  status: %d\n  body: %.400s\n", what.c_str(),
                 req.target.c_str(), res.status, std::string(res.content()).c_str());
    std::abort();
}

core::attribute attr(const std::string& name, core::attribute_type type = core::attribute_type::text)
{
    return core::attribute{name, name, type};
}

core::layer_version version(int v, const std::string& layer, const std::string& from,
                            std::optional<std::string> to, core::box bbox, std::vector<core::attribute> attributes)
{
    core::layer_version out;
    out.version = v;
    out.table = layer + "__v" + std::to_string(v);
    out.valid_from = from;
    out.valid_to = std::move(to);
    out.feature_count = 100;
    out.bbox = bbox;
    out.attributes = std::move(attributes);
    out.overview_max_zoom = core::OVERVIEW_MAX_ZOOM;
    return out;
}

// The sample's layers (data-samples/manifest.yaml) as the catalog holds them after an import:
// two versions of dltb and of the grid layers, a private layer, and a layer reaching beyond
// Web Mercator's latitudes (the crs=EPSG:3857 refusal).
std::vector<core::layer> sample_catalog()
{
    const core::box city{113.1, 32.3, 115.2, 33.6};
    const std::vector<core::attribute> admin{attr("xzqdm"), attr("xzqmc")};
    std::vector<core::layer> out;
    auto add = [&out](std::string name, std::string title, std::string department, std::string theme,
                      std::string geometry, std::vector<core::layer_version> versions, bool is_public = true) {
        core::layer l;
        l.name = std::move(name);
        l.title = std::move(title);
        l.department = std::move(department);
        l.theme = std::move(theme);
        l.geometry_type = std::move(geometry);
        l.source_srid = 4490;
        l.is_public = is_public;
        l.versions = std::move(versions);
        out.push_back(std::move(l));
    };
    for (const char* name : {"admin_county", "admin_town", "admin_village"}) {
        add(name, name, "网格化管理中心", "grid", "MULTIPOLYGON",
            {version(1, name, "2023-01-01", "2024-07-01", city, admin), version(2, name, "2024-07-01", {}, city, admin)});
    }
    const std::vector<core::attribute> grid{attr("wgbm"), attr("wgmc"), attr("area", core::attribute_type::real)};
    add("grid", "网格", "网格化管理中心", "grid", "MULTIPOLYGON",
        {version(1, "grid", "2023-01-01", "2024-07-01", city, grid), version(2, "grid", "2024-07-01", {}, city, grid)});
    const std::vector<core::attribute> dltb{attr("bsm", core::attribute_type::bigint), attr("dlbm"), attr("dlmc"),
                                            attr("tbmj", core::attribute_type::real),
                                            attr("sfjz", core::attribute_type::boolean),
                                            attr("gxsj", core::attribute_type::date)};
    add("dltb", "地类图斑（三调）", "自然资源和规划局", "natural-resource", "MULTIPOLYGON",
        {version(1, "dltb", "2022-12-31", "2023-12-31", city, dltb), version(2, "dltb", "2023-12-31", {}, city, dltb)});
    add("river", "河流", "水利局", "water", "MULTILINESTRING",
        {version(1, "river", "2023-01-01", {}, city, {attr("hymc"), attr("hldj", core::attribute_type::integer)})});
    add("reservoir", "水库及坑塘", "水利局", "water", "MULTIPOLYGON",
        {version(1, "reservoir", "2023-01-01", {}, city, {attr("skmc"), attr("lx")})});
    add("water_function_zone", "水功能区", "水利局", "water", "MULTIPOLYGON",
        {version(1, "water_function_zone", "2023-01-01", {}, city, {attr("gnqmc")})}, false);
    for (const char* name : {"ecological_redline", "basic_farmland", "urban_boundary", "landuse_zone"}) {
        add(name, name, "自然资源和规划局", "planning", "MULTIPOLYGON",
            {version(1, name, "2023-01-01", {}, city,
                     {attr("sthxmc"), attr("lx"), attr("jbntbh"), attr("ghfqdm"), attr("ghfqmc"), attr("xzqdm")})});
    }
    add("survey_points", "控制点", "自然资源和规划局", "other", "MULTIPOINT",
        {version(1, "survey_points", "2020-01-01", {}, core::box{-180, -89.5, 180, 89.5},
                 {attr("dh"), attr("o'name"), attr("Mixed Case")})});
    return out;
}

/// The admin credential of the fuzzed server (seeds send it as `Authorization: Bearer …`).
constexpr const char* ADMIN_TOKEN = "fuzz-admin-token-0123456789";

struct server_routes {
    tileserver::server_state state;
    tileserver::admin_access admin{ADMIN_TOKEN};
    // Seed jobs are accepted and queued but never run: their tasks are dropped (a job's tiles
    // are database work).
    tileserver::seed_jobs jobs{[](const tileserver::seed_request&, int, std::uint64_t, std::uint64_t) {
                                   return std::size_t{0};
                               },
                               [](const std::function<void()>&) {}};
    tileserver::router routes;

    explicit server_routes(tileserver::server_config c) : state(std::move(c))
    {
        state.snapshot.store(std::make_shared<const std::vector<core::layer>>(sample_catalog()));
        // As tileserver/src/server.cpp (server::impl) wires them.
        routes.set_cors_origin(state.config.cors_origin);
        tileserver::server_state* s = &state;
        tileserver::admin_context admin_ctx;
        admin_ctx.frontend_counters = [] { return std::string("{}"); };
        admin_ctx.access = &admin;
        admin_ctx.jobs = &jobs;
        tileserver::register_admin_routes(routes, state, admin_ctx);
        tileserver::register_locate_routes(routes, state);
        tileserver::register_tile_routes(routes, state);
        tileserver::register_style_routes(routes, state);

        tileserver::wmts_context wmts;
        wmts.pool = &state.pool;
        wmts.catalog = [s](const http_request& req) { return s->catalog_for(req); };
        wmts.key_query = [](const http_request& req) { return tileserver::server_state::key_query(req); };
        wmts.base_url = [s](const http_request& req) { return s->base_url(req); };
        wmts.tilesets = [s] { return s->tilesets(); };
        wmts.tile = [s](const std::vector<core::layer>& layers, const std::string& name, tileserver::tile_format format,
                        const core::tile_matrix_set& tms, int level, std::uint64_t col, std::uint64_t row,
                        const std::string& date) {
            return s->tile_named(layers, name, format, tms, level, col, row, date);
        };
        wmts.send_tile = [](const http_request& req, http_response& res,
                            const std::shared_ptr<const tileserver::cached_tile>& tile, const char* content_type) {
            tileserver::server_state::send_tile(req, res, tile, content_type);
        };
        tileserver::register_wmts(routes, std::move(wmts));

        tileserver::features_context features;
        features.pool = &state.pool;
        features.limits.max_response_bytes = state.config.ogc_max_response_bytes;
        features.catalog = [s](const http_request& req) { return s->catalog_for(req); };
        features.base_url = [s](const http_request& req) { return s->base_url(req); };
        tileserver::register_features_api(routes, std::move(features));
    }
};

server_routes& routes()
{
    // Built once per process and kept (reachable, so LeakSanitizer does not count it): the
    // glyph source asks fontconfig for every font at construction.
    static server_routes* r = [] {
        tileserver::server_config c;
        c.db = "host=/nonexistent/onemap-fuzz"; // never reached: every database wait throws would_block
        c.styles_dir = ONEMAP_SOURCE_DIR "/styles";
        c.config_path = ONEMAP_SOURCE_DIR "/tileserver/onemap.yaml";
        c.http.host = "127.0.0.1";
        c.http.port = 8080;
        c.cache_bytes = 4u << 20;
        return new server_routes(std::move(c));
    }();
    return *r;
}

bool is_json_type(const std::string& type)
{
    return type.find("json") != std::string::npos;
}

bool inflate_gzip(std::string_view in, std::string& out)
{
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) {
        return false;
    }
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    char buf[16384];
    int rc = Z_OK;
    while (rc == Z_OK) {
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof buf;
        rc = inflate(&zs, Z_NO_FLUSH);
        out.append(buf, sizeof buf - zs.avail_out);
    }
    inflateEnd(&zs);
    return rc == Z_STREAM_END;
}

void check(const http_request& req, const http_response& res)
{
    if (res.status < 100 || res.status > 599 || (res.status >= 500 && res.status != 501 && res.status != 503)) {
        finding("status " + std::to_string(res.status), req, res);
    }
    for (const auto& [name, value] : res.headers) {
        if (name.empty() || value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
            finding("header " + std::string(name) + " holds CR, LF or NUL", req, res);
        }
    }
    if ((res.status == 204 || res.status == 304) && !res.content().empty()) {
        finding("a body with status " + std::to_string(res.status), req, res);
    }
    std::string body(res.content());
    if (res.get_header_value("Content-Encoding") == "gzip") {
        std::string plain;
        if (!inflate_gzip(body, plain)) {
            finding("a gzip body that does not inflate", req, res);
        }
        body = std::move(plain);
    }
    if (body.empty()) {
        return;
    }
    const std::string& type = res.get_header_value("Content-Type");
    if (is_json_type(type) && !nlohmann::json::accept(body)) {
        finding("a " + type + " body that is not JSON", req, res);
    }
    if (type.find("xml") != std::string::npos) {
        xmlDocPtr doc = xmlReadMemory(body.data(), static_cast<int>(body.size()), nullptr, nullptr,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (doc == nullptr) {
            finding("an " + type + " body that is not well-formed XML", req, res);
        }
        xmlFreeDoc(doc);
    }
}

http_method method_of(std::string_view m)
{
    if (m == "GET") {
        return http_method::get;
    }
    if (m == "HEAD") {
        return http_method::head;
    }
    if (m == "POST") {
        return http_method::post;
    }
    if (m == "PUT") {
        return http_method::put;
    }
    if (m == "DELETE") {
        return http_method::del;
    }
    if (m == "OPTIONS") {
        return http_method::options;
    }
    if (m == "PATCH") {
        return http_method::patch;
    }
    return http_method::other;
}

std::string_view next_line(std::string_view& s)
{
    const auto nl = s.find('\n');
    std::string_view line = s.substr(0, nl);
    s = nl == std::string_view::npos ? std::string_view{} : s.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    return line;
}

} // namespace

bool valid_target(std::string_view target)
{
    if (target.empty()) {
        return false;
    }
    for (const char c : target) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) {
            return false;
        }
    }
    return true;
}

bool read_request(std::string_view raw, http_request& req)
{
    std::string_view line = next_line(raw);
    const auto sp = line.find(' ');
    if (sp == std::string_view::npos) {
        return false;
    }
    req.method = method_of(line.substr(0, sp));
    std::string_view target = line.substr(sp + 1);
    if (const auto sp2 = target.find(' '); sp2 != std::string_view::npos) {
        if (target.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0) {
            return false;
        }
        target = target.substr(0, sp2);
    }
    if (!valid_target(target)) {
        return false;
    }
    req.set_target(target);
    req.headers.clear();
    while (!raw.empty()) {
        const std::string_view h = next_line(raw);
        if (h.empty()) {
            break;
        }
        const auto colon = h.find(':');
        if (colon == 0 || colon == std::string_view::npos) {
            return false;
        }
        for (const char c : h) {
            const auto u = static_cast<unsigned char>(c);
            if ((u < 0x20 && c != '\t') || u == 0x7f) {
                return false;
            }
        }
        std::string_view value = h.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
            value.remove_prefix(1);
        }
        req.headers.emplace_back(std::string(h.substr(0, colon)), std::string(value));
    }
    req.body.assign(raw);
    if (req.method == http_method::post &&
        tileserver::iequals(std::string_view(req.get_header_value("Content-Type")).substr(0, 33),
                            "application/x-www-form-urlencoded")) {
        req.add_params(req.body);
    }
    req.remote_addr = "127.0.0.1";
    req.path_params.clear();
    return true;
}

std::optional<http_response> answer(http_request& req)
{
    auto& r = routes();
    http_response res;
    core::set_event_loop_thread(true);
    auto result = r.routes.dispatch(req, res, false);
    if (result == tileserver::dispatch_result::needs_worker) {
        // A worker's turn (capabilities, glyphs, seeding): still without a database.
        res.reset();
        result = r.routes.dispatch(req, res, true);
    }
    core::set_event_loop_thread(false);
    if (result == tileserver::dispatch_result::needs_worker) {
        return std::nullopt;
    }
    check(req, res);
    return res;
}

} // namespace onemap::fuzz
