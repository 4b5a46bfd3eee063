// QGIS, the planners' desktop client, headless (python3-qgis, offscreen Qt): it opens the
// basemap through WMTS on the CGCS2000 and the Web Mercator grids and renders water where the
// reservoir is, and reads a collection through its OAPIF provider (tests/http/qgis_client.py).
#include "sample_points.hpp"
#include "server_process.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>

using namespace onemap;

TEST(qgis_http, qgis_reads_the_wmts_basemap_and_the_ogc_api_features)
{
    std::string out;
    ASSERT_EQ(test::run_import("--manifest " + test::data_samples() + "/manifest.yaml", &out), 0) << out;
    const test::server_process server(test::db().conninfo(), {"--config", test::source_dir() + "/tileserver/onemap.yaml",
                                                              "--styles", test::source_dir() + "/styles"});
    const auto water = test::reservoir_point();
    const auto dry = test::dry_point();
    const auto reservoirs = test::query_value<long long>("SELECT count(*) FROM onemap_data.reservoir__v1");
    char args[160];
    std::snprintf(args, sizeof args, " %.8f %.8f %.8f %.8f %lld", water.lon, water.lat, dry.lon, dry.lat, reservoirs);
    const int rc = test::run_command("QT_QPA_PLATFORM=offscreen /usr/bin/python3 " +
                                         test::source_dir() + "/tests/http/qgis_client.py " + server.base_url() + args,
                                     &out);
    EXPECT_EQ(rc, 0) << out;
}
