#include "onemap/tileserver/tile_cache.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <stdexcept>
#include <thread>

using onemap::core::box;
using onemap::tileserver::tile_cache;

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

} // namespace

TEST(tile_cache, hit_after_miss_with_gzip_and_etag)
{
    tile_cache cache(1 << 20);
    int calls = 0;
    const std::string body(5000, 'x');
    auto compute = [&] {
        ++calls;
        return body;
    };
    auto a = cache.get("k", {"dltb"}, ZHUMADIAN, compute);
    auto b = cache.get("k", {"dltb"}, ZHUMADIAN, compute);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(a, b);
    EXPECT_EQ(gunzip(a->gzipped), body);
    EXPECT_LT(a->gzipped.size(), body.size());
    EXPECT_EQ(a->etag.front(), '"');
    EXPECT_EQ(cache.stats().hits, 1U);
    EXPECT_EQ(cache.stats().misses, 1U);
}

TEST(tile_cache, evicts_least_recently_used_within_the_byte_budget)
{
    tile_cache cache(3 * 1400);
    auto body = [] { return std::string(1000, 'y'); }; // ~1000 + key + overhead per entry
    cache.get("a", {"l"}, ZHUMADIAN, body);
    cache.get("b", {"l"}, ZHUMADIAN, body);
    cache.get("a", {"l"}, ZHUMADIAN, body); // a is now the most recent
    cache.get("c", {"l"}, ZHUMADIAN, body);
    cache.get("d", {"l"}, ZHUMADIAN, body); // over budget: b goes first
    EXPECT_LE(cache.stats().bytes, cache.max_bytes());
    EXPECT_GE(cache.stats().evictions, 1U);
    int calls = 0;
    cache.get("a", {"l"}, ZHUMADIAN, [&] { ++calls; return std::string(1000, 'y'); });
    EXPECT_EQ(calls, 0) << "a was used recently and must still be cached";
    cache.get("b", {"l"}, ZHUMADIAN, [&] { ++calls; return std::string(1000, 'y'); });
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
    for (int i = 0; i < 16; ++i) {
        threads.emplace_back([&] {
            auto t = cache.get("hot", {"l"}, ZHUMADIAN, [&] {
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
}

TEST(tile_cache, invalidation_drops_only_the_layer_and_area_that_changed)
{
    tile_cache cache(1 << 20);
    auto body = [] { return std::string("t"); };
    cache.get("dltb-zmd", {"dltb"}, ZHUMADIAN, body);
    cache.get("dltb-bj", {"dltb"}, BEIJING, body);
    cache.get("river-zmd", {"river"}, ZHUMADIAN, body);
    cache.get("basemap-zmd", {"river", "dltb"}, ZHUMADIAN, body);
    EXPECT_EQ(cache.invalidate("dltb", box{114.0, 33.0, 114.1, 33.1}), 2U);
    int calls = 0;
    auto count = [&] { ++calls; return std::string("t"); };
    cache.get("dltb-bj", {"dltb"}, BEIJING, count);
    cache.get("river-zmd", {"river"}, ZHUMADIAN, count);
    EXPECT_EQ(calls, 0);
    cache.get("dltb-zmd", {"dltb"}, ZHUMADIAN, count);
    cache.get("basemap-zmd", {"river", "dltb"}, ZHUMADIAN, count);
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(cache.invalidate("river"), 2U);
}

TEST(tile_cache, a_tile_computed_across_an_invalidation_is_not_kept)
{
    tile_cache cache(1 << 20);
    cache.get("k", {"dltb"}, ZHUMADIAN, [&] {
        cache.invalidate("dltb", ZHUMADIAN); // the data changed while we computed
        return std::string("old");
    });
    int calls = 0;
    cache.get("k", {"dltb"}, ZHUMADIAN, [&] { ++calls; return std::string("new"); });
    EXPECT_EQ(calls, 1);
}

TEST(tile_cache, failures_reach_the_caller_and_are_not_cached)
{
    tile_cache cache(1 << 20);
    EXPECT_THROW(cache.get("k", {"l"}, ZHUMADIAN, []() -> std::string { throw std::runtime_error("db down"); }),
                 std::runtime_error);
    int calls = 0;
    cache.get("k", {"l"}, ZHUMADIAN, [&] { ++calls; return std::string("ok"); });
    EXPECT_EQ(calls, 1);
}

TEST(tile_cache, put_stores_the_other_tiles_of_a_metatile_unless_invalidated_since)
{
    tile_cache cache(1 << 20);
    const std::uint64_t epoch = cache.epoch();
    const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(3000, 'p');
    cache.put("basemap/png/1/0/0", {"reservoir"}, ZHUMADIAN, png, epoch);
    int calls = 0;
    const auto hit = cache.get("basemap/png/1/0/0", {"reservoir"}, ZHUMADIAN, [&] {
        ++calls;
        return std::string("recomputed");
    });
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(hit->body, png);
    EXPECT_TRUE(hit->gzipped.empty()); // PNG is not gzipped again
    EXPECT_EQ(cache.stats().entries, 1u);
    // Putting the same key again replaces it and keeps the byte count right.
    cache.put("basemap/png/1/0/0", {"reservoir"}, ZHUMADIAN, png, epoch);
    EXPECT_EQ(cache.stats().entries, 1u);
    const auto bytes = cache.stats().bytes;
    // Data computed before an invalidation is not stored.
    cache.invalidate("river");
    cache.put("basemap/png/1/0/1", {"reservoir"}, ZHUMADIAN, png, epoch);
    EXPECT_EQ(cache.stats().entries, 1u);
    EXPECT_EQ(cache.stats().bytes, bytes);
    cache.put("basemap/png/1/0/1", {"reservoir"}, ZHUMADIAN, png, cache.epoch());
    EXPECT_EQ(cache.stats().entries, 2u);
    EXPECT_EQ(cache.invalidate("reservoir", ZHUMADIAN), 2u);
    EXPECT_EQ(cache.stats().bytes, 0u);
}
