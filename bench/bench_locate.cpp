// In-process point location: the committed sample's 2024 grid layer (2,383 grids; or the layer
// ONEMAP_LOCATE_GRID_SHP names) in a
// core::boundary_index, 100,000 seeded points over the city. The PostGIS side of the
// comparison (ST_Covers with the GiST index) runs in bench/locate_bench.sh.
#include "onemap/core/boundary_index.hpp"

#include <benchmark/benchmark.h>
#include <gdal_priv.h>
#include <ogrsf_frmts.h>

#include <cstdlib>
#include <random>
#include <string>
#include <stdexcept>
#include <vector>

#ifndef ONEMAP_SOURCE_DIR
#error "ONEMAP_SOURCE_DIR must be defined"
#endif

namespace {

onemap::core::boundary_index load_index(const std::string& path, const char* code_field)
{
    {
        GDALAllRegister();
        const char* opts[] = {"ENCODING=", nullptr};
        std::unique_ptr<GDALDataset> ds(static_cast<GDALDataset*>(
            GDALOpenEx(path.c_str(), GDAL_OF_VECTOR, nullptr, opts, nullptr)));
        if (!ds) {
            throw std::runtime_error("cannot open the sample grid layer");
        }
        onemap::core::boundary_index idx;
        for (auto& f : *ds->GetLayer(0)) {
            std::vector<unsigned char> wkb(static_cast<std::size_t>(f->GetGeometryRef()->WkbSize()));
            f->GetGeometryRef()->exportToWkb(wkbNDR, wkb.data(), wkbVariantIso);
            idx.add({f->GetFieldAsString(code_field), "", static_cast<std::uint64_t>(f->GetFID()), {}},
                    std::string_view(reinterpret_cast<const char*>(wkb.data()), wkb.size()));
        }
        idx.build();
        return idx;
    }
}

const onemap::core::boundary_index& grid_index()
{
    // ONEMAP_LOCATE_GRID_SHP picks another grid layer (e.g. a --grids 20000 set).
    const char* env = std::getenv("ONEMAP_LOCATE_GRID_SHP");
    static const onemap::core::boundary_index index =
        load_index(env != nullptr ? env : ONEMAP_SOURCE_DIR "/data-samples/grid/2024-07-01/grid.shp", "WGBM");
    return index;
}

// The 10 counties: few polygons with long rings (up to ~15,000 vertices), where the
// point-in-ring test, not the R-tree, is the cost.
const onemap::core::boundary_index& county_index()
{
    static const onemap::core::boundary_index index =
        load_index(ONEMAP_SOURCE_DIR "/data-samples/grid/2024-07-01/county.shp", "XZQDM");
    return index;
}

// `exact`: without the cell table (the R-tree and the exact covers test for every point).
void run_locate(benchmark::State& state, const onemap::core::boundary_index& index, std::size_t min_size,
                bool exact = false)
{
    std::mt19937_64 rng(20261127);
    std::uniform_real_distribution<double> lon(113.1, 115.22);
    std::uniform_real_distribution<double> lat(32.28, 33.53);
    std::vector<std::pair<double, double>> points(100000);
    for (auto& p : points) {
        p = {lon(rng), lat(rng)};
    }
    std::size_t found = 0;
    for (const auto& p : points) {
        found += index.locate(p.first, p.second) != nullptr ? 1 : 0;
    }
    if (index.size() < min_size || found < 50000) {
        throw std::logic_error("benchmark index or points are wrong");
    }
    std::size_t i = 0;
    for (auto _ : state) {
        const auto& p = points[i++ % points.size()];
        benchmark::DoNotOptimize(exact ? index.locate_exact(p.first, p.second) : index.locate(p.first, p.second));
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["direct_share"] = index.direct_share();
}

void BM_core_locate_point(benchmark::State& state)
{
    run_locate(state, grid_index(), 2000);
}
BENCHMARK(BM_core_locate_point);

void BM_core_locate_county(benchmark::State& state)
{
    run_locate(state, county_index(), 10);
}
BENCHMARK(BM_core_locate_county);

void BM_core_locate_point_exact(benchmark::State& state)
{
    run_locate(state, grid_index(), 2000, true);
}
BENCHMARK(BM_core_locate_point_exact);

void BM_core_locate_county_exact(benchmark::State& state)
{
    run_locate(state, county_index(), 10, true);
}
BENCHMARK(BM_core_locate_county_exact);

} // namespace

BENCHMARK_MAIN();
