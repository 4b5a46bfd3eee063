// The admin API against the real server: a Bearer token from ONEMAP_ADMIN_TOKEN (none: 403;
// no credential: 401 with WWW-Authenticate; a wrong one: 403; --admin-token-file is used by
// http_tests' seeding test),
// and seeding as a job on the worker pool — 202 with Location, polled to done with the right
// totals, its tiles then cache hits; a large PNG seed cancelled while the server goes on
// answering; SIGTERM during a large seed exits promptly with status 0.
#include "sample_server_test.hpp"

#include "onemap/core/tile_matrix_set.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <thread>

using namespace onemap;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string TOKEN = "test-admin-token-0123456789abcdef";
/// Zhumadian, the samples' extent: a PNG seed of the basemap at z12–16 is 140,506 tiles
/// (the seed that outlived its client and SIGTERM was 134,000).
const std::string CITY = "113.10,32.28,115.22,33.53";
const std::string SMALL_BOX = "113.9,32.9,114.2,33.1";

httplib::Headers bearer(const std::string& token = TOKEN)
{
    return {{"Authorization", "Bearer " + token}};
}

httplib::Params seed_params(const std::string& tileset, const std::string& bbox, int minzoom, int maxzoom,
                            const std::string& format = "mvt")
{
    return {{"tileset", tileset},
            {"bbox", bbox},
            {"minzoom", std::to_string(minzoom)},
            {"maxzoom", std::to_string(maxzoom)},
            {"format", format}};
}

class admin_http : public test::sample_server_test<admin_http> {
protected:
    static void SetUpTestSuite()
    {
        ::unsetenv("ONEMAP_ADMIN_TOKEN"); // the suite's own server has no token
        test::sample_server_test<admin_http>::SetUpTestSuite();
    }
    // A server on the samples with the admin token in its environment (http_tests reads it
    // from --admin-token-file).
    static std::unique_ptr<test::server_process> server_with_token(std::vector<std::string> args = {})
    {
        args.insert(args.begin(), {"--config", test::source_dir() + "/tileserver/onemap.yaml", "--styles",
                                   test::source_dir() + "/styles"});
        ::setenv("ONEMAP_ADMIN_TOKEN", TOKEN.c_str(), 1);
        auto s = std::make_unique<test::server_process>(test::db().conninfo(), args);
        ::unsetenv("ONEMAP_ADMIN_TOKEN");
        return s;
    }
    static httplib::Client client_of(const test::server_process& s)
    {
        auto c = s.client();
        c.set_read_timeout(10, 0); // the old server answered a seed only when it had finished
        return c;
    }
    // Starts a seed job: 202, Location, the job.
    static json start_seed(httplib::Client& c, const httplib::Params& params, std::string* location = nullptr)
    {
        auto res = c.Post("/admin/seed", bearer(), params);
        if (!res) {
            ADD_FAILURE() << "no answer to POST /admin/seed";
            return json::object();
        }
        EXPECT_EQ(res->status, 202) << res->body;
        auto job = json::parse(res->body, nullptr, false);
        EXPECT_TRUE(job.is_object()) << res->body;
        if (!job.is_object()) {
            return json::object();
        }
        EXPECT_EQ(res->get_header_value("Location"), "/admin/jobs/" + std::to_string(job.value("id", 0)));
        if (location != nullptr) {
            *location = res->get_header_value("Location");
        }
        return job;
    }
    // Polls a job until `until` holds or `limit` passes; returns the last state seen.
    template <typename Predicate>
    static json poll(httplib::Client& c, const std::string& location, Predicate until,
                     std::chrono::seconds limit = 120s)
    {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        json job;
        while (std::chrono::steady_clock::now() < deadline) {
            auto res = c.Get(location, bearer());
            if (!res || res->status != 200) {
                ADD_FAILURE() << "GET " << location << ": " << (res ? res->body : "no answer");
                return job;
            }
            job = json::parse(res->body);
            if (until(job)) {
                return job;
            }
            std::this_thread::sleep_for(50ms);
        }
        ADD_FAILURE() << "job at " << location << " still " << job.dump() << " after " << limit.count() << " s";
        return job;
    }
    static json stats_of(httplib::Client& c) { return json::parse(c.Get("/stats")->body); }
};

bool finished(const json& job)
{
    const auto state = job.value("state", "");
    return state != "queued" && state != "running";
}

} // namespace

