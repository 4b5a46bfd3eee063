// Per-feature cost of the importer's geometry preparation (validate, repair checks, reproject,
// EWKB) beside what ogr2ogr does per feature (reproject and WKB only), on the same polygon.
#include "onemap/importers/geometry_preparation.hpp"

#include <benchmark/benchmark.h>
#include <ogr_geometry.h>
#include <ogr_spatialref.h>

#include <cmath>
#include <memory>
#include <stdexcept>

namespace {

// A 20-vertex parcel in EPSG:4547 near Zhumadian, as the generator makes them.
std::unique_ptr<OGRPolygon> parcel()
{
    auto ring = std::make_unique<OGRLinearRing>();
    for (int i = 0; i < 20; ++i) {
        const double a = -2 * M_PI * i / 20; // clockwise, as shapefiles store exteriors
        const double r = 60 + 8 * std::sin(5 * a);
        ring->addPoint(505000 + r * std::cos(a), 3650000 + r * std::sin(a));
    }
    ring->closeRings();
    auto poly = std::make_unique<OGRPolygon>();
    poly->addRingDirectly(ring.release());
    return poly;
}

void BM_importers_prepare_polygon(benchmark::State& state)
{
    onemap::importers::geometry_preparer prep(onemap::importers::geometry_family::polygon, 4547, true);
    const auto poly = parcel();
    const auto check = prep.prepare(poly.get());
    if (!check.ewkb_hex || !check.repairs.empty()) {
        throw std::logic_error("benchmark polygon must prepare cleanly");
    }
    for (auto _ : state) {
        auto out = prep.prepare(poly.get());
        benchmark::DoNotOptimize(out.ewkb_hex);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_importers_prepare_polygon);

// The peer's per-feature work: clone, transform with PROJ, export WKB (ogr2ogr -t_srs).
void BM_importers_peer_transform_only(benchmark::State& state)
{
    OGRSpatialReference from;
    OGRSpatialReference to;
    from.importFromEPSG(4547);
    to.importFromEPSG(4490);
    from.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    to.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&from, &to));
    const auto poly = parcel();
    std::vector<unsigned char> wkb;
    for (auto _ : state) {
        std::unique_ptr<OGRGeometry> g(poly->clone());
        g->transform(ct.get());
        wkb.resize(static_cast<std::size_t>(g->WkbSize()));
        g->exportToWkb(wkbNDR, wkb.data(), wkbVariantIso);
        benchmark::DoNotOptimize(wkb.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_importers_peer_transform_only);

} // namespace

BENCHMARK_MAIN();
