#include "onemap/tileserver/server.hpp"

#include "onemap/core/calendar.hpp"
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/error.hpp"
#include "onemap/core/gcj02.hpp"
#include "onemap/core/log.hpp"
#include "onemap/render/glyphs.hpp"
#include "onemap/tileserver/features_api.hpp"
#include "onemap/tileserver/http_errors.hpp"
#include "onemap/tileserver/locator.hpp"
#include "onemap/tileserver/raster_service.hpp"
#include "onemap/tileserver/shared_snapshot.hpp"
#include "onemap/tileserver/tile_cache.hpp"
#include "onemap/tileserver/tile_service.hpp"
#include "onemap/tileserver/tileset_config.hpp"
#include "onemap/tileserver/wmts.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <charconv>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>

#include <sys/socket.h>

namespace onemap::tileserver {

namespace {

using catalog_ptr = std::shared_ptr<const std::vector<core::layer>>;

std::uint64_t parse_index(const std::string& text, const char* parameter)
{
    std::uint64_t v = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc() || ptr != end) {
        throw input_error(parameter, std::string(parameter) + " must be a non-negative integer, got '" + text + "'");
    }
    return v;
}

double parse_coordinate(const httplib::Request& req, const char* parameter, double min, double max)
{
    if (!req.has_param(parameter)) {
        throw input_error(parameter, std::string(parameter) + " is required");
    }
    const std::string text = req.get_param_value(parameter);
    double v = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc() || ptr != end || !(v >= min && v <= max)) {
        throw input_error(parameter, std::string(parameter) + " must be a number in " + std::to_string(min) + ".." +
                                         std::to_string(max) + ", got '" + text + "'");
    }
    return v;
}

std::string requested_date(const httplib::Request& req)
{
    if (!req.has_param("datetime")) {
        return core::today();
    }
    const auto value = req.get_param_value("datetime");
    const auto date = core::parse_iso_date(value.substr(0, 10));
    if (!date || (value.size() > 10 && value[10] != 'T')) {
        throw input_error("datetime", "datetime must be a date YYYY-MM-DD (or an RFC 3339 instant), got '" + value + "'");
    }
    return *date;
}

} // namespace

struct server::impl {
    explicit impl(server_config c)
        : config(std::move(c)), pool(config.db, config.db_connections), tiles(pool), raster(pool, config.styles_dir)
    {
        if (!config.config_path.empty()) {
            tilesets = read_tilesets(config.config_path);
            locate_levels = read_locate_levels(config.config_path);
        }
    }

    const tileset_config* find_tileset(const std::string& name) const
    {
        for (const auto& t : tilesets) {
            if (t.name == name) {
                return &t;
            }
        }
        return nullptr;
    }

    static const core::layer* find_layer(const std::vector<core::layer>& layers, const std::string& name)
    {
        return core::find_public_layer(layers, name);
    }

    catalog_ptr catalog() const { return snapshot.load(); }

    void handle_tile(const httplib::Request& req, httplib::Response& res, const std::string& layer_name,
                     const core::tile_matrix_set& tms, const std::string& z, const std::string& x,
                     const std::string& y, tile_format format = tile_format::mvt, double pixel_ratio = 1)
    {
        const catalog_ptr pinned = catalog();
        const tileset_config* composite = find_tileset(layer_name);
        const core::layer* layer = composite == nullptr ? find_layer(*pinned, layer_name) : nullptr;
        if (composite == nullptr && layer == nullptr) {
            throw not_found("no tileset named '" + layer_name + "'");
        }
        const auto level = parse_index(z, "z");
        const auto col = parse_index(x, "x");
        const auto row = parse_index(y, "y");
        if (level < static_cast<std::uint64_t>(tms.min_level()) || level > static_cast<std::uint64_t>(tms.max_level())) {
            throw input_error("z", "z=" + z + " is outside " + tms.id() + " levels " + std::to_string(tms.min_level()) +
                                       ".." + std::to_string(tms.max_level()));
        }
        const auto* m = tms.matrix(static_cast<int>(level));
        if (col >= m->matrix_width) {
            throw input_error("x", "x=" + x + " is outside 0.." + std::to_string(m->matrix_width - 1) + " at z=" + z);
        }
        if (row >= m->matrix_height) {
            throw input_error("y", "y=" + y + " is outside 0.." + std::to_string(m->matrix_height - 1) + " at z=" + z);
        }
        const std::string date = requested_date(req);
        res.set_header("Cache-Control", "public, max-age=300");
        if (format == tile_format::png) {
            const auto tile = raster_tile_for(*pinned, composite, layer, tms, static_cast<int>(level), col, row, date,
                                              pixel_ratio);
            send_tile(req, res, *tile, "image/png");
            return;
        }
        const auto tile = tile_for(*pinned, composite, layer, tms, static_cast<int>(level), col, row, date);
        if (!tile) {
            res.status = 204; // nothing existed on that date at this zoom
            return;
        }
        send_tile(req, res, *tile, "application/vnd.mapbox-vector-tile");
    }