TEST_F(admin_http, without_a_configured_token_the_admin_routes_answer_403_saying_how_to_enable_them)
{
    auto c = client_of(server());
    auto seed = c.Post("/admin/seed", bearer(), seed_params("grid", SMALL_BOX, 10, 11));
    ASSERT_TRUE(seed);
    EXPECT_EQ(seed->status, 403);
    EXPECT_EQ(seed->get_header_value("Content-Type"), "application/problem+json");
    const auto detail = json::parse(seed->body)["detail"].get<std::string>();
    EXPECT_NE(detail.find("ONEMAP_ADMIN_TOKEN"), std::string::npos) << detail;
    EXPECT_NE(detail.find("--admin-token-file"), std::string::npos) << detail;
    // Nothing was seeded: the old loopback check let this in.
    EXPECT_EQ(c.Get("/admin/jobs", bearer())->status, 403);
    EXPECT_EQ(c.Get("/admin/jobs/1", bearer())->status, 403);
    EXPECT_EQ(c.Delete("/admin/jobs/1", bearer())->status, 403);
    // Health and counters stay public.
    EXPECT_EQ(c.Get("/health")->status, 200);
    EXPECT_EQ(c.Get("/stats")->status, 200);
}

TEST_F(admin_http, the_admin_routes_need_the_bearer_token)
{
    auto s = server_with_token();
    auto c = client_of(*s);
    const auto params = seed_params("grid", SMALL_BOX, 10, 11);

    auto none = c.Post("/admin/seed", params);
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 401);
    EXPECT_EQ(none->get_header_value("WWW-Authenticate").rfind("Bearer", 0), 0U)
        << none->get_header_value("WWW-Authenticate");
    EXPECT_EQ(none->get_header_value("Content-Type"), "application/problem+json");
    auto basic = c.Post("/admin/seed", httplib::Headers{{"Authorization", "Basic YWRtaW46YWRtaW4="}}, params);
    EXPECT_EQ(basic->status, 401);
    EXPECT_EQ(c.Get("/admin/jobs")->status, 401);

    auto wrong = c.Post("/admin/seed", bearer(TOKEN.substr(0, TOKEN.size() - 1) + "x"), params);
    EXPECT_EQ(wrong->status, 403);
    EXPECT_EQ(c.Post("/admin/seed", bearer(TOKEN + "0"), params)->status, 403);
    EXPECT_EQ(c.Get("/admin/jobs", bearer("not-the-token-at-all-00000"))->status, 403);
    EXPECT_EQ(c.Get("/admin/jobs")->status, 401);

    std::string location;
    const auto job = start_seed(c, params, &location);
    const auto done = poll(c, location, finished);
    EXPECT_EQ(done["state"], "done") << done.dump();
    EXPECT_EQ(c.Get("/health")->status, 200);
}

TEST_F(admin_http, a_seed_job_is_polled_to_done_with_its_totals_and_its_tiles_are_then_cache_hits)
{
    auto s = server_with_token();
    auto c = client_of(*s);

    // Parameters are checked as before: 400 naming the parameter, 404 for no such tileset.
    auto bad = c.Post("/admin/seed", bearer(), seed_params("grid", "1,2,3", 10, 11));
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    EXPECT_EQ(json::parse(bad->body)["parameter"], "bbox");
    auto huge = c.Post("/admin/seed", bearer(), seed_params("grid", "-180,-85,180,85", 0, 18));
    EXPECT_EQ(huge->status, 400);
    EXPECT_EQ(json::parse(huge->body)["parameter"], "maxzoom");
    auto format = c.Post("/admin/seed", bearer(), seed_params("grid", SMALL_BOX, 10, 11, "jpeg"));
    EXPECT_EQ(json::parse(format->body)["parameter"], "format");
    EXPECT_EQ(c.Post("/admin/seed", bearer(), seed_params("no_such_layer", SMALL_BOX, 10, 11))->status, 404);
    EXPECT_EQ(c.Get("/admin/jobs/999", bearer())->status, 404);

    const auto& wm = core::web_mercator_quad();
    const core::box box{113.9, 32.9, 114.2, 33.1};
    std::size_t expected = 0;
    for (int z = 10; z <= 13; ++z) {
        const auto r = wm.tile_range(z, box);
        expected += (r.max_col - r.min_col + 1) * (r.max_row - r.min_row + 1);
    }
    std::string location;
    const auto started = start_seed(c, seed_params("grid", SMALL_BOX, 10, 13), &location);
    EXPECT_EQ(started["total"], expected);
    EXPECT_EQ(started["tileset"], "grid");
    EXPECT_EQ(started["format"], "mvt");
    EXPECT_TRUE(started["state"] == "running" || started["state"] == "queued") << started.dump();

    const auto job = poll(c, location, finished);
    ASSERT_EQ(job["state"], "done") << job.dump();
    EXPECT_EQ(job["total"], expected);
    EXPECT_EQ(job["done"], expected);
    EXPECT_EQ(job["failed"], 0);
    EXPECT_TRUE(job["error"].is_null());
    EXPECT_GT(job["bytes"].get<std::size_t>(), 0U);
    EXPECT_LT(job["empty"].get<std::size_t>(), expected);

    const auto listed = json::parse(c.Get("/admin/jobs", bearer())->body)["jobs"];
    ASSERT_EQ(listed.size(), 1U);
    EXPECT_EQ(listed[0]["id"], job["id"]);
    EXPECT_EQ(listed[0]["state"], "done");

    // Every tile of the box is now answered from the cache.
    const auto before = stats_of(c)["cache"];
    std::size_t with_content = 0;
    for (int z = 10; z <= 13; ++z) {
        const auto r = wm.tile_range(z, box);
        for (auto x = r.min_col; x <= r.max_col; ++x) {
            for (auto y = r.min_row; y <= r.max_row; ++y) {
                auto res = c.Get("/tiles/grid/" + std::to_string(z) + "/" + std::to_string(x) + "/" +
                                 std::to_string(y) + ".mvt");
                ASSERT_TRUE(res);
                with_content += res->status == 200 ? 1 : 0;
            }
        }
    }
    const auto after = stats_of(c)["cache"];
    EXPECT_EQ(after["misses"], before["misses"]) << "a seeded tile was built again";
    EXPECT_GE(after["hits"].get<std::size_t>() - before["hits"].get<std::size_t>(), with_content);
    EXPECT_GT(with_content, 0U);
    EXPECT_EQ(with_content, expected - job["empty"].get<std::size_t>());

    // DELETE of a finished job leaves it as it was.
    auto del = c.Delete(location, bearer());
    ASSERT_TRUE(del);
    EXPECT_EQ(del->status, 200);
    EXPECT_EQ(json::parse(del->body)["state"], "done");
}

