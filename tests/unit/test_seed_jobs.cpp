// Seed jobs without a server: a hand-driven task queue stands in for the worker pool, so each
// test decides when tasks run. Totals and the visiting order (metatiles whole), slices that
// re-post themselves, cancellation within a tile, at most N jobs at once with a bounded queue,
// tile errors counted while a database outage fails the job, shutdown, a bounded history; and
// the admin credential's checks.
#include "onemap/core/error.hpp"
#include "onemap/tileserver/admin_access.hpp"
#include "onemap/tileserver/seed_jobs.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <deque>
#include <set>
#include <tuple>

using namespace onemap;
using namespace onemap::tileserver;

namespace {

// The worker pool, run by hand.
struct task_queue {
    std::deque<std::function<void()>> tasks;
    seed_jobs::poster poster()
    {
        return [this](std::function<void()> t) { tasks.push_back(std::move(t)); };
    }
    bool run_one()
    {
        if (tasks.empty()) {
            return false;
        }
        auto t = std::move(tasks.front());
        tasks.pop_front();
        t();
        return true;
    }
    void run_all()
    {
        while (run_one()) {
        }
    }
};

using tile_id = std::tuple<int, std::uint64_t, std::uint64_t>;

seed_request request(int minzoom, int maxzoom, std::uint64_t block = 1)
{
    seed_request r;
    r.tileset = "grid";
    r.tms = &core::web_mercator_quad();
    r.bbox = core::box{113.9, 32.9, 114.2, 33.1};
    r.minzoom = minzoom;
    r.maxzoom = maxzoom;
    r.date = "2024-01-01";
    r.block = block;
    r.format = block == 1 ? "mvt" : "png";
    return r;
}

// One tile per task: every slice ends after its first tile.
seed_jobs_config one_tile_slices()
{
    seed_jobs_config c;
    c.slice = std::chrono::milliseconds(0);
    return c;
}

} // namespace

TEST(seed_jobs, every_tile_of_the_box_and_zooms_is_visited_once)
{
    task_queue pool;
    std::vector<tile_id> seen;
    seed_jobs jobs(
        [&](const seed_request&, int z, std::uint64_t x, std::uint64_t y) {
            seen.emplace_back(z, x, y);
            return std::size_t{(x + y) % 3 == 0 ? 0U : 100U};
        },
        pool.poster(), one_tile_slices());
    const auto req = request(10, 13);
    const auto job = jobs.submit(req);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->state, seed_state::running);
    std::set<tile_id> expected;
    for (int z = 10; z <= 13; ++z) {
        const auto r = req.tms->tile_range(z, req.bbox);
        for (auto x = r.min_col; x <= r.max_col; ++x) {
            for (auto y = r.min_row; y <= r.max_row; ++y) {
                expected.emplace(z, x, y);
            }
        }
    }
    EXPECT_EQ(job->total, expected.size());
    EXPECT_EQ(seed_tile_count(req), expected.size());
    pool.run_all();
    EXPECT_EQ(seen.size(), expected.size());
    EXPECT_EQ(std::set<tile_id>(seen.begin(), seen.end()), expected);
    const auto done = jobs.find(job->id);
    ASSERT_TRUE(done);
    EXPECT_EQ(done->state, seed_state::done);
    EXPECT_EQ(done->done, expected.size());
    std::uint64_t empty = 0;
    for (const auto& [z, x, y] : expected) {
        empty += (x + y) % 3 == 0 ? 1 : 0;
    }
    EXPECT_EQ(done->empty, empty);
    EXPECT_EQ(done->bytes, (expected.size() - empty) * 100);
    EXPECT_EQ(done->failed, 0U);
    const auto doc = nlohmann::json::parse(done->json());
    EXPECT_EQ(doc["state"], "done");
    EXPECT_EQ(doc["total"], expected.size());
    EXPECT_TRUE(doc["error"].is_null());
}

TEST(seed_jobs, png_jobs_visit_each_metatile_whole_before_the_next)
{
    task_queue pool;
    std::vector<tile_id> seen;
    seed_jobs jobs(
        [&](const seed_request&, int z, std::uint64_t x, std::uint64_t y) {
            seen.emplace_back(z, x, y);
            return std::size_t{1};
        },
        pool.poster(), one_tile_slices());
    ASSERT_TRUE(jobs.submit(request(11, 12, 4)));
    pool.run_all();
    // Once the walk leaves a metatile it never comes back to it.
    std::set<tile_id> left;
    tile_id current{-1, 0, 0};
    for (const auto& [z, x, y] : seen) {
        const tile_id meta{z, x / 4, y / 4};
        if (meta != current) {
            EXPECT_EQ(left.count(meta), 0U) << "metatile " << z << "/" << x / 4 << "/" << y / 4 << " visited twice";
            left.insert(current);
            current = meta;
        }
    }
    EXPECT_EQ(seen.size(), seed_tile_count(request(11, 12, 4)));
}

