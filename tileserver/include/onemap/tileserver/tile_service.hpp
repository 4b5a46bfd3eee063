#pragma once
// Builds vector tiles for catalog layers: the features of each layer version in the tile (its
// generalised copy at low zooms), from memory when that table is held (tile_store.hpp), else by
// one indexed bbox query in PostGIS; then projection, clipping, quantization and encoding in C++
// (core::mvt), the same either way.
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/mvt.hpp"
#include "onemap/core/tile_matrix_set.hpp"
#include "onemap/tileserver/tile_cache.hpp"
#include "onemap/tileserver/tile_store.hpp"
#include "onemap/tileserver/tileset_config.hpp"

#include <atomic>
#include <cstdint>
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
/// The same from the value's PostgreSQL text, as a held version keeps it (tile_store.hpp).
core::mvt::value attribute_value(const core::attribute& a, std::string_view text);

/// What a tile drawn at style `zoom` on `date` shows: the layer alone, or the composite's members
/// shown at that zoom. `drawn` names each with the version valid on the date (0: none, or not
/// published), which is what the tile's cache key holds; `picks` are those with a version, in
/// drawing order. Exactly one of `composite` and `layer` is set.
struct tile_plan {
    std::vector<layer_pick> picks;
    std::vector<drawn_layer> drawn;
};
tile_plan plan_tile(const std::vector<core::layer>& catalog, const tileset_config* composite, const core::layer* layer,
                    int zoom, const std::string& date);

class tile_service {
public:
    /// `store`: full-detail versions held in memory (nullptr: every tile from PostGIS).
    explicit tile_service(core::connection_pool& pool, tile_store* store = nullptr) : m_pool(pool), m_store(store) {}

    /// MVT bytes of one layer; empty when no feature falls in the tile.
    std::string render(const tile_request& request);

    /// MVT bytes with one MVT layer per pick, in order; empty when all are empty.
    std::string render_layers(const std::vector<layer_pick>& picks, const core::tile_matrix_set& tms, int level,
                              std::uint64_t col, std::uint64_t row);

    /// Layers of tiles drawn from memory and from a query since start.
    std::uint64_t layers_from_memory() const noexcept { return m_from_memory; }
    std::uint64_t layers_from_queries() const noexcept { return m_from_queries; }

private:
    core::connection_pool& m_pool;
    tile_store* m_store;
    std::atomic<std::uint64_t> m_from_memory{0};
    std::atomic<std::uint64_t> m_from_queries{0};
};

} // namespace onemap::tileserver