    // A PNG tile of a layer or composite drawn with its style, from the cache or rendered with
    // the rest of its metatile (whose other tiles are cached too). Exactly one of `composite`
    // and `layer` is set.
    std::shared_ptr<const cached_tile> raster_tile_for(const std::vector<core::layer>& layers,
                                                       const tileset_config* composite, const core::layer* layer,
                                                       const core::tile_matrix_set& tms, int level, std::uint64_t col,
                                                       std::uint64_t row, const std::string& date, double pixel_ratio)
    {
        std::shared_ptr<const drawable_style> style;
        std::vector<std::string> layer_names;
        if (composite != nullptr) {
            style = raster.named_style(composite->name);
            if (!style) {
                throw not_found("no style file '" + composite->name + ".json' to draw tileset '" + composite->name +
                                "' with");
            }
            for (const auto& member : composite->layers) {
                layer_names.push_back(member.layer);
            }
        } else {
            style = raster.layer_style(*layer, tilesets.empty() ? "basemap" : tilesets.front().name);
            layer_names.push_back(layer->name);
        }
        const auto picks = raster_service::picks_at(layers, composite, layer, tms, level, date);
        const std::string name = composite != nullptr ? composite->name : layer->name;
        const std::string prefix = name + (pixel_ratio == 1 ? "" : "@" + std::to_string(pixel_ratio)) + '/' +
                                   style->id + '#' + style->revision + '@' + date + ".png";
        auto key_of = [&](std::uint64_t c, std::uint64_t r) {
            return prefix + '/' + tms.id() + '/' + std::to_string(level) + '/' + std::to_string(c) + '/' +
                   std::to_string(r);
        };
        // A change anywhere in the metatile can move labels in any of its tiles (collisions),
        // so every tile of it is invalidated by the metatile's box.
        const core::box meta_bounds =
            raster_service::bounds_lonlat(tms, raster_service::metatile_of(tms, level, col, row));
        return cache.get(key_of(col, row), layer_names, meta_bounds, [&] {
            const std::uint64_t epoch = cache.epoch();
            return raster.tile_png(
                prefix, *style, picks, tms, level, col, row, pixel_ratio,
                [&](std::uint64_t c, std::uint64_t r, std::string&& png) {
                    cache.put(key_of(c, r), layer_names, meta_bounds, std::move(png), epoch);
                },
                [&]() -> std::optional<std::string> {
                    if (auto t = cache.peek(key_of(col, row))) {
                        return t->body;
                    }
                    return std::nullopt;
                });
        });
    }

    // The tile from the cache, built on a miss; nullptr when no layer is drawn at that date and
    // zoom. Exactly one of `composite` and `layer` is set.
    std::shared_ptr<const cached_tile> tile_for(const std::vector<core::layer>& layers, const tileset_config* composite,
                                                   const core::layer* layer, const core::tile_matrix_set& tms, int level,
                                                   std::uint64_t col, std::uint64_t row, const std::string& date)
    {
        // What to draw: the layer, or the composite's members shown at this zoom, each in the
        // version valid on the date.
        std::vector<layer_pick> picks;
        std::vector<std::string> layer_names;
        if (composite != nullptr) {
            const int zoom = tms.web_mercator_zoom(level);
            for (const auto& member : composite->layers) {
                const core::layer* l = find_layer(layers, member.layer);
                layer_names.push_back(member.layer);
                if (l != nullptr && member.shown_at(zoom)) {
                    if (const auto* v = l->as_of(date)) {
                        picks.push_back(layer_pick{l, v, &member});
                    }
                }
            }
        } else {
            layer_names.push_back(layer->name);
            if (const auto* v = layer->as_of(date)) {
                picks.push_back(layer_pick{layer, v, nullptr});
            }
        }
        if (picks.empty()) {
            return nullptr;
        }
        // Time is part of the key: the date asked for (today when none), so a publish that
        // only affects other dates cannot serve stale tiles, and a new day re-resolves.
        const std::string name = composite != nullptr ? composite->name : layer->name;
        const std::string key = name + '/' + tms.id() + '/' + std::to_string(level) + '/' + std::to_string(col) + '/' +
                                std::to_string(row) + '@' + date;
        return cache.get(key, layer_names, tms.tile_bounds_lonlat(level, col, row),
                         [&] { return tiles.render_layers(picks, tms, level, col, row); });
    }

