#pragma once
// OGC API – Features, Part 1 (Core, GeoJSON) and Part 2 (CRS by reference) under /ogc, over
// every public catalog layer. Feature ids and attributes are those of the tiles.
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/tileserver/router.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>


namespace onemap::tileserver {

struct features_limits {
    int default_limit = 100;
    int max_limit = 10000;         ///< larger requests are refused (400 naming limit)
    double max_bbox_degrees2 = 10; ///< larger bbox → 400
    std::size_t max_response_bytes = 32u << 20; ///< a page stops before passing it (next link)
};

struct features_context {
    core::connection_pool* pool = nullptr;
    /// The catalog as the request's caller sees it (what it may not see is not public).
    std::function<std::shared_ptr<const std::vector<core::layer>>(const http_request&)> catalog;
    std::function<std::string(const http_request&)> base_url;
    features_limits limits;
};

/// Registers the /ogc routes; handlers report errors through send_exception.
void register_features_api(router& routes, features_context ctx);

} // namespace onemap::tileserver
