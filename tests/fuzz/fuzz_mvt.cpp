// The MVT encoder on WKB as PostGIS sends it (core::mvt::encode_wkb, and clip_wkb for the
// raster renderer) in a tile of any served matrix set: byte order, EWKB flags, Z/M, counts,
// projection, clipping, quantization, winding. Oracles: malformed WKB is an input_error (any
// other exception is a finding); the commands are a valid MVT 2.1 geometry of their type
// (MoveTo/LineTo/ClosePath counts, parameters, non-degenerate rings, an exterior ring first)
// with every vertex inside the tile plus its buffer; the feature survives a protobuf round trip;
// clipped geometry is finite and inside the clip box.
// Input: tile matrix set (1 byte), level (1 byte), col and row (4 bytes each, little-endian,
// reduced into the matrix), then the WKB.
#include "onemap/core/error.hpp"
#include "onemap/core/mvt.hpp"
#include "onemap/core/tile_matrix_set.hpp"
#include "vector_tile.pb.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

namespace mvt = onemap::core::mvt;

constexpr std::uint32_t EXTENT = 4096;
constexpr std::uint32_t BUFFER = 64;

[[noreturn]] void finding(const char* what, std::size_t at = 0)
{
    std::fprintf(stderr, "fuzz finding: %s (command word %zu)\n", what, at);
    std::abort();
}

std::uint32_t read_u32(const std::uint8_t* p)
{
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

std::int32_t unzigzag(std::uint32_t v)
{
    return static_cast<std::int32_t>((v >> 1U) ^ (~(v & 1U) + 1U));
}

// Walks the command stream as a decoder does (MVT 2.1 section 4.3) and checks its shape.
void check_commands(const mvt::encoded_geometry& g)
{
    const auto& c = g.commands;
    std::size_t i = 0;
    std::int64_t x = 0;
    std::int64_t y = 0;
    const std::int64_t lo = -static_cast<std::int64_t>(BUFFER) - 1;
    const std::int64_t hi = EXTENT + BUFFER + 1;
    auto vertex = [&](std::size_t at) {
        if (at + 1 >= c.size()) {
            finding("parameters missing", at);
        }
        x += unzigzag(c[at]);
        y += unzigzag(c[at + 1]);
        if (x < lo || x > hi || y < lo || y > hi) {
            finding("a vertex outside the tile and its buffer", at);
        }
        return std::pair<std::int64_t, std::int64_t>{x, y};
    };
    bool first_ring = true;
    while (i < c.size()) {
        const std::uint32_t id = c[i] & 0x7U;
        const std::uint32_t count = c[i] >> 3U;
        if (id != 1 || count == 0) {
            finding("a part that does not start with MoveTo", i);
        }
        if (g.type != mvt::geom_type::point && count != 1) {
            finding("MoveTo with a count other than 1 in a line or polygon", i);
        }
        ++i;
        std::vector<std::pair<std::int64_t, std::int64_t>> ring;
        for (std::uint32_t k = 0; k < count; ++k, i += 2) {
            ring.push_back(vertex(i));
        }
        if (g.type == mvt::geom_type::point) {
            if (i != c.size()) {
                finding("a point geometry with more than one MoveTo", i);
            }
            return;
        }
        if (i >= c.size() || (c[i] & 0x7U) != 2 || (c[i] >> 3U) == 0) {
            finding("MoveTo not followed by LineTo", i);
        }
        const std::uint32_t n = c[i] >> 3U;
        ++i;
        for (std::uint32_t k = 0; k < n; ++k, i += 2) {
            ring.push_back(vertex(i));
        }
        if (g.type == mvt::geom_type::polygon) {
            if (i >= c.size() || c[i] != ((1U << 3U) | 7U)) {
                finding("a ring without ClosePath", i);
            }
            ++i;
            if (ring.size() < 3) {
                finding("a ring of fewer than three vertices", i);
            }
            __int128 area = 0;
            for (std::size_t k = 0; k < ring.size(); ++k) {
                const auto& a = ring[k];
                const auto& b = ring[(k + 1) % ring.size()];
                area += static_cast<__int128>(a.first) * b.second - static_cast<__int128>(b.first) * a.second;
            }
            if (area == 0) {
                finding("a ring with zero area", i);
            }
            if (first_ring && area < 0) {
                finding("a polygon that starts with an interior ring", i);
            }
            first_ring = false;
        }
    }
}

void round_trip(const mvt::encoded_geometry& g)
{
    mvt::tile_builder tile;
    {
        auto layer = tile.add_layer("fuzz", EXTENT);
        mvt::encoded_geometry copy = g;
        layer.add_feature(1, std::move(copy), {{"name", std::string("汝南县")}, {"area", 1.5}});
    }
    vector_tile::Tile decoded;
    if (!decoded.ParseFromString(tile.serialize()) || decoded.layers_size() != 1 ||
        decoded.layers(0).features_size() != 1 ||
        static_cast<std::size_t>(decoded.layers(0).features(0).geometry_size()) != g.commands.size()) {
        finding("the feature does not survive a protobuf round trip");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 10) {
        return -1;
    }
    const auto& sets = onemap::core::all_tile_matrix_sets();
    const auto& tms = *sets[data[0] % sets.size()];
    const auto& matrices = tms.matrices();
    const auto& m = matrices[data[1] % matrices.size()];
    const std::uint64_t col = read_u32(data + 2) % m.matrix_width;
    const std::uint64_t row = read_u32(data + 6) % m.matrix_height;
    const std::string_view wkb(reinterpret_cast<const char*>(data + 10), size - 10);
    const mvt::tile_projection proj(tms, m.level, col, row, EXTENT, BUFFER);

    std::optional<mvt::encoded_geometry> g;
    try {
        g = mvt::encode_wkb(wkb, proj);
    } catch (const onemap::input_error&) {
        return 0;
    }
    if (g) {
        if (g->type == mvt::geom_type::unknown) {
            finding("a geometry of unknown type");
        }
        check_commands(*g);
        round_trip(*g);
    }

    // The raster renderer's path over the same geometry: a 1024-px metatile with a 16-px buffer.
    const mvt::tile_projection canvas(tms, tms.tile_bounds(m.level, col, row), 1024, 1024, 16);
    const auto clipped = mvt::clip_wkb(wkb, canvas);
    if (clipped) {
        for (const auto& part : clipped->parts) {
            for (const auto& p : part) {
                if (!std::isfinite(p.x) || !std::isfinite(p.y) || p.x < -16.001 || p.x > 1040.001 ||
                    p.y < -16.001 || p.y > 1040.001) {
                    finding("a clipped vertex outside the canvas and its buffer");
                }
            }
        }
    }
    return 0;
}