TEST(seed_jobs, a_job_runs_in_slices_that_repost_themselves_and_stops_within_a_tile_when_cancelled)
{
    task_queue pool;
    int built = 0;
    seed_jobs jobs([&](const seed_request&, int, std::uint64_t, std::uint64_t) { return (++built, std::size_t{10}); },
                   pool.poster(), one_tile_slices());
    const auto job = jobs.submit(request(10, 14));
    ASSERT_TRUE(job);
    ASSERT_EQ(pool.tasks.size(), 1U);
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(pool.run_one());
        EXPECT_EQ(pool.tasks.size(), 1U) << "a slice posts its continuation, never more";
    }
    EXPECT_EQ(built, 5);
    EXPECT_EQ(jobs.find(job->id)->done, 5U);

    const auto cancelling = jobs.cancel(job->id);
    ASSERT_TRUE(cancelling);
    EXPECT_EQ(cancelling->state, seed_state::running);
    EXPECT_TRUE(cancelling->cancel_requested);
    pool.run_all();
    EXPECT_EQ(built, 5) << "no tile is built after the cancel";
    const auto cancelled = jobs.find(job->id);
    EXPECT_EQ(cancelled->state, seed_state::cancelled);
    EXPECT_EQ(cancelled->done, 5U);
    EXPECT_LT(cancelled->done, cancelled->total);
    EXPECT_FALSE(cancelled->cancel_requested);
    EXPECT_EQ(cancelled->error, "cancelled on request");
    // Cancelling a finished job leaves it as it is.
    EXPECT_EQ(jobs.cancel(job->id)->state, seed_state::cancelled);
    EXPECT_FALSE(jobs.cancel(job->id + 100));
}

TEST(seed_jobs, at_most_n_jobs_run_and_the_queue_is_bounded)
{
    task_queue pool;
    seed_jobs_config config = one_tile_slices();
    config.concurrent = 1;
    config.max_queued = 2;
    seed_jobs jobs([](const seed_request&, int, std::uint64_t, std::uint64_t) { return std::size_t{1}; },
                   pool.poster(), config);
    const auto first = jobs.submit(request(10, 10));
    const auto second = jobs.submit(request(10, 10));
    const auto third = jobs.submit(request(10, 10));
    ASSERT_TRUE(first && second && third);
    EXPECT_EQ(first->state, seed_state::running);
    EXPECT_EQ(second->state, seed_state::queued);
    EXPECT_EQ(third->state, seed_state::queued);
    EXPECT_FALSE(jobs.submit(request(10, 10))) << "a third waiting job is refused";
    EXPECT_FALSE(jobs.shutting_down());

    // A queued job cancelled never starts.
    EXPECT_EQ(jobs.cancel(third->id)->state, seed_state::cancelled);
    ASSERT_TRUE(pool.run_one());
    EXPECT_EQ(jobs.find(second->id)->state, seed_state::queued) << "the second waits for the first";
    pool.run_all();
    EXPECT_EQ(jobs.find(first->id)->state, seed_state::done);
    EXPECT_EQ(jobs.find(second->id)->state, seed_state::done);
    EXPECT_EQ(jobs.find(third->id)->state, seed_state::cancelled);
    EXPECT_EQ(jobs.find(third->id)->done, 0U);
}

TEST(seed_jobs, a_failing_tile_is_counted_and_the_job_goes_on)
{
    task_queue pool;
    seed_jobs jobs(
        [](const seed_request&, int z, std::uint64_t x, std::uint64_t y) -> std::size_t {
            if ((x + y) % 2 == 0) {
                throw std::runtime_error("cannot draw " + std::to_string(z));
            }
            return 1;
        },
        pool.poster());
    const auto job = jobs.submit(request(10, 12));
    pool.run_all();
    const auto s = jobs.find(job->id);
    EXPECT_EQ(s->state, seed_state::done);
    EXPECT_EQ(s->done, s->total);
    EXPECT_GT(s->failed, 0U);
    EXPECT_NE(s->first_tile_error.find("cannot draw 10"), std::string::npos) << s->first_tile_error;
    EXPECT_EQ(s->first_tile_error.rfind("10/", 0), 0U) << "names the tile: " << s->first_tile_error;
}

TEST(seed_jobs, a_database_outage_fails_the_job_at_once)
{
    task_queue pool;
    int calls = 0;
    seed_jobs jobs(
        [&](const seed_request&, int, std::uint64_t, std::uint64_t) -> std::size_t {
            if (++calls > 3) {
                throw db_error("cannot connect to host=db password=***");
            }
            return 1;
        },
        pool.poster());
    const auto job = jobs.submit(request(10, 14));
    pool.run_all();
    const auto s = jobs.find(job->id);
    EXPECT_EQ(s->state, seed_state::failed);
    EXPECT_EQ(calls, 4) << "no tile is tried after the outage";
    EXPECT_EQ(s->done, 3U);
    EXPECT_NE(s->error.find("database"), std::string::npos) << s->error;
}

