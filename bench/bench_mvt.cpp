// Encoding one parcel-sized polygon into a tile: projection, clipping, quantization, commands.
#include "onemap/core/mvt.hpp"
#include "onemap/core/tile_matrix_set.hpp"

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace {

std::string parcel_wkb(double lon, double lat, double radius_deg)
{
    std::string w;
    auto u32 = [&w](std::uint32_t v) { w.append(reinterpret_cast<const char*>(&v), 4); };
    auto f64 = [&w](double v) { w.append(reinterpret_cast<const char*>(&v), 8); };
    w.push_back(1);
    u32(3);
    u32(1);
    u32(21);
    for (int i = 0; i <= 20; ++i) {
        const double a = 2 * M_PI * (i % 20) / 20;
        const double r = radius_deg * (1 + 0.1 * std::sin(5 * a));
        f64(lon + r * std::cos(a));
        f64(lat + r * std::sin(a));
    }
    return w;
}

void BM_core_mvt_encode_polygon(benchmark::State& state)
{
    const auto& tms = onemap::core::web_mercator_quad();
    const onemap::core::mvt::tile_projection proj(tms, 14, 13381, 6601);
    const auto b = tms.tile_bounds_lonlat(14, 13381, 6601);
    // Half inside, half outside the tile: exercises clipping.
    const std::string wkb = parcel_wkb(b.max_x, (b.min_y + b.max_y) / 2, b.width() / 10);
    if (!onemap::core::mvt::encode_wkb(wkb, proj)) {
        throw std::logic_error("benchmark polygon must land in the tile");
    }
    for (auto _ : state) {
        auto g = onemap::core::mvt::encode_wkb(wkb, proj);
        benchmark::DoNotOptimize(g);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_core_mvt_encode_polygon);

} // namespace

BENCHMARK_MAIN();
