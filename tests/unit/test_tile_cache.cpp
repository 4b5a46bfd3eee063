#include "onemap/tileserver/tile_cache.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

using onemap::core::box;
using onemap::tileserver::drawn_layer;
using onemap::tileserver::tile_cache;
using onemap::tileserver::tile_key;

namespace {

const box ZHUMADIAN{113.1, 32.28, 115.22, 33.53};
const box BEIJING{116.0, 39.5, 117.0, 40.5};

std::string gunzip(const std::string& in)
{
    z_stream zs{};
    inflateInit2(&zs, 15 + 16);
    std::string out(1 << 20, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    inflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    inflateEnd(&zs);
    return out;
}

tile_key key(const std::string& base, std::vector<drawn_layer> drawn = {{"l", 1}})
{
    return tile_key{base, std::move(drawn)};
}

} // namespace

TEST(tile_cache, hit_after_miss_with_gzip_and_etag)
{
    tile_cache cache(1 << 20);
    int calls = 0;
    const std::string body(5000, 'x');
    auto compute = [&] {
        ++calls;
        return std::string(body); // a copy: the test compares against body below
    };
    auto a = cache.get(key("k", {{"dltb", 3}}), ZHUMADIAN, compute);
    auto b = cache.get(key("k", {{"dltb", 3}}), ZHUMADIAN, compute);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(a, b);
    EXPECT_EQ(gunzip(a->gzipped), body);
    EXPECT_LT(a->gzipped.size(), body.size());
    EXPECT_EQ(a->gzipped.capacity(), a->gzipped.size()) << "gzip must give back deflateBound's spare room";
    EXPECT_EQ(a->etag.front(), '"');
    EXPECT_EQ(cache.stats().hits, 1U);
    EXPECT_EQ(cache.stats().misses, 1U);
    // Another version of a layer drawn is another tile.
    cache.get(key("k", {{"dltb", 4}}), ZHUMADIAN, compute);
    EXPECT_EQ(calls, 2);
}

TEST(tile_cache, evicts_least_recently_used_within_the_byte_budget)
{
    auto body = [] { return std::string(1000, 'y'); };
    tile_cache probe(1 << 20);
    probe.get(key("a"), ZHUMADIAN, body);
    const std::size_t cost = probe.stats().bytes; // what one entry really costs
    EXPECT_GT(cost, 1000U + 300U) << "the budget must count the bodies, gzip, key and bookkeeping";

    tile_cache cache(3 * cost + cost / 2);
    cache.get(key("a"), ZHUMADIAN, body);
    cache.get(key("b"), ZHUMADIAN, body);
    cache.get(key("a"), ZHUMADIAN, body); // a is now the most recent
    cache.get(key("c"), ZHUMADIAN, body);
    cache.get(key("d"), ZHUMADIAN, body); // over budget: b goes first
    EXPECT_LE(cache.stats().bytes, cache.max_bytes());
    EXPECT_EQ(cache.stats().evictions, 1U);
    int calls = 0;
    cache.get(key("a"), ZHUMADIAN, [&] { ++calls; return std::string(1000, 'y'); });
    EXPECT_EQ(calls, 0) << "a was used recently and must still be cached";
    cache.get(key("b"), ZHUMADIAN, [&] { ++calls; return std::string(1000, 'y'); });
    EXPECT_EQ(calls, 1) << "b was least recently used and must have been evicted";
}

TEST(tile_cache, concurrent_misses_compute_once)
{
    tile_cache cache(1 << 20);
    std::atomic<int> calls{0};
    std::vector<std::thread> threads;
    std::atomic<int> same{0};
    std::shared_ptr<const onemap::tileserver::cached_tile> first;
    std::mutex m;
    threads.reserve(16);
    for (int i = 0; i < 16; ++i) {
        threads.emplace_back([&] {
            auto t = cache.get(key("hot"), ZHUMADIAN, [&] {
                ++calls;
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                return std::string("tile");
            });
            std::lock_guard<std::mutex> lock(m);
            if (!first) {
                first = t;
            }
            same += first->body == t->body ? 1 : 0;
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(calls.load(), 1);
    EXPECT_EQ(same.load(), 16);
    EXPECT_EQ(cache.stats().misses, 1U);
    EXPECT_EQ(cache.stats().hits, 15U);
}

TEST(tile_cache, a_wait_for_another_computation_is_bounded)
{
    tile_cache cache(1 << 20, std::chrono::milliseconds(100), "--tile-wait-timeout-ms");
    std::atomic<bool> started{false};
    std::thread slow([&] {
        cache.get(key("slow"), ZHUMADIAN, [&] {
            started = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(1500));
            return std::string("late");
        });
    });
    while (!started) {
        std::this_thread::yield();
    }
    const auto t0 = std::chrono::steady_clock::now();
    try {
        cache.get(key("slow"), ZHUMADIAN, [] { return std::string("never"); });
        ADD_FAILURE() << "a waiter must give up after its limit";
    } catch (const onemap::timeout_error& e) {
        EXPECT_EQ(e.limit(), "--tile-wait-timeout-ms");
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1400));
    slow.join();
}

TEST(tile_cache, failures_reach_the_caller_and_are_not_cached)
{
    tile_cache cache(1 << 20);
    EXPECT_THROW(cache.get(key("k"), ZHUMADIAN, []() -> std::string { throw std::runtime_error("db down"); }),
                 std::runtime_error);
    int calls = 0;
    cache.get(key("k"), ZHUMADIAN, [&] { ++calls; return std::string("ok"); });
    EXPECT_EQ(calls, 1);
}

TEST(tile_cache, put_stores_the_other_tiles_of_a_metatile)
{
    tile_cache cache(1 << 20);
    const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(3000, 'p');
    cache.put(key("basemap/png/1/0/0", {{"reservoir", 2}}), ZHUMADIAN, png);
    int calls = 0;
    const auto hit = cache.get(key("basemap/png/1/0/0", {{"reservoir", 2}}), ZHUMADIAN, [&] {
        ++calls;
        return std::string("recomputed");
    });
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(hit->body, png);
    EXPECT_TRUE(hit->gzipped.empty()); // PNG is not gzipped again
    EXPECT_EQ(cache.stats().entries, 1u);
    // Putting the same key again replaces it and keeps the byte count right.
    const auto bytes = cache.stats().bytes;
    cache.put(key("basemap/png/1/0/0", {{"reservoir", 2}}), ZHUMADIAN, png);
    EXPECT_EQ(cache.stats().entries, 1u);
    EXPECT_EQ(cache.stats().bytes, bytes);
}

TEST(tile_cache, a_publish_carries_the_tiles_outside_its_change_to_the_new_version)
{
    tile_cache cache(1 << 20);
    auto body = [](const char* b) { return [b] { return std::string(b); }; };
    const box CHANGE{114.0, 33.0, 114.1, 33.1};
    cache.get(key("dltb-zmd", {{"dltb", 1}}), ZHUMADIAN, body("zmd"));           // meets the change
    cache.get(key("dltb-bj", {{"dltb", 1}}), BEIJING, body("bj"));               // elsewhere
    cache.get(key("river-zmd", {{"river", 5}}), ZHUMADIAN, body("river"));       // another layer
    cache.get(key("basemap-bj", {{"dltb", 1}, {"river", 5}}), BEIJING, body("bm"));
    cache.get(key("basemap-new", {{"dltb", 0}, {"river", 5}}), BEIJING, body("bm0")); // dltb had no version

    // dltb v2 replaces v1 from its start date on; v1 stays valid before it.
    EXPECT_EQ(cache.carry("dltb", 1, 2, CHANGE, false), 2U);
    int calls = 0;
    auto count = [&] { ++calls; return std::string("new"); };
    EXPECT_EQ(cache.get(key("dltb-bj", {{"dltb", 2}}), BEIJING, count)->body, "bj");
    EXPECT_EQ(cache.get(key("basemap-bj", {{"dltb", 2}, {"river", 5}}), BEIJING, count)->body, "bm");
    EXPECT_EQ(calls, 0) << "tiles outside the change are the same with the new version";
    EXPECT_EQ(cache.get(key("dltb-zmd", {{"dltb", 2}}), ZHUMADIAN, count)->body, "new");
    EXPECT_EQ(calls, 1) << "a tile over the change is drawn again";
    // The old version's tiles still serve the dates before the new one.
    EXPECT_EQ(cache.get(key("dltb-zmd", {{"dltb", 1}}), ZHUMADIAN, count)->body, "zmd");
    EXPECT_EQ(calls, 1);

    // A publish on the same start date supersedes: v2's tiles move to v3, the rest of v2 goes.
    const auto before = cache.stats();
    EXPECT_EQ(cache.carry("dltb", 2, 3, CHANGE, true), 2U);
    EXPECT_EQ(cache.stats().invalidated - before.invalidated, 3U); // dltb-bj, basemap-bj, dltb-zmd of v2
    EXPECT_EQ(cache.peek(key("dltb-zmd", {{"dltb", 2}}).str()), nullptr);
    EXPECT_NE(cache.peek(key("dltb-bj", {{"dltb", 3}}).str()), nullptr);
    EXPECT_NE(cache.peek(key("dltb-zmd", {{"dltb", 1}}).str()), nullptr) << "v1 was not retired";

    // A first publish (from none) carries the composites that could draw the layer; a publish
    // that changed nothing (no changed area) carries everything of the layer.
    EXPECT_EQ(cache.carry("dltb", 0, 1, CHANGE, false), 1U);
    EXPECT_NE(cache.peek(key("basemap-new", {{"dltb", 1}, {"river", 5}}).str()), nullptr);
    EXPECT_EQ(cache.carry("river", 5, 6, std::nullopt, false), 5U); // river-zmd and four basemap tiles
    EXPECT_NE(cache.peek(key("river-zmd", {{"river", 6}}).str()), nullptr);
}