    // Fills the cache with every tile of a tileset over a lon/lat box and zoom range.
    nlohmann::json seed(const httplib::Request& req)
    {
        if (req.remote_addr != "127.0.0.1" && req.remote_addr != "::1") {
            throw forbidden("seeding is only accepted from the server's own host");
        }
        const catalog_ptr pinned = catalog();
        const std::string name = req.get_param_value("tileset");
        const tileset_config* composite = find_tileset(name);
        const core::layer* layer = composite == nullptr ? impl::find_layer(*pinned, name) : nullptr;
        if (composite == nullptr && layer == nullptr) {
            throw not_found("no tileset named '" + name + "'");
        }
        const std::string tms_id = req.has_param("tms") ? req.get_param_value("tms") : "WebMercatorQuad";
        const auto* tms = core::find_tile_matrix_set(tms_id);
        if (tms == nullptr) {
            throw input_error("tms", "no tile matrix set '" + tms_id + "'");
        }
        core::box b;
        if (std::sscanf(req.get_param_value("bbox").c_str(), "%lf,%lf,%lf,%lf", &b.min_x, &b.min_y, &b.max_x, &b.max_y) != 4 ||
            !(b.min_x < b.max_x && b.min_y < b.max_y) || b.min_x < -180 || b.max_x > 180 || b.min_y < -90 || b.max_y > 90) {
            throw input_error("bbox", "bbox must be west,south,east,north in degrees");
        }
        const auto minzoom = static_cast<int>(parse_index(req.get_param_value("minzoom"), "minzoom"));
        const auto maxzoom = static_cast<int>(parse_index(req.get_param_value("maxzoom"), "maxzoom"));
        if (minzoom < tms->min_level() || maxzoom > tms->max_level() || minzoom > maxzoom) {
            throw input_error("maxzoom", "zooms must lie in " + std::to_string(tms->min_level()) + ".." +
                                             std::to_string(tms->max_level()) + " with minzoom <= maxzoom");
        }
        const std::string date = requested_date(req);
        const std::string format = req.has_param("format") ? req.get_param_value("format") : "mvt";
        if (format != "mvt" && format != "png") {
            throw input_error("format", "format must be mvt or png, got '" + format + "'");
        }
        std::vector<std::tuple<int, std::uint64_t, std::uint64_t>> todo;
        for (int z = minzoom; z <= maxzoom; ++z) {
            const auto r = tms->tile_range(z, b);
            if ((r.max_col - r.min_col + 1) * (r.max_row - r.min_row + 1) + todo.size() > MAX_SEED_TILES) {
                throw input_error("maxzoom", "more than " + std::to_string(MAX_SEED_TILES) +
                                                 " tiles; seed a smaller box or fewer zooms");
            }
            for (auto col = r.min_col; col <= r.max_col; ++col) {
                for (auto row = r.min_row; row <= r.max_row; ++row) {
                    todo.emplace_back(z, col, row);
                }
            }
        }
        const auto started = std::chrono::steady_clock::now();
        std::size_t bytes = 0;
        std::size_t empty = 0;
        for (const auto& [z, col, row] : todo) {
            // PNG tiles come by metatile: the other 15 of one are cache hits when their turn comes.
            const auto t = format == "png" ? raster_tile_for(*pinned, composite, layer, *tms, z, col, row, date, 1)
                                           : tile_for(*pinned, composite, layer, *tms, z, col, row, date);
            if (!t || t->body.empty()) {
                ++empty;
            } else {
                bytes += t->body.size();
            }
        }
        return {{"tileset", name}, {"tms", tms->id()}, {"format", format}, {"tiles", todo.size()}, {"empty", empty},
                {"bytes", bytes},
                {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()}};
    }

    static constexpr std::size_t MAX_SEED_TILES = 200000;

    std::shared_ptr<const locator> locator_now() const
    {
        auto l = locate_snapshot.load();
        if (!l) {
            throw not_found("point location is not configured (no locate: section in the server config)");
        }
        return l;
    }

