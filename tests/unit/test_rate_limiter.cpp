// Per-caller token buckets (issue 15): a burst, then refusals naming the wait, refilled with
// time; callers counted apart; no limit configured lets everything through.
#include "onemap/tileserver/rate_limiter.hpp"

#include <gtest/gtest.h>

using onemap::tileserver::rate_limit;
using onemap::tileserver::rate_limiter;
using namespace std::chrono_literals;

TEST(rate_limiter, a_burst_then_refusals_with_the_wait_then_refilled)
{
    rate_limiter limiter;
    const rate_limit limit{2, 4}; // 2 a second, 4 at once
    const auto t0 = rate_limiter::clock::now();
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(limiter.take("k1", limit, t0), 0) << i;
    }
    EXPECT_EQ(limiter.take("k1", limit, t0), 1) << "one token comes back in half a second: retry after 1 s";
    EXPECT_EQ(limiter.take("k2", limit, t0), 0) << "another caller has its own bucket";
    EXPECT_EQ(limiter.take("k1", limit, t0 + 499ms), 1);
    EXPECT_EQ(limiter.take("k1", limit, t0 + 1000ms), 0);
    // A long quiet spell refills no more than the burst.
    const auto later = t0 + 60s;
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(limiter.take("k1", limit, later), 0) << i;
    }
    EXPECT_GT(limiter.take("k1", limit, later), 0);
}

TEST(rate_limiter, slow_rates_name_a_longer_wait)
{
    rate_limiter limiter;
    const rate_limit limit{0.1, 1}; // one every 10 s
    const auto t0 = rate_limiter::clock::now();
    EXPECT_EQ(limiter.take("a", limit, t0), 0);
    EXPECT_EQ(limiter.take("a", limit, t0), 10);
    EXPECT_EQ(limiter.take("a", limit, t0 + 5s), 5);
}

TEST(rate_limiter, no_limit_lets_everything_through_and_tracks_nobody)
{
    rate_limiter limiter;
    for (int i = 0; i < 1000; ++i) {
        EXPECT_EQ(limiter.take("x", rate_limit{}), 0);
    }
    EXPECT_EQ(limiter.tracked(), 0U);
}
