// Every wait for the database has a limit (issue 14): a statement, a free connection of the
// pool, another request's computation of the same tile. Past it the client gets 503 with
// Retry-After and a message naming the option, instead of a request that hangs for ever. The
// waits are made real by a transaction of the test holding an exclusive lock on the layer's
// table, which the server's queries queue behind.
#include "server_process.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <future>
#include <thread>

using namespace onemap;

namespace {

class timeouts_http : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        std::string out;
        ASSERT_EQ(test::run_import("-q --layer tgrid --theme grid --id-field WGBM --valid-from 2023-01-01 " +
                                       test::data_samples() + "/grid/2023-01-01/grid.shp",
                                   &out),
                  0)
            << out;
        // One connection, so a second query must wait for it; a statement may run 2 s, a wait
        // for the pool or for another's tile 300 ms. No layer held in memory: every tile queries.
        s_server = new test::server_process(test::db().conninfo(),
                                            {"--db-connections", "1", "--worker-threads", "4", "--query-timeout-ms",
                                             "2000", "--db-wait-timeout-ms", "300", "--tile-wait-timeout-ms", "300",
                                             "--tile-memory-mb", "0"});
    }
    static void TearDownTestSuite()
    {
        delete s_server;
        s_server = nullptr;
    }
    static httplib::Result get(const std::string& path)
    {
        auto c = s_server->client();
        c.set_read_timeout(20, 0);
        return c.Get(path);
    }
    // The server's query waiting behind our lock (its connection is taken).
    static bool server_query_waiting()
    {
        return test::query_value<int>("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                      "AND query LIKE '%tgrid__v1%'") > 0;
    }
    static void expect_unavailable(const httplib::Result& res, const std::string& option)
    {
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 503) << res->body;
        EXPECT_EQ(res->get_header_value("Retry-After"), "1");
        EXPECT_EQ(res->get_header_value("Content-Type"), "application/problem+json");
        EXPECT_NE(nlohmann::json::parse(res->body)["detail"].get<std::string>().find(option), std::string::npos)
            << res->body;
    }
    static test::server_process* s_server;
};

test::server_process* timeouts_http::s_server = nullptr;

} // namespace

TEST_F(timeouts_http, every_database_wait_ends_in_503_naming_its_limit)
{
    // Something to draw there while nothing is locked.
    ASSERT_EQ(get("/tiles/tgrid/10/836/412.mvt")->status, 200);

    auto conn = test::db().connect();
    pqxx::work lock(*conn);
    // The version's table and its generalised copies (low zooms read those).
    std::string tables;
    for (const auto& r : lock.exec("SELECT tablename FROM pg_tables WHERE schemaname = 'onemap_data' "
                                   "AND tablename LIKE 'tgrid\\_\\_v1%'")) {
        tables += (tables.empty() ? "" : ", ") + lock.quote_name("onemap_data") + "." +
                  lock.quote_name(r[0].as<std::string>());
    }
    ASSERT_FALSE(tables.empty());
    lock.exec("LOCK TABLE " + tables + " IN ACCESS EXCLUSIVE MODE");

    // The tile's query holds the only connection, waiting behind the lock.
    auto leader = std::async(std::launch::async, [] { return get("/tiles/tgrid/10/835/412.mvt"); });
    for (int i = 0; i < 200 && !server_query_waiting(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(server_query_waiting()) << "the server's tile query never reached the lock";

    // The same tile: waits for the leader's computation, not for ever.
    expect_unavailable(get("/tiles/tgrid/10/835/412.mvt"), "--tile-wait-timeout-ms");
    // Another tile, features, a PNG: wait for the one connection, not for ever.
    expect_unavailable(get("/tiles/tgrid/10/836/413.mvt"), "--db-wait-timeout-ms");
    expect_unavailable(get("/ogc/collections/tgrid/items?limit=5"), "--db-wait-timeout-ms");
    expect_unavailable(get("/tiles/tgrid/10/836/412.png"), "--db-wait-timeout-ms");

    // The statement itself is cancelled by PostgreSQL at its limit.
    expect_unavailable(leader.get(), "--query-timeout-ms");

    // With the connection free again, a query still behind the lock: the statement limit.
    expect_unavailable(get("/ogc/collections/tgrid/items?limit=5"), "--query-timeout-ms");

    lock.abort();
    // Nothing was left broken: the same tile is drawn once the lock is gone.
    const auto after = get("/tiles/tgrid/10/835/412.mvt");
    ASSERT_TRUE(after);
    EXPECT_EQ(after->status, 200);
    EXPECT_EQ(get("/ogc/collections/tgrid/items?limit=5")->status, 200);
}