    // The boundary of one located feature as GeoJSON text, optionally simplified (metres).
    std::string boundary_geojson(const located& hit, const std::string& code_field, double simplify_m)
    {
        auto conn = pool.acquire();
        pqxx::read_transaction txn(*conn);
        const auto r = txn.exec_params("SELECT ST_AsGeoJSON(ST_Multi(ST_SimplifyPreserveTopology(geom, $1)), 7) FROM " +
                                           core::qualified(core::DATA_SCHEMA, hit.version->table) + " WHERE fid = $2 AND " +
                                           core::quote_ident(code_field) + "::text = $3",
                                       simplify_m / 111320.0, static_cast<long long>(hit.boundary->fid), hit.boundary->code);
        return r.empty() ? "null" : r[0][0].as<std::string>();
    }

    const std::string& code_field_of(std::string_view level) const
    {
        for (const auto& l : locate_levels) {
            if (l.level == level) {
                return l.code_field;
            }
        }
        throw std::logic_error("unknown level " + std::string(level));
    }

    // The JSON answer, or a problem (404) when no finest-level boundary covers the point.
    std::string locate(const httplib::Request& req, httplib::Response& res)
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
        const bool with_boundary = req.has_param("boundary") && req.get_param_value("boundary") == "true";
        const std::string date = requested_date(req);
        const auto loc = locator_now();
        const auto hits = loc->locate(lon, lat, date);
        if (hits.empty() || hits.back().level != loc->levels().back().level) {
            std::string detail = "no " + loc->levels().back().level + " covers the point (";
            append_fixed(detail, lon, 7);
            detail += ", ";
            append_fixed(detail, lat, 7);
            detail += ") on " + date;
            // Phones ask from outside the city often: answer without unwinding an exception.
            send_problem(res, 404, "Not Found", detail);
            return {};
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
        return out;
    }

