// A database outage (issue 15): the test owns a PostgreSQL cluster (initdb + pg_ctl as the
// postgres user, in a temporary folder), imports two layers into it, starts the server, and
// stops PostgreSQL under load, then starts it again. Throughout: no crash, cached tiles and
// /locate answered (200) by every request of the load; while down: an uncached tile and OGC items
// are 503 with Retry-After, /ready is 503; after: /ready 200 by itself, full service, and a
// version published right after the restart (before or after the server noticed) is served.
#include "sample_points.hpp"
#include "server_process.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <unistd.h>

using namespace onemap;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// A cluster of the test's own, stopped and started at will.
class own_cluster {
public:
    own_cluster()
    {
        char tmpl[] = "/tmp/onemap-outage-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        m_dir = tmpl;
        m_port = test::free_port();
        std::string out;
        if (::geteuid() == 0) { // PostgreSQL refuses to run as root
            sh("chown postgres " + m_dir, out, false);
        }
        if (sh(bin("initdb") + " -D " + m_dir + "/data -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8", out) !=
            0) {
            throw std::runtime_error("initdb failed: " + out);
        }
        start();
    }
    ~own_cluster()
    {
        std::string out;
        sh(bin("pg_ctl") + " -D " + m_dir + "/data -m immediate stop", out);
        sh("rm -rf " + m_dir, out, false);
    }
    own_cluster(const own_cluster&) = delete;
    own_cluster& operator=(const own_cluster&) = delete;

    void start()
    {
        std::string out;
        const int rc = sh(bin("pg_ctl") + " -D " + m_dir + "/data -l " + m_dir + "/log -w -t 60 -o \"-p " +
                              std::to_string(m_port) + " -k " + m_dir + " -c listen_addresses=''\" start",
                          out);
        if (rc != 0) {
            throw std::runtime_error("pg_ctl start failed: " + out);
        }
    }
    void stop()
    {
        std::string out;
        // Fast: what a maintenance restart does — sessions are terminated, not waited for.
        EXPECT_EQ(sh(bin("pg_ctl") + " -D " + m_dir + "/data -m fast -w stop", out), 0) << out;
    }
    std::string conninfo() const
    {
        return "host=" + m_dir + " port=" + std::to_string(m_port) + " user=postgres dbname=postgres";
    }

private:
    static std::string bin(const std::string& name)
    {
        std::string out;
        test::run_command("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1", &out);
        while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
            out.pop_back();
        }
        return out + "/" + name;
    }
    static int sh(const std::string& command, std::string& out, bool as_postgres = true)
    {
        const std::string c = as_postgres && ::geteuid() == 0 ? "runuser -u postgres -- " + command : command;
        return test::run_command(c + " 2>&1", &out);
    }

    std::string m_dir;
    int m_port = 0;
};

std::string tile_path(const std::string& layer, int z, double lon, double lat, const std::string& query = "")
{
    const auto t = test::tile_of(z, lon, lat);
    return "/tiles/" + layer + "/" + std::to_string(z) + "/" + std::to_string(t.x) + "/" + std::to_string(t.y) +
           ".mvt" + query;
}

int import_into(const own_cluster& pg, const std::string& args, std::string* out)
{
    return test::run_command(test::import_exe() + " -q --db '" + pg.conninfo() + "' " + args + " 2>&1", out);
}

