// The compliance review's inner loop (issue 16) without the server: overlap_meter over a ~1 km²
// red line (a 565 m 32-gon, as bench/analytics_bench.sh draws them) and 20-vertex parcels of
// ~2.8 ha around it — those crossing its boundary (cut by the Green's-theorem sweep), those wholly
// inside or outside (one point), and the fitted GK projection alone. Warm caches: the server's
// cold figures are in bench/RESULTS.md, "Analytics".
//
//   build/bench/bench_overlap [--benchmark_filter=…]
#include "onemap/tileserver/analysis/geometry.hpp"

#include <benchmark/benchmark.h>
#include <geos_c.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

using namespace onemap::tileserver::analysis;

namespace {

constexpr double LON = 114.02;
constexpr double LAT = 33.01;
constexpr double M_PER_DEG_LAT = 110940.0;
const double M_PER_DEG_LON = 111320.0 * std::cos(LAT * M_PI / 180);

// A ring of n vertices at radius r (m) around (lon, lat), radii jittered by up to `jitter`.
std::string polygon_wkb(double lon, double lat, double r, int n, double jitter, std::mt19937& rng)
{
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    GEOSContextHandle_t h = geos();
    GEOSCoordSequence* seq = GEOSCoordSeq_create_r(h, static_cast<unsigned>(n + 1), 2);
    for (int i = 0; i <= n; ++i) {
        const double a = 2 * M_PI * (i % n) / n;
        const double rr = r * (1 + jitter * (i % n == 0 ? 0 : unit(rng) - 0.5));
        GEOSCoordSeq_setXY_r(h, seq, static_cast<unsigned>(i), lon + rr * std::cos(a) / M_PER_DEG_LON,
                             lat + rr * std::sin(a) / M_PER_DEG_LAT);
    }
    const geom_ptr g = own(GEOSGeom_createPolygon_r(h, GEOSGeom_createLinearRing_r(h, seq), nullptr, 0), "a polygon");
    GEOSWKBWriter* w = GEOSWKBWriter_create_r(h);
    std::size_t size = 0;
    unsigned char* bytes = GEOSWKBWriter_write_r(h, w, g.get(), &size);
    std::string out(reinterpret_cast<char*>(bytes), size);
    GEOSFree_r(h, bytes);
    GEOSWKBWriter_destroy_r(h, w);
    return out;
}

struct scene {
    geom_ptr red;
    std::vector<std::string> crossing; // parcels on the red line's boundary
    std::vector<std::string> inside;   // parcels wholly inside
    scene()
    {
        std::mt19937 rng(16);
        red = from_wkb(polygon_wkb(LON, LAT, 565, 32, 0, rng));
        for (int i = 0; i < 64; ++i) {
            const double a = 2 * M_PI * i / 64;
            crossing.push_back(polygon_wkb(LON + 565 * std::cos(a) / M_PER_DEG_LON, LAT + 565 * std::sin(a) / M_PER_DEG_LAT,
                                           95, 20, 0.3, rng));
            inside.push_back(polygon_wkb(LON + 200 * std::cos(a) / M_PER_DEG_LON, LAT + 200 * std::sin(a) / M_PER_DEG_LAT,
                                         95, 20, 0.3, rng));
        }
    }
};

const scene& the_scene()
{
    static const scene s;
    return s;
}

// Each feature measured against the red line, once per iteration.
void measure_all(benchmark::State& state, const std::vector<std::string>& features)
{
    const overlap_meter meter(the_scene().red.get(), area_method::planar, gk_zone(LON));
    double sum = 0;
    for (auto _ : state) {
        for (const auto& f : features) {
            sum += meter.area(f);
        }
    }
    benchmark::DoNotOptimize(sum);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * features.size()));
}

void meter_crossing(benchmark::State& state)
{
    measure_all(state, the_scene().crossing);
}
BENCHMARK(meter_crossing);

void meter_inside(benchmark::State& state)
{
    measure_all(state, the_scene().inside);
}
BENCHMARK(meter_inside);

void meter_made(benchmark::State& state)
{
    const scene& s = the_scene();
    for (auto _ : state) {
        const overlap_meter meter(s.red.get(), area_method::planar, gk_zone(LON));
        benchmark::DoNotOptimize(meter.own_area());
    }
}
BENCHMARK(meter_made);

void fitted_projection(benchmark::State& state)
{
    std::vector<double> x(20);
    std::vector<double> y(20);
    for (auto _ : state) {
        for (std::size_t i = 0; i < x.size(); ++i) {
            x[i] = LON + 0.001 * static_cast<double>(i);
            y[i] = LAT + 0.0007 * static_cast<double>(i);
        }
        to_gk(gk_zone(LON), x.data(), y.data(), x.size());
        benchmark::DoNotOptimize(x.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * x.size()));
}
BENCHMARK(fitted_projection);

} // namespace

BENCHMARK_MAIN();