    nlohmann::json grid(const httplib::Request& req, const std::string& code)
    {
        const std::string date = requested_date(req);
        double simplify = 0;
        if (req.has_param("simplify")) {
            simplify = parse_coordinate(req, "simplify", 0, 10000);
        }
        const auto loc = locator_now();
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

    nlohmann::json grid_neighbors(const httplib::Request& req, const std::string& code)
    {
        const std::string date = requested_date(req);
        const auto loc = locator_now();
        if (!loc->find(code, date)) {
            throw not_found("no " + loc->levels().back().level + " '" + code + "' on " + date);
        }
        nlohmann::json list = nlohmann::json::array();
        for (const auto* n : loc->neighbors(code, date)) {
            list.push_back({{"code", n->code}, {"name", n->name}});
        }
        return {{"code", code}, {"datetime", date}, {"neighbors", list}};
    }

    static nlohmann::json fields_of(const core::layer_version* v, const tileset_member* member)
    {
        nlohmann::json fields = nlohmann::json::object();
        if (v == nullptr) {
            return fields;
        }
        for (const auto& a : v->attributes) {
            if (member != nullptr && !member->keeps(a.name)) {
                continue;
            }
            switch (a.type) {
            case core::attribute_type::integer:
            case core::attribute_type::bigint:
            case core::attribute_type::real:
                fields[a.name] = "Number";
                break;
            case core::attribute_type::boolean:
                fields[a.name] = "Boolean";
                break;
            default:
                fields[a.name] = "String";
            }
        }
        return fields;
    }

    std::string base_url(const httplib::Request& req) const
    {
        if (!config.public_url.empty()) {
            return config.public_url;
        }
        const std::string host = req.get_header_value("Host");
        return "http://" + (host.empty() ? config.host + ":" + std::to_string(config.port) : host);
    }

    // TileJSON 3.0.0 for a layer or a composite tileset.
    nlohmann::json tilejson(const httplib::Request& req, const std::string& name, const std::vector<core::layer>& layers,
                            const std::string& date) const
    {
        nlohmann::json vector_layers = nlohmann::json::array();
        std::optional<core::box> bounds;
        std::string title = name;
        std::string attribution;
        int minzoom = 22;
        int maxzoom = 0;
        auto add = [&](const core::layer& l, const tileset_member* m) {
            const core::layer_version* v = l.as_of(date);
            const int lo = m != nullptr ? m->minzoom : 0;
            const int hi = m != nullptr ? m->maxzoom : 22;
            minzoom = std::min(minzoom, lo);
            maxzoom = std::max(maxzoom, hi);
            vector_layers.push_back({{"id", l.name}, {"description", l.title}, {"fields", fields_of(v, m)},
                                     {"minzoom", lo}, {"maxzoom", hi}});
            if (v != nullptr && v->bbox) {
                if (!bounds) {
                    bounds = *v->bbox;
                } else {
                    bounds->min_x = std::min(bounds->min_x, v->bbox->min_x);
                    bounds->min_y = std::min(bounds->min_y, v->bbox->min_y);
                    bounds->max_x = std::max(bounds->max_x, v->bbox->max_x);
                    bounds->max_y = std::max(bounds->max_y, v->bbox->max_y);
                }
            }
            if (attribution.find(l.department) == std::string::npos) {
                attribution += (attribution.empty() ? "" : ", ") + l.department;
            }
        };
        if (const auto* composite = find_tileset(name)) {
            title = composite->title;
            for (const auto& m : composite->layers) {
                if (const auto* l = find_layer(layers, m.layer)) {
                    add(*l, &m);
                }
            }
        } else if (const auto* l = find_layer(layers, name)) {
            title = l->title;
            add(*l, nullptr);
        } else {
            throw not_found("no tileset named '" + name + "'");
        }
        std::string url = base_url(req) + "/tiles/" + name + "/{z}/{x}/{y}.mvt";
        if (req.has_param("datetime")) {
            url += "?datetime=" + date;
        }
        nlohmann::json doc = {{"tilejson", "3.0.0"}, {"name", name},           {"description", title},
                              {"version", "1.0.0"},  {"scheme", "xyz"},        {"tiles", {url}},
                              {"minzoom", minzoom},  {"maxzoom", maxzoom},     {"attribution", attribution},
                              {"vector_layers", vector_layers}};
        if (bounds) {
            doc["bounds"] = {bounds->min_x, bounds->min_y, bounds->max_x, bounds->max_y};
            doc["center"] = {(bounds->min_x + bounds->max_x) / 2, (bounds->min_y + bounds->max_y) / 2, 10};
        }
        return doc;
    }

    static void send_tile(const httplib::Request& req, httplib::Response& res, const cached_tile& tile,
                          const char* content_type)
    {
        res.set_header("ETag", tile.etag);
        res.set_header("Vary", "Accept-Encoding");
        if (req.get_header_value("If-None-Match") == tile.etag) {
            res.status = 304;
            return;
        }
        if (tile.body.empty()) {
            res.status = 204; // documented: an empty tile is 204 No Content
            return;
        }
        const bool gzip_ok = accepts_gzip(req.get_header_value("Accept-Encoding"));
        if (gzip_ok && !tile.gzipped.empty()) {
            res.set_header("Content-Encoding", "gzip");
            res.set_content(tile.gzipped, content_type);
        } else {
            res.set_content(tile.body, content_type);
        }
    }

    // LISTEN for the importer's publish notifications; on each, swap in the new catalog and
    // drop only the cached tiles of that layer inside the changed bbox.
    void listen_loop(server& owner)
    {
        while (!stopping) {
            try {
                auto conn = core::connect(config.db);
                struct receiver : pqxx::notification_receiver {
                    receiver(pqxx::connection_base& c, impl& i, server& o)
                        : pqxx::notification_receiver(c, core::PUBLISH_CHANNEL), self(i), owner(o) {}
                    void operator()(const std::string& payload, int) override { self.on_publish(owner, payload); }
                    impl& self;
                    server& owner;
                } rx(*conn, *this, owner);
                owner.reload_catalog(); // anything published while we were not listening
                while (!stopping) {
                    conn->await_notification(0, 200000);
                }
            } catch (const std::exception& e) {
                log().warn("publish listener: {}; retrying in 2 s", e.what());
                for (int i = 0; i < 20 && !stopping; ++i) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                }
            }
        }
    }

    void on_publish(server& owner, const std::string& payload)
    {
        owner.reload_catalog();
        try {
            const auto p = nlohmann::json::parse(payload);
            const auto layer = p.at("layer").get<std::string>();
            std::size_t dropped = 0;
            if (p.contains("bbox") && p["bbox"].is_array() && p["bbox"].size() == 4) {
                const auto& b = p["bbox"];
                dropped = cache.invalidate(layer, core::box{b[0].get<double>(), b[1].get<double>(),
                                                            b[2].get<double>(), b[3].get<double>()});
            } else if (!p.contains("bbox")) {
                dropped = cache.invalidate(layer);
            }
            log().info("published {} version {}: {} cached tiles dropped", layer, p.value("version", 0), dropped);
        } catch (const std::exception& e) {
            log().warn("publish notification '{}' not understood ({}); dropping the whole cache", payload, e.what());
            cache.clear();
        }
    }

