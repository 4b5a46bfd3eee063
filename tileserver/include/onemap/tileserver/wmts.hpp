#pragma once
// OGC WMTS 1.0.0 (07-057r7) under /wmts: GetCapabilities, GetTile and GetFeatureInfo in KVP
// and RESTful encodings, over the composite basemap and every public layer, in every tile
// matrix set of the tile engine, with a TIME dimension listing each layer's versions. Errors
// are OWS 1.1 ExceptionReports.
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/tile_matrix_set.hpp"
#include "onemap/tileserver/router.hpp"
#include "onemap/tileserver/tile_cache.hpp"
#include "onemap/tileserver/tileset_config.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>


namespace onemap::tileserver {

enum class tile_format { png, mvt };

class tile_store;

struct wmts_context {
    core::connection_pool* pool = nullptr;
    /// Versions held in memory: GetFeatureInfo reads them without a query (nullptr: never).
    tile_store* store = nullptr;
    /// The catalog as the request's caller sees it (what it may not see is not public).
    std::function<std::shared_ptr<const std::vector<core::layer>>(const http_request&)> catalog;
    std::function<std::string(const http_request&)> base_url;
    /// `key=…` when the caller's key came as a query parameter: added to every URL written.
    std::function<std::string(const http_request&)> key_query;
    /// The composite tilesets now (the configuration may be reloaded between requests).
    std::function<std::shared_ptr<const std::vector<tileset_config>>()> tilesets;
    /// The tile of a layer or composite of `catalog` on a date; nullptr when nothing is drawn there.
    std::function<std::shared_ptr<const cached_tile>(const std::vector<core::layer>& catalog, const std::string& name, tile_format format,
                                                     const core::tile_matrix_set& tms, int level, std::uint64_t col,
                                                     std::uint64_t row, const std::string& date)>
        tile;
    /// Writes a tile with ETag/gzip handling.
    std::function<void(const http_request&, http_response&, const std::shared_ptr<const cached_tile>&, const char* content_type)>
        send_tile;
};

/// Registers /wmts (KVP) and /wmts/1.0.0/... (RESTful).
void register_wmts(router& routes, wmts_context ctx);

} // namespace onemap::tileserver
