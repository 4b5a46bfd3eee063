#pragma once
// Builds vector tiles for catalog layers: one indexed bbox query per layer version in
// PostGIS, then projection, clipping, quantization and encoding in C++ (core::mvt).
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/tile_matrix_set.hpp"

#include <string>

namespace onemap::tileserver {

struct tile_request {
    const core::layer* layer = nullptr;
    const core::layer_version* version = nullptr;
    const core::tile_matrix_set* tms = nullptr;
    int level = 0;
    std::uint64_t col = 0;
    std::uint64_t row = 0;
};

class tile_service {
public:
    explicit tile_service(core::connection_pool& pool) : m_pool(pool) {}

    /// MVT bytes; empty when no feature falls in the tile.
    std::string render(const tile_request& request);

private:
    core::connection_pool& m_pool;
};

} // namespace onemap::tileserver