    server_config config;
    core::connection_pool pool;
    tile_service tiles;
    raster_service raster;
    render::glyph_source glyphs;
    tile_cache cache{config.cache_bytes};
    std::vector<tileset_config> tilesets;
    std::vector<locate_level> locate_levels;
    shared_snapshot<locator> locate_snapshot;
    shared_snapshot<std::vector<core::layer>> snapshot{std::make_shared<const std::vector<core::layer>>()};
    std::atomic<std::uint64_t> reloads{0};
    std::atomic<bool> stopping{false};
    int listen_socket = -1;
    std::thread listener;
    httplib::Server http;
};

server::server(server_config config) : m_impl(std::make_unique<impl>(std::move(config)))
{
    auto& http = m_impl->http;
    http.set_tcp_nodelay(true); // without it cpp-httplib stalls ~40 ms per response
    // Debian's cpp-httplib listens with a backlog of 5: a burst of new connections overflows
    // it and the kernel drops their SYNs, which clients retry after a whole second. Keep the
    // listening socket (its options are set here, as httplib's defaults would) and widen the
    // backlog after binding.
    http.set_socket_options([self = m_impl.get()](int sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        self->listen_socket = sock;
    });
    http.set_keep_alive_max_count(100000);
    const std::size_t threads = m_impl->config.http_threads;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };

    impl* self = m_impl.get();
    // Exact-path GET routes, answered from a pre-routing hook before cpp-httplib tries its
    // patterns (one std::regex_match per registered route, in order): the paths that phones
    // and load balancers hit thousands of times a second. Registered as routes too, for HEAD.
    const std::vector<std::pair<std::string, httplib::Server::Handler>> exact_routes{
        {"/health", guarded([](const httplib::Request&, httplib::Response& res) {
             res.set_content("{\"status\":\"ok\"}", JSON_TYPE);
         })},
        {"/locate", guarded([self](const httplib::Request& req, httplib::Response& res) {
             std::string body = self->locate(req, res);
             if (!body.empty()) {
                 res.set_content(std::move(body), JSON_TYPE);
             }
         })},
    };
    for (const auto& [path, handler] : exact_routes) {
        http.Get(path, handler);
    }
    http.set_pre_routing_handler([exact_routes](const httplib::Request& req, httplib::Response& res) {
        if (req.method == "GET") {
            for (const auto& [path, handler] : exact_routes) {
                if (req.path == path) {
                    handler(req, res);
                    return httplib::Server::HandlerResponse::Handled;
                }
            }
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    http.Get("/tiles", guarded([self](const httplib::Request&, httplib::Response& res) {
        nlohmann::json sets = nlohmann::json::array();
        for (const auto& l : *self->catalog()) {
            if (!l.is_public) {
                continue;
            }
            nlohmann::json versions = nlohmann::json::array();
            for (const auto& v : l.versions) {
                versions.push_back({{"version", v.version}, {"valid_from", v.valid_from},
                                    {"valid_to", v.valid_to ? nlohmann::json(*v.valid_to) : nlohmann::json()}});
            }
            nlohmann::json tms = nlohmann::json::array();
            for (const auto* t : core::all_tile_matrix_sets()) {
                tms.push_back(t->id());
            }
            sets.push_back({{"name", l.name}, {"title", l.title}, {"theme", l.theme},
                            {"layers", nlohmann::json::array({l.name})}, {"tile_matrix_sets", tms},
                            {"versions", versions}});
        }
        for (const auto& t : self->tilesets) {
            nlohmann::json members = nlohmann::json::array();
            for (const auto& m : t.layers) {
                members.push_back(m.layer);
            }
            nlohmann::json tms = nlohmann::json::array();
            for (const auto* ms : core::all_tile_matrix_sets()) {
                tms.push_back(ms->id());
            }
            sets.push_back({{"name", t.name}, {"title", t.title}, {"theme", "basemap"}, {"layers", members},
                            {"tile_matrix_sets", tms}, {"versions", nlohmann::json::array()}});
        }
        res.set_content(nlohmann::json({{"tilesets", sets}}).dump(), "application/json");
    }));
    http.Get(R"(/tiles/([^/]+)\.json)", guarded([self](const httplib::Request& req, httplib::Response& res) {
                 const catalog_ptr pinned = self->catalog();
                 res.set_header("Cache-Control", "public, max-age=60");
                 res.set_content(self->tilejson(req, req.matches[1], *pinned, requested_date(req)).dump(),
                                 "application/json");
             }));
    http.Get(R"(/tiles/([^/]+)/([^/]+)/([^/]+)/([^/]+)\.mvt)",
             guarded([self](const httplib::Request& req, httplib::Response& res) {
                 self->handle_tile(req, res, req.matches[1], core::web_mercator_quad(), req.matches[2],
                                   req.matches[3], req.matches[4]);
             }));
    http.Get(R"(/tiles/([^/]+)/([^/]+)/([^/]+)/([^/]+)/([^/]+)\.mvt)",
             guarded([self](const httplib::Request& req, httplib::Response& res) {
                 const auto* tms = core::find_tile_matrix_set(req.matches[2]);
                 if (tms == nullptr) {
                     throw not_found("no tile matrix set '" + std::string(req.matches[2]) + "'");
                 }
                 self->handle_tile(req, res, req.matches[1], *tms, req.matches[3], req.matches[4],
                                   req.matches[5]);
             }));
    // Rendered PNG (the style of the same name for a composite, the layer's own for a layer);
    // "@2x" draws the same area at twice the pixels.
    http.Get(R"(/tiles/([^/]+)/([0-9]+)/([0-9]+)/([0-9]+)(@2x)?\.png)",
             guarded([self](const httplib::Request& req, httplib::Response& res) {
                 self->handle_tile(req, res, req.matches[1], core::web_mercator_quad(), req.matches[2],
                                   req.matches[3], req.matches[4], tile_format::png, req.matches[5].length() > 0 ? 2 : 1);
             }));
    http.Get(R"(/tiles/([^/]+)/([^/]+)/([0-9]+)/([0-9]+)/([0-9]+)(@2x)?\.png)",
             guarded([self](const httplib::Request& req, httplib::Response& res) {
                 const auto* tms = core::find_tile_matrix_set(req.matches[2]);
                 if (tms == nullptr) {
                     throw not_found("no tile matrix set '" + std::string(req.matches[2]) + "'");
                 }
                 self->handle_tile(req, res, req.matches[1], *tms, req.matches[3], req.matches[4], req.matches[5],
                                   tile_format::png, req.matches[6].length() > 0 ? 2 : 1);
             }));
    wmts_context wmts;
    wmts.pool = &m_impl->pool;
    wmts.catalog = [self] { return self->catalog(); };
    wmts.base_url = [self](const httplib::Request& req) { return self->base_url(req); };
    wmts.tilesets = &m_impl->tilesets;
    wmts.tile = [self](const std::string& name, tile_format format, const core::tile_matrix_set& tms, int level,
                       std::uint64_t col, std::uint64_t row, const std::string& date) {
        const catalog_ptr pinned = self->catalog();
        const tileset_config* composite = self->find_tileset(name);
        const core::layer* layer = composite == nullptr ? impl::find_layer(*pinned, name) : nullptr;
        if (composite == nullptr && layer == nullptr) {
            throw not_found("no layer '" + name + "'");
        }
        return format == tile_format::png
                   ? self->raster_tile_for(*pinned, composite, layer, tms, level, col, row, date, 1)
                   : self->tile_for(*pinned, composite, layer, tms, level, col, row, date);
    };
    wmts.send_tile = [](const httplib::Request& req, httplib::Response& res, const cached_tile& tile,
                        const char* content_type) { impl::send_tile(req, res, tile, content_type); };
    register_wmts(http, std::move(wmts));
    http.Post("/admin/seed", guarded([self](const httplib::Request& req, httplib::Response& res) {
        res.set_content(self->seed(req).dump(), "application/json");
    }));
    features_context features;
    features.pool = &m_impl->pool;
    features.limits.max_response_bytes = m_impl->config.ogc_max_response_bytes;
    features.limits.statement_timeout_ms = m_impl->config.query_timeout_ms;
    features.catalog = [self] { return self->catalog(); };
    features.base_url = [self](const httplib::Request& req) { return self->base_url(req); };
    register_features_api(http, std::move(features));
    http.Get(R"(/grids/([^/]+)/neighbors)", guarded([self](const httplib::Request& req, httplib::Response& res) {
        res.set_content(self->grid_neighbors(req, req.matches[1]).dump(), "application/json");
    }));
    http.Get(R"(/grids/([^/]+))", guarded([self](const httplib::Request& req, httplib::Response& res) {
        res.set_content(self->grid(req, req.matches[1]).dump(), "application/geo+json");
    }));
    // Styles are files; "{server}" in them becomes this server's URL, so web apps and the
    // renderer load the same document.
    http.Get(R"(/styles/([a-z0-9_-]+)\.json)", guarded([self](const httplib::Request& req, httplib::Response& res) {
        const std::string path = self->config.styles_dir + "/" + std::string(req.matches[1]) + ".json";
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            throw not_found("no style named '" + std::string(req.matches[1]) + "'");
        }
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const std::string base = self->base_url(req);
        for (std::size_t at = text.find("{server}"); at != std::string::npos; at = text.find("{server}", at + base.size())) {
            text.replace(at, 8, base);
        }
        res.set_header("Cache-Control", "public, max-age=60");
        res.set_content(std::move(text), "application/json");
    }));
    // SDF glyphs for MapLibre GL (the style's "glyphs" URL), generated from the installed fonts.
    http.Get("/fonts.json", guarded([self](const httplib::Request&, httplib::Response& res) {
        res.set_header("Cache-Control", "public, max-age=86400");
        res.set_content(nlohmann::json(self->glyphs.fonts()).dump(), "application/json");
    }));
    http.Get(R"(/fonts/([^/]+)/([0-9]+)-([0-9]+)\.pbf)", guarded([self](const httplib::Request& req, httplib::Response& res) {
        const auto start = parse_index(req.matches[2], "range");
        const auto end = parse_index(req.matches[3], "range");
        if (start > 65535 || end > 65535) {
            throw input_error("range", "range " + std::string(req.matches[2]) + "-" + std::string(req.matches[3]) +
                                           " is outside 0-65535");
        }
        std::string pbf;
        try {
            pbf = self->glyphs.range_pbf(req.matches[1], static_cast<std::uint32_t>(start),
                                         static_cast<std::uint32_t>(end));
        } catch (const render::unknown_fontstack_error& e) {
            throw not_found(e.what());
        } catch (const render::glyph_range_error& e) {
            throw input_error("range", e.what());
        }
        res.set_header("Cache-Control", "public, max-age=86400");
        const bool gzip_ok = accepts_gzip(req.get_header_value("Accept-Encoding"));
        if (gzip_ok) {
            res.set_header("Content-Encoding", "gzip");
            res.set_content(gzip(pbf), "application/x-protobuf");
        } else {
            res.set_content(std::move(pbf), "application/x-protobuf");
        }
    }));
    http.Get("/stats", guarded([self](const httplib::Request&, httplib::Response& res) {
        const auto c = self->cache.stats();
        const auto metatiles = self->raster.metatiles_drawn();
        res.set_content(nlohmann::json({{"cache", {{"hits", c.hits}, {"misses", c.misses}, {"evictions", c.evictions},
                                                   {"invalidated", c.invalidated}, {"bytes", c.bytes},
                                                   {"entries", c.entries}, {"max_bytes", self->cache.max_bytes()}}},
                                        {"raster", {{"metatiles_drawn", metatiles}}},
                                        {"catalog_reloads", self->reloads.load()}})
                            .dump(),
                        "application/json");
    }));
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (res.body.empty() && res.status == 404) {
            send_problem(res, 404, "Not Found", "no resource at " + req.path);
        }
    });
}