TEST(seed_jobs, tiles_failing_in_a_row_fail_the_job)
{
    task_queue pool;
    int calls = 0;
    seed_jobs jobs(
        [&](const seed_request&, int, std::uint64_t, std::uint64_t) -> std::size_t {
            ++calls;
            throw std::runtime_error("style cannot be drawn");
        },
        pool.poster());
    const auto job = jobs.submit(request(10, 14));
    pool.run_all();
    const auto s = jobs.find(job->id);
    EXPECT_EQ(s->state, seed_state::failed);
    EXPECT_EQ(calls, 50);
    EXPECT_LT(s->done, s->total);
    EXPECT_NE(s->error.find("style cannot be drawn"), std::string::npos) << s->error;
}

TEST(seed_jobs, shutdown_cancels_running_and_queued_jobs_and_refuses_new_ones)
{
    task_queue pool;
    int built = 0;
    seed_jobs jobs([&](const seed_request&, int, std::uint64_t, std::uint64_t) { return (++built, std::size_t{1}); },
                   pool.poster(), one_tile_slices());
    const auto running = jobs.submit(request(10, 14));
    const auto queued = jobs.submit(request(10, 14));
    ASSERT_TRUE(pool.run_one());
    jobs.shutdown();
    EXPECT_TRUE(jobs.shutting_down());
    EXPECT_FALSE(jobs.submit(request(10, 10)));
    pool.run_all();
    EXPECT_EQ(built, 1);
    EXPECT_EQ(jobs.find(running->id)->state, seed_state::cancelled);
    EXPECT_EQ(jobs.find(running->id)->error, "cancelled at shutdown");
    EXPECT_EQ(jobs.find(queued->id)->state, seed_state::cancelled);
    EXPECT_TRUE(pool.tasks.empty());
}

TEST(seed_jobs, finished_jobs_are_kept_up_to_a_bound)
{
    task_queue pool;
    seed_jobs_config config;
    config.keep_finished = 3;
    seed_jobs jobs([](const seed_request&, int, std::uint64_t, std::uint64_t) { return std::size_t{1}; },
                   pool.poster(), config);
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < 6; ++i) {
        ids.push_back(jobs.submit(request(10, 10))->id);
        pool.run_all();
    }
    const auto listed = jobs.list();
    ASSERT_EQ(listed.size(), 3U);
    EXPECT_EQ(listed.front().id, ids[3]);
    EXPECT_EQ(listed.back().id, ids[5]);
    EXPECT_FALSE(jobs.find(ids[0]));
}

TEST(admin_access, bearer_token_checked_in_one_place)
{
    const std::string token = "0123456789abcdef-token";
    const admin_access access(token);
    EXPECT_TRUE(access.enabled());
    auto with = [](const std::string& authorization) {
        http_request req;
        req.set_target("/admin/jobs");
        if (!authorization.empty()) {
            req.headers.emplace_back("authorization", authorization);
        }
        return req;
    };
    EXPECT_NO_THROW(access.require_admin(with("Bearer " + token)));
    EXPECT_NO_THROW(access.require_admin(with("bearer  " + token)));
    EXPECT_THROW(access.require_admin(with("")), unauthorized);
    EXPECT_THROW(access.require_admin(with("Basic dXNlcjpwYXNz")), unauthorized);
    EXPECT_THROW(access.require_admin(with("Bearer ")), unauthorized);
    try {
        access.require_admin(with("Bearer " + token + "x"));
        ADD_FAILURE() << "a longer token passed";
    } catch (const unauthorized&) {
        ADD_FAILURE() << "a wrong token is 403, not 401";
    } catch (const forbidden&) {
    }
    EXPECT_THROW(access.require_admin(with("Bearer " + token.substr(0, token.size() - 1))), forbidden);

    const admin_access disabled("");
    EXPECT_FALSE(disabled.enabled());
    try {
        disabled.require_admin(with("Bearer " + token));
        ADD_FAILURE() << "a disabled admin API let a request in";
    } catch (const unauthorized&) {
        ADD_FAILURE() << "disabled is 403, not 401";
    } catch (const forbidden& e) {
        EXPECT_NE(std::string(e.what()).find("ONEMAP_ADMIN_TOKEN"), std::string::npos) << e.what();
    }
    EXPECT_THROW(admin_access("short"), config_error);
    EXPECT_THROW(admin_access("0123456789abcdef with spaces"), config_error);

    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_FALSE(constant_time_equal("abd", "abc"));
    EXPECT_FALSE(constant_time_equal("ab", "abc"));
    EXPECT_FALSE(constant_time_equal("abcd", "abc"));
    EXPECT_FALSE(constant_time_equal("", "abc"));
}