TEST(outage_http, the_server_rides_out_a_database_restart)
{
    own_cluster pg;
    std::string out;
    const std::string samples = test::data_samples();
    ASSERT_EQ(import_into(pg,
                          "--layer admin_county --department 网格化管理中心 --theme grid --valid-from 2023-01-01 "
                          "--id-field XZQDM " +
                              samples + "/grid/2023-01-01/county.shp",
                          &out),
              0)
        << out;
    ASSERT_EQ(import_into(pg,
                          "--layer river --department 水利局 --theme water --valid-from 2023-01-01 " + samples +
                              "/water/river.shp",
                          &out),
              0)
        << out;
    const std::string config = ::testing::TempDir() + "onemap-outage.yaml";
    std::ofstream(config) << "tilesets: []\nlocate:\n  - level: county\n    layer: admin_county\n    code: xzqdm\n"
                             "    name: xzqmc\n";
    test::server_process server(pg.conninfo(), {"--config", config, "--query-timeout-ms", "2000",
                                                "--db-wait-timeout-ms", "1000", "--connect-timeout-s", "2"});
    auto client = server.client();
    client.set_read_timeout(10, 0);

    // Zhumadian's centre: inside a county, with rivers near.
    const double lon = 114.02;
    const double lat = 32.98;
    const std::string cached = tile_path("admin_county", 9, lon, lat);
    const std::string locate = "/locate?lon=114.02&lat=32.98";
    ASSERT_EQ(client.Get(cached)->status, 200);
    ASSERT_EQ(client.Get(locate)->status, 200) << client.Get(locate)->body;
    ASSERT_EQ(client.Get("/ready")->status, 200);

    // Load: cached tiles and /locate, which need no database, on two threads all along.
    std::atomic<bool> stop{false};
    std::atomic<int> answered{0};
    std::atomic<int> failed{0};
    std::string first_failure;
    std::mutex failure_mutex;
    auto load = [&](const std::string& path) {
        auto c = server.client();
        c.set_read_timeout(10, 0);
        while (!stop) {
            auto res = c.Get(path);
            if (res && res->status == 200) {
                ++answered;
            } else {
                ++failed;
                const std::lock_guard<std::mutex> lock(failure_mutex);
                if (first_failure.empty()) {
                    first_failure = path + ": " + (res ? std::to_string(res->status) + " " + res->body : "no answer");
                }
            }
        }
    };
    std::thread tiles(load, cached);
    std::thread points(load, locate);

    pg.stop();
    // Not ready within a few seconds (the listener polls every 200 ms).
    int ready = 200;
    for (int i = 0; i < 50 && ready == 200; ++i) {
        ready = client.Get("/ready")->status;
        if (ready == 200) {
            std::this_thread::sleep_for(100ms);
        }
    }
    EXPECT_EQ(ready, 503) << "/ready must report the database gone";
    // What needs the database: 503 with Retry-After, quickly, not a hang or a crash.
    for (const std::string& path :
         {tile_path("river", 12, lon, lat), std::string("/ogc/collections/river/items?limit=2")}) {
        auto res = client.Get(path);
        ASSERT_TRUE(res) << path;
        EXPECT_EQ(res->status, 503) << path << ": " << res->body;
        EXPECT_EQ(res->get_header_value("Retry-After"), "1") << path;
    }
    std::this_thread::sleep_for(1s); // the load keeps running while the database is away

    pg.start();
    // Published right after the restart, before or after the server reconnected: either way
    // it must be served afterwards (the catalog is re-read on reconnect).
    ASSERT_EQ(import_into(pg,
                          "--layer river --department 水利局 --theme water --valid-from 2025-01-01 --force " + samples +
                              "/water/river.shp",
                          &out),
              0)
        << out;
    for (int i = 0; i < 100 && ready != 200; ++i) {
        ready = client.Get("/ready")->status;
        if (ready != 200) {
            std::this_thread::sleep_for(100ms);
        }
    }
    EXPECT_EQ(ready, 200) << "/ready must come back by itself";
    stop = true;
    tiles.join();
    points.join();
    EXPECT_EQ(failed.load(), 0) << "cached tiles and /locate must be answered throughout; first failure: "
                                << first_failure;
    EXPECT_GT(answered.load(), 20);

    // Full service: an uncached tile, items, and the version published during the outage.
    auto tile = client.Get(tile_path("river", 12, lon, lat));
    ASSERT_TRUE(tile);
    EXPECT_TRUE(tile->status == 200 || tile->status == 204) << tile->status << " " << tile->body;
    EXPECT_EQ(client.Get("/ogc/collections/river/items?limit=2")->status, 200);
    int versions = 0;
    for (int i = 0; i < 50 && versions < 2; ++i) {
        const auto doc = json::parse(client.Get("/tiles")->body);
        for (const auto& t : doc["tilesets"]) {
            if (t["name"] == "river") {
                versions = static_cast<int>(t["versions"].size());
            }
        }
        if (versions < 2) {
            std::this_thread::sleep_for(100ms);
        }
    }
    EXPECT_EQ(versions, 2) << "the version published while the server was away must be served";
    auto v2 = client.Get(tile_path("river", 12, lon, lat, "?datetime=2025-06-01"));
    EXPECT_TRUE(v2->status == 200 || v2->status == 204) << v2->status;
    EXPECT_NE(server.log().find("database reachable again"), std::string::npos) << server.log();
}

} // namespace