server::~server()
{
    m_impl->stopping = true;
    if (m_impl->listener.joinable()) {
        m_impl->listener.join();
    }
}

void server::reload_catalog()
{
    auto conn = m_impl->pool.acquire();
    auto layers = std::make_shared<const std::vector<core::layer>>(core::load_catalog(*conn));
    log().info("catalog: {} layers", layers->size());
    if (!m_impl->locate_levels.empty()) {
        // Versions already indexed by the snapshot in service are shared, not rebuilt.
        const auto previous = m_impl->locate_snapshot.load();
        auto loc = std::make_shared<const locator>(*conn, *layers, m_impl->locate_levels, previous.get());
        m_impl->locate_snapshot.store(std::move(loc));
    }
    m_impl->snapshot.store(std::move(layers));
    ++m_impl->reloads;
}

int server::bind()
{
    reload_catalog();
    auto& cfg = m_impl->config;
    const int port = cfg.port == 0 ? m_impl->http.bind_to_any_port(cfg.host)
                                   : (m_impl->http.bind_to_port(cfg.host, cfg.port) ? cfg.port : -1);
    if (port < 0) {
        throw config_error("cannot listen on " + cfg.host + ":" + std::to_string(cfg.port));
    }
    cfg.port = port;
    if (m_impl->listen_socket >= 0 && ::listen(m_impl->listen_socket, SOMAXCONN) != 0) {
        log().warn("cannot widen the listen backlog: {}", std::strerror(errno));
    }
    if (cfg.listen_for_publish && !m_impl->listener.joinable()) {
        m_impl->listener = std::thread([this] { m_impl->listen_loop(*this); });
    }
    return port;
}

void server::run()
{
    m_impl->http.listen_after_bind();
}

void server::stop()
{
    m_impl->stopping = true;
    m_impl->http.stop();
}

} // namespace onemap::tileserver
