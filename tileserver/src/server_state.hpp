#pragma once
// What every route of the server shares: the configuration, the database pool, the catalog
// and locator snapshots, the tile cache and the services that build tiles. The route files
// (tile_routes.cpp, locate_routes.cpp, …) register their routes over one of these.
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/tile_matrix_set.hpp"
#include "onemap/render/glyphs.hpp"
#include "onemap/tileserver/access.hpp"
#include "onemap/tileserver/analysis/analysis_config.hpp"
#include "onemap/tileserver/http_message.hpp"
#include "onemap/tileserver/key_directory.hpp"
#include "onemap/tileserver/metrics.hpp"
#include "onemap/tileserver/locator.hpp"
#include "onemap/tileserver/raster_service.hpp"
#include "onemap/tileserver/router.hpp"
#include "onemap/tileserver/server.hpp"
#include "onemap/tileserver/shared_snapshot.hpp"
#include "onemap/tileserver/tile_cache.hpp"
#include "onemap/tileserver/tile_service.hpp"
#include "onemap/tileserver/tileset_config.hpp"
#include "onemap/tileserver/wmts.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace onemap::tileserver {

using catalog_ptr = std::shared_ptr<const std::vector<core::layer>>;

struct server_state {
    explicit server_state(server_config c);
    server_state(const server_state&) = delete; // services hold references into it
    server_state& operator=(const server_state&) = delete;
    ~server_state();

    /// Every published layer: for the server's own work (publishes, seeding the public view).
    catalog_ptr catalog() const { return snapshot.load(); }
    /// The catalog as the caller of `req` sees it (access.hpp): what it may not see is not public.
    catalog_ptr catalog_for(const http_request& req) const { return catalog_for(req.caller.department); }
    /// The catalog as a caller of `department` ("" = without a key) sees it.
    catalog_ptr catalog_for(const std::string& department) const;
    std::shared_ptr<const access_rules> rules() const { return rules_snapshot.load(); }
    /// The analytics configuration (`analysis:` in the config file) now.
    std::shared_ptr<const analysis::analysis_config> analysis() const { return analysis_snapshot.load(); }
    static caller caller_of(const http_request& req) { return caller{req.caller.department}; }
    /// `key=…` when the caller presented its key as a query parameter, else "": the links a
    /// document writes for that caller carry it (a client that could not send the header for
    /// the document cannot for the tiles either).
    static std::string key_query(const http_request& req);
    /// The composite tilesets now; reload() may replace them between requests.
    std::shared_ptr<const std::vector<tileset_config>> tilesets() const { return tileset_snapshot.load(); }
    /// The composite named `name` (nullptr: none), kept alive while the caller holds it.
    std::shared_ptr<const tileset_config> find_tileset(const std::string& name) const;
    /// Reads the config file again: tilesets, rights and rate limits, all or nothing.
    /// \throws config_error (the running configuration is kept).
    void reload_config();
    /// The locator in service. \throws not_found when no locate: section is configured.
    std::shared_ptr<const locator> locator_now() const;
    /// The URL clients reach this server at: --public-url, else from the Host header.
    std::string base_url(const http_request& req) const;

    /// The MVT tile from the cache, built on a miss; nullptr when no layer is drawn at that
    /// date and zoom. Exactly one of `composite` and `layer` is set. Cached by the versions
    /// drawn (tile_cache.hpp), so any date drawing the same versions shares it.
    std::shared_ptr<const cached_tile> tile_for(const std::vector<core::layer>& layers, const tileset_config* composite,
                                                const core::layer* layer, const core::tile_matrix_set& tms, int level,
                                                std::uint64_t col, std::uint64_t row, const std::string& date);
    /// The PNG tile from the cache, drawn on a miss alone or with the rest of its metatile
    /// (`extent`: raster_service::tile_png).
    std::shared_ptr<const cached_tile> raster_tile_for(const std::vector<core::layer>& layers,
                                                       const tileset_config* composite, const core::layer* layer,
                                                       const core::tile_matrix_set& tms, int level, std::uint64_t col,
                                                       std::uint64_t row, const std::string& date, double pixel_ratio,
                                                       draw_extent extent = draw_extent::tile);
    /// A tile (layer or composite by name) in either format, for WMTS and seeding (which draws
    /// PNGs by whole metatiles).
    std::shared_ptr<const cached_tile> tile_named(const std::vector<core::layer>& layers, const std::string& name,
                                                  tile_format format,
                                                  const core::tile_matrix_set& tms, int level, std::uint64_t col,
                                                  std::uint64_t row, const std::string& date,
                                                  draw_extent extent = draw_extent::tile);
    /// Writes a tile with its ETag (If-None-Match → 304), gzip when accepted, 204 when empty;
    /// the body is the cache's own buffer.
    static void send_tile(const http_request& req, http_response& res, const std::shared_ptr<const cached_tile>& tile,
                          const char* content_type);

    server_config config;
    core::connection_pool pool;
    tile_store held{pool, config.tile_memory_bytes};
    tile_service tiles;
    raster_service raster;
    render::glyph_source glyphs;
    tile_cache cache{config.cache_bytes, std::chrono::milliseconds(config.tile_wait_timeout_ms),
                     "--tile-wait-timeout-ms"};
    shared_snapshot<std::vector<tileset_config>> tileset_snapshot{
        std::make_shared<const std::vector<tileset_config>>()};
    std::vector<locate_level> locate_levels;
    shared_snapshot<locator> locate_snapshot;
    shared_snapshot<std::vector<core::layer>> snapshot{std::make_shared<const std::vector<core::layer>>()};
    std::atomic<std::uint64_t> reloads{0};
    shared_snapshot<access_rules> rules_snapshot{std::make_shared<const access_rules>()};
    shared_snapshot<analysis::analysis_config> analysis_snapshot{std::make_shared<const analysis::analysis_config>()};
    key_directory keys{pool};
    server_metrics metrics;
    rate_limiter rates;
    /// The publish listener is connected and has read the catalog since: the database is
    /// reachable and what it published is known (GET /ready).
    std::atomic<bool> listening{false};

private:
    catalog_ptr views_for(const catalog_ptr& base, const std::shared_ptr<const access_rules>& r,
                          const std::string& department) const;
    // The catalog per view, made again when the catalog or the rules change.
    struct view_cache {
        catalog_ptr base;
        std::shared_ptr<const access_rules> rules;
        std::unordered_map<std::string, catalog_ptr> by_department;
    };
    mutable std::mutex m_views_mutex;
    mutable view_cache m_views;
};

// Each capability's routes, one file each.
void register_tile_routes(router& routes, server_state& state);
void register_locate_routes(router& routes, server_state& state);
void register_style_routes(router& routes, server_state& state);
void register_analysis_routes(router& routes, server_state& state);

} // namespace onemap::tileserver
