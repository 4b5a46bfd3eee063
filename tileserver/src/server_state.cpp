#include "server_state.hpp"

#include "config_yaml.hpp"

#include "onemap/core/error.hpp"
#include "onemap/tileserver/http_encoding.hpp"

#include <cctype>
#include <string_view>

namespace onemap::tileserver {

server_state::server_state(server_config c)
    : config(std::move(c)),
      pool(config.db, config.db_connections,
           core::pool_limits{std::chrono::milliseconds(config.db_wait_timeout_ms), config.query_timeout_ms,
                             config.connect_timeout_s}),
      tiles(pool, &held), raster(pool, config.styles_dir, 0, &held)
{
    raster.set_wait_limit(std::chrono::milliseconds(config.tile_wait_timeout_ms));
    if (!config.config_path.empty()) {
        locate_levels = read_locate_levels(config.config_path);
        reload_config();
    }
}

void server_state::reload_config()
{
    if (config.config_path.empty()) {
        return;
    }
    // One reading of the file, everything checked before anything is swapped in: tilesets and
    // rights always come from the same version of it.
    const YAML::Node doc = load_config_yaml(config.config_path);
    auto sets = std::make_shared<const std::vector<tileset_config>>(read_tilesets(doc, config.config_path));
    auto r = std::make_shared<const access_rules>(access_rules::read(doc, config.config_path));
    auto a = std::make_shared<const analysis::analysis_config>(analysis::read_analysis_config(doc, config.config_path));
    tileset_snapshot.store(std::move(sets));
    rules_snapshot.store(std::move(r));
    analysis_snapshot.store(std::move(a));
}

catalog_ptr server_state::catalog_for(const std::string& department) const
{
    catalog_ptr base = catalog();
    auto r = rules();
    if (!r->restricts()) {
        return base;
    }
    // Each thread remembers its last answer (holding what it was made from, so that a new
    // catalog cannot take an old one's address): most requests skip the shared map's lock.
    struct memo {
        const server_state* owner = nullptr;
        catalog_ptr base;
        std::shared_ptr<const access_rules> rules;
        std::string department;
        catalog_ptr view;
    };
    thread_local memo last;
    if (last.owner == this && last.base == base && last.rules == r && last.department == department) {
        return last.view;
    }
    catalog_ptr view = views_for(base, r, department);
    last = memo{this, std::move(base), std::move(r), department, view};
    return view;
}

catalog_ptr server_state::views_for(const catalog_ptr& base, const std::shared_ptr<const access_rules>& r,
                                    const std::string& department) const
{
    const std::lock_guard<std::mutex> lock(m_views_mutex);
    if (m_views.base != base || m_views.rules != r) {
        m_views.by_department.clear();
        m_views.base = base;
        m_views.rules = r;
    }
    auto& view = m_views.by_department[department];
    if (!view) {
        view = visible_catalog(base, *r, caller{department});
    }
    return view;
}

std::string server_state::key_query(const http_request& req)
{
    return req.caller.key_in_query ? "key=" + encode_query_param(req.caller.api_key) : std::string();
}

server_state::~server_state() = default;

std::shared_ptr<const tileset_config> server_state::find_tileset(const std::string& name) const
{
    return tileserver::find_tileset(tilesets(), name);
}

std::shared_ptr<const locator> server_state::locator_now() const
{
    auto l = locate_snapshot.load();
    if (!l) {
        throw not_found("point location is not configured (no locate: section in the server config)");
    }
    return l;
}

namespace {

bool valid_host(std::string_view host)
{
    if (host.empty() || host.size() > 255) {
        return false;
    }
    std::size_t i = 0;
    if (host[0] == '[') { // IPv6 literal
        const std::size_t close = host.find(']');
        if (close == std::string_view::npos || close < 3) {
            return false;
        }
        for (i = 1; i < close; ++i) {
            const char c = host[i];
            if (!(std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.')) {
                return false;
            }
        }
        i = close + 1;
    } else {
        for (; i < host.size() && host[i] != ':'; ++i) {
            const char c = host[i];
            if (!(std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-')) {
                return false;
            }
        }
        if (i == 0) {
            return false;
        }
    }
    if (i == host.size()) {
        return true;
    }
    if (host[i] != ':' || i + 1 == host.size() || host.size() - i - 1 > 5) {
        return false;
    }
    for (++i; i < host.size(); ++i) {
        if (std::isdigit(static_cast<unsigned char>(host[i])) == 0) {
            return false;
        }
    }
    return true;
}

} // namespace

std::string server_state::base_url(const http_request& req) const
{
    if (!config.public_url.empty()) {
        return config.public_url;
    }
    // The Host header goes into documents sent with Cache-Control: public; only a host name,
    // an IPv4 or a bracketed IPv6 address and a port are taken from it, else the configured
    // address is written.
    const std::string& host = req.get_header_value("Host");
    return "http://" + (valid_host(host) ? host : config.http.host + ":" + std::to_string(config.http.port));
}

std::shared_ptr<const cached_tile> server_state::raster_tile_for(const std::vector<core::layer>& layers,
                                                                 const tileset_config* composite,
                                                                 const core::layer* layer,
                                                                 const core::tile_matrix_set& tms, int level,
                                                                 std::uint64_t col, std::uint64_t row,
                                                                 const std::string& date, double pixel_ratio,
                                                                 draw_extent extent)
{
    std::shared_ptr<const drawable_style> style;
    if (composite != nullptr) {
        style = raster.named_style(composite->name);
        if (!style) {
            throw not_found("no style file '" + composite->name + ".json' to draw tileset '" + composite->name +
                            "' with");
        }
    } else {
        const auto sets = tilesets();
        style = raster.layer_style(*layer, sets->empty() ? "basemap" : sets->front().name);
    }
    tile_plan plan = plan_tile(layers, composite, layer, raster_service::drawn_zoom(tms, level), date);
    const std::string& name = composite != nullptr ? composite->name : layer->name;
    // The style's revision is part of the key: an edited style draws new tiles.
    const std::string prefix = name + (composite != nullptr ? "~" + composite->revision : std::string()) +
                               (pixel_ratio == 1 ? "" : "@" + std::to_string(pixel_ratio)) + '/' + style->id +
                               '#' + style->revision + ".png/" + tms.id() + '/' + std::to_string(level) + '/';
    auto key_of = [&](std::uint64_t c, std::uint64_t r) {
        return tile_key{prefix + std::to_string(c) + '/' + std::to_string(r), plan.drawn};
    };
    const tile_key key = key_of(col, row);
    const std::string key_text = key.str();
    if (auto cached = cache.hit(key_text)) {
        return cached;
    }
    // A change anywhere a metatile reaches can move labels in any of its tiles (collisions),
    // so every tile of it reaches as far as the whole metatile drawing.
    const auto mt = raster_service::metatile_of(tms, level, col, row);
    const core::box reach = raster_service::reach_lonlat(tms, mt, pixel_ratio);
    return cache.get(key, reach, [&] {
        // The flight is named by everything but the tile's column and row (tile_png adds them).
        const auto start = std::chrono::steady_clock::now();
        std::string drawn = raster.tile_png(
            tile_key{prefix, plan.drawn}.str(), *style, plan.picks, tms, level, col, row, pixel_ratio, extent,
            [&](std::uint64_t c, std::uint64_t r, std::string&& png) { cache.put(key_of(c, r), reach, std::move(png)); },
            [&]() -> std::optional<std::string> {
                if (auto t = cache.peek(key_text)) {
                    return t->body;
                }
                return std::nullopt;
            });
        metrics.tile_built(name, level, "png",
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        return drawn;
    });
}

std::shared_ptr<const cached_tile> server_state::tile_for(const std::vector<core::layer>& layers,
                                                          const tileset_config* composite, const core::layer* layer,
                                                          const core::tile_matrix_set& tms, int level,
                                                          std::uint64_t col, std::uint64_t row,
                                                          const std::string& date)
{
    // The key names the versions drawn, not the date: every date drawing the same versions
    // shares the tile, and a publish cannot leave a stale one behind.
    tile_plan plan = plan_tile(layers, composite, layer, tms.web_mercator_zoom(level), date);
    if (plan.picks.empty()) {
        return nullptr; // nothing drawn at this date and zoom
    }
    const std::string& name = composite != nullptr ? composite->name : layer->name;
    tile_key key;
    key.base.reserve(name.size() + 48);
    key.base += name;
    if (composite != nullptr) {
        key.base += '~';
        key.base += composite->revision;
    }
    key.base += '/';
    key.base += tms.id();
    key.base += '/';
    key.base += std::to_string(level);
    key.base += '/';
    key.base += std::to_string(col);
    key.base += '/';
    key.base += std::to_string(row);
    key.drawn = std::move(plan.drawn);
    if (auto cached = cache.hit(key.str())) { // only tiles with something to draw are ever cached
        return cached;
    }
    const core::mvt::tile_projection proj(tms, level, col, row);
    return cache.get(key, proj.query_bounds_lonlat(), [&] {
        const auto start = std::chrono::steady_clock::now();
        std::string mvt = tiles.render_layers(plan.picks, tms, level, col, row);
        metrics.tile_built(name, level, "mvt",
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        return mvt;
    });
}

std::shared_ptr<const cached_tile> server_state::tile_named(const std::vector<core::layer>& layers,
                                                            const std::string& name, tile_format format,
                                                            const core::tile_matrix_set& tms, int level,
                                                            std::uint64_t col, std::uint64_t row,
                                                            const std::string& date, draw_extent extent)
{
    const auto composite = find_tileset(name);
    const core::layer* layer = composite == nullptr ? core::find_public_layer(layers, name) : nullptr;
    if (composite == nullptr && layer == nullptr) {
        throw not_found("no layer '" + name + "'");
    }
    return format == tile_format::png
               ? raster_tile_for(layers, composite.get(), layer, tms, level, col, row, date, 1, extent)
               : tile_for(layers, composite.get(), layer, tms, level, col, row, date);
}

void server_state::send_tile(const http_request& req, http_response& res, const std::shared_ptr<const cached_tile>& tile,
                             const char* content_type)
{
    res.set_header("ETag", tile->etag);
    res.set_header("Vary", "Accept-Encoding");
    if (req.get_header_value("If-None-Match") == tile->etag) {
        res.status = 304;
        return;
    }
    if (tile->body.empty()) {
        res.status = 204; // documented: an empty tile is 204 No Content
        return;
    }
    if (!tile->gzipped.empty() && accepts_gzip(req.get_header_value("Accept-Encoding"))) {
        res.set_header("Content-Encoding", "gzip");
        res.set_shared_content(tile, tile->gzipped, content_type);
    } else {
        res.set_shared_content(tile, tile->body, content_type);
    }
}

} // namespace onemap::tileserver