TEST_F(admin_http, a_large_png_seed_is_cancelled_while_the_server_keeps_answering)
{
    // One worker thread: the old server's seed held it, and nothing else that needs a worker
    // was answered until the seed had finished.
    auto s = server_with_token({"--worker-threads", "1"});
    auto c = client_of(*s);
    std::string location;
    const auto started = start_seed(c, seed_params("basemap", CITY, 12, 16, "png"), &location);
    const auto total = started.value("total", 0);
    EXPECT_GT(total, 100000);
    const auto running = poll(c, location, [](const json& j) { return j.value("done", 0) >= 32 || finished(j); });
    ASSERT_EQ(running["state"], "running") << running.dump();

    // The job shares the worker: a query that needs it is answered during the seed.
    for (int i = 0; i < 3; ++i) {
        auto health = c.Get("/health");
        ASSERT_TRUE(health);
        EXPECT_EQ(health->status, 200);
        auto items = c.Get("/ogc/collections/grid/items?limit=1&offset=" + std::to_string(i));
        ASSERT_TRUE(items) << "a request needing a worker was not answered during the seed";
        EXPECT_EQ(items->status, 200);
        auto tile = c.Get("/tiles/admin_county/9/" + std::to_string(418 + i) + "/206.mvt");
        ASSERT_TRUE(tile) << "an uncached tile was not answered during the seed";
        EXPECT_TRUE(tile->status == 200 || tile->status == 204) << tile->status;
    }
    EXPECT_EQ(json::parse(c.Get(location, bearer())->body)["state"], "running");

    auto del = c.Delete(location, bearer());
    ASSERT_TRUE(del);
    EXPECT_TRUE(del->status == 202 || del->status == 200) << del->status;
    const auto cancelling = json::parse(del->body);
    EXPECT_TRUE(cancelling["state"] == "cancelled" || cancelling["cancel_requested"] == true) << del->body;
    const auto cancelled = poll(c, location, finished, 10s);
    ASSERT_EQ(cancelled["state"], "cancelled") << cancelled.dump();
    EXPECT_LT(cancelled["done"].get<int>(), total);
    EXPECT_FALSE(cancelled["error"].is_null());
    // Stopped: neither the job nor the renderer moves on.
    const auto drawn = stats_of(c)["raster"]["metatiles_drawn"];
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(json::parse(c.Get(location, bearer())->body)["done"], cancelled["done"]);
    EXPECT_EQ(stats_of(c)["raster"]["metatiles_drawn"], drawn);
    EXPECT_EQ(c.Get("/health")->status, 200);
}

TEST_F(admin_http, sigterm_during_a_large_seed_exits_promptly_with_status_0)
{
    auto s = server_with_token();
    auto c = client_of(*s);
    std::string location;
    start_seed(c, seed_params("basemap", CITY, 12, 16, "png"), &location);
    // A second job waits behind it (one job at a time by default).
    const auto waiting = start_seed(c, seed_params("basemap", CITY, 12, 16, "png"));
    EXPECT_EQ(waiting["state"], "queued") << waiting.dump();
    const auto running = poll(c, location, [](const json& j) { return j.value("done", 0) >= 32 || finished(j); });
    ASSERT_EQ(running["state"], "running") << running.dump();

    const auto sent = std::chrono::steady_clock::now();
    const int status = s->terminate(SIGTERM, 10s);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - sent).count();
    RecordProperty("sigterm_to_exit_ms", static_cast<int>(ms));
    EXPECT_EQ(status, 0) << "onemap-server did not exit 0 within 10 s of SIGTERM during a seed; its log:\n"
                         << s->log();
    std::printf("SIGTERM during a PNG seed: exited %d after %lld ms\n", status, static_cast<long long>(ms));
}
