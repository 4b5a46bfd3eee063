#pragma once
// Builds vector tiles for catalog layers: one indexed bbox query per layer version in
// PostGIS (the generalised copy at low zooms), then projection, clipping, quantization and
// encoding in C++ (core::mvt).
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/mvt.hpp"
#include "onemap/core/tile_matrix_set.hpp"
#include "onemap/tileserver/tileset_config.hpp"

#include <string>
#include <vector>

namespace onemap::tileserver {

struct tile_request {
    const core::layer* layer = nullptr;
    const core::layer_version* version = nullptr;
    const core::tile_matrix_set* tms = nullptr;
    int level = 0;
    std::uint64_t col = 0;
    std::uint64_t row = 0;
};

/// One layer of a composite tile: the version to draw and which attributes to keep.
struct layer_pick {
    const core::layer* layer = nullptr;
    const core::layer_version* version = nullptr;
    const tileset_member* member = nullptr; ///< nullptr = every attribute
};

/// The attributes of the pick's version that its tileset member keeps, in table order.
std::vector<const core::attribute*> kept_attributes(const layer_pick& pick);

/// An attribute column's value typed as MVT (and the renderer) carry it. \pre !f.is_null()
core::mvt::value attribute_value(const core::attribute& a, const pqxx::field& f);

class tile_service {
public:
    explicit tile_service(core::connection_pool& pool) : m_pool(pool) {}

    /// MVT bytes of one layer; empty when no feature falls in the tile.
    std::string render(const tile_request& request);

    /// MVT bytes with one MVT layer per pick, in order; empty when all are empty.
    std::string render_layers(const std::vector<layer_pick>& picks, const core::tile_matrix_set& tms, int level,
                              std::uint64_t col, std::uint64_t row);

private:
    core::connection_pool& m_pool;
};

} // namespace onemap::tileserver
