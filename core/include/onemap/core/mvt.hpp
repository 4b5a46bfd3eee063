#pragma once
// Mapbox Vector Tile 2.1 encoding. Geometry arrives as WKB in longitude/latitude (EPSG:4490);
// it is projected into the tile, clipped to the tile plus a buffer, quantized to the extent,
// cleaned of degenerate parts and written as MVT commands with the spec's winding order.
#include "onemap/core/tile_matrix_set.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace vector_tile {
class Tile;
class Tile_Layer;
class Tile_Value;
} // namespace vector_tile

namespace onemap::core::mvt {

enum class geom_type : std::uint8_t { unknown = 0, point = 1, linestring = 2, polygon = 3 };

/// Maps longitude/latitude into the integer coordinate space of one tile.
class tile_projection {
public:
    /// \pre tms.contains(level, col, row)
    tile_projection(const tile_matrix_set& tms, int level, std::uint64_t col, std::uint64_t row,
                    std::uint32_t extent = 4096, std::uint32_t buffer = 64);
    /// Any box of the set's CRS onto a width × height canvas (a metatile in pixels), with a
    /// buffer in canvas units around it.
    tile_projection(const tile_matrix_set& tms, const box& bounds, double width, double height, double buffer);

    std::uint32_t extent() const noexcept { return m_extent; }
    std::uint32_t buffer() const noexcept { return m_buffer; }
    double width() const noexcept { return m_width; }
    double height() const noexcept { return m_height; }
    double buffer_units() const noexcept { return m_buffer_units; }
    /// Tile bounds plus the buffer, in lon/lat: what to ask the database for.
    const box& query_bounds_lonlat() const noexcept { return m_query_lonlat; }

    double to_tile_x(double lon) const noexcept;
    double to_tile_y(double lat) const noexcept;

private:
    void make_fast_mercator();

    box m_bounds; // in the matrix set's CRS
    box m_query_lonlat;
    bool m_mercator;
    std::uint32_t m_extent;
    std::uint32_t m_buffer;
    double m_width;
    double m_height;
    double m_buffer_units;
    double m_scale_x; // tile units per CRS unit
    double m_scale_y;
    // Mercator's y near the tile by a series (make_fast_mercator); m_fast false: exact.
    bool m_fast = false;
    double m_fast_lat0 = 0;
    double m_fast_min = 0;
    double m_fast_max = 0;
    double m_fast_y0 = 0;
    double m_fast_c[5] = {};
};

struct encoded_geometry {
    geom_type type = geom_type::unknown;
    std::vector<std::uint32_t> commands;
};

/// Encodes one WKB geometry (2D, lon/lat) for the tile; nothing when no part survives
/// clipping and quantization. \throws input_error on malformed WKB.
std::optional<encoded_geometry> encode_wkb(std::string_view wkb, const tile_projection& proj);

struct fpoint {
    double x = 0;
    double y = 0;
};

/// A geometry projected and clipped but not quantized (for the raster renderer): points one
/// per part; lines one per part; polygons every ring (exterior counter-clockwise on screen
/// first, then its holes), closed.
struct clipped_geometry {
    geom_type type = geom_type::unknown;
    std::vector<std::vector<fpoint>> parts;
};

/// Projects and clips one WKB geometry; nothing when no part survives. \throws input_error.
std::optional<clipped_geometry> clip_wkb(std::string_view wkb, const tile_projection& proj);

using value = std::variant<std::string, double, std::int64_t, bool>;

/// Builds one layer of a tile; keys and values are deduplicated.
class layer_builder {
public:
    layer_builder(vector_tile::Tile& tile, const std::string& name, std::uint32_t extent);

    void add_feature(std::uint64_t id, encoded_geometry&& geometry,
                     const std::vector<std::pair<std::string, value>>& properties);
    /// A feature whose tags (key index, value index, …) are already this layer's.
    void add_tagged_feature(std::uint64_t id, encoded_geometry&& geometry, const std::vector<std::uint32_t>& tags);
    std::size_t feature_count() const noexcept;

    /// The index of a key, or of a value, in this layer's tables (added on first use).
    std::uint32_t key_index(const std::string& key);
    std::uint32_t value_index(const value& v);
    /// value_index of a string value, without making one.
    std::uint32_t string_value_index(std::string_view s);
    /// Appends a value without looking for an equal one (for values that do not repeat, such
    /// as ids: MVT allows equal values; none is looked up again).
    std::uint32_t new_value(const value& v);
    std::uint32_t new_string_value(std::string_view s);
    std::size_t value_count() const noexcept { return m_value_count; }

private:
    static void write_value(vector_tile::Tile_Value& out, const value& v);

    vector_tile::Tile_Layer* m_layer;
    std::unordered_map<std::string, std::uint32_t> m_keys;
    std::unordered_map<std::string, std::uint32_t> m_values; // keyed by type tag + bytes
    std::string m_scratch;                                    // value_index's key, reused
    std::vector<std::uint32_t> m_tags;                        // add_feature's, reused
    std::uint32_t m_value_count = 0;                          // values in the layer
};

/// A tile under construction; serialize() gives the protobuf bytes.
class tile_builder {
public:
    tile_builder();
    ~tile_builder();
    tile_builder(const tile_builder&) = delete;
    tile_builder& operator=(const tile_builder&) = delete;

    layer_builder add_layer(const std::string& name, std::uint32_t extent);
    /// Drops layers that received no feature (the spec forbids nothing, clients prefer it).
    std::string serialize();

private:
    std::unique_ptr<vector_tile::Tile> m_tile;
};

} // namespace onemap::core::mvt
