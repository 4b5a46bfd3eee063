// glibc's malloc under tile-cache churn (issue 14): memory freed by the server goes back to the
// system instead of staying in malloc's arenas, where RSS grew ~100 MB past the live heap in
// bench/soak.sh. glibc's malloc only: tests/CMakeLists.txt leaves this file out of sanitizer
// builds, whose allocator is the sanitizer's.
#include "onemap/tileserver/malloc_retention.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include <malloc.h>
#include <unistd.h>

namespace {

constexpr std::size_t MIB = std::size_t{1024} * 1024;
constexpr std::size_t TILE_BYTES = std::size_t{16} * 1024; // a cached PNG or MVT tile

std::size_t resident_bytes()
{
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0;
    std::size_t resident = 0;
    statm >> pages >> resident;
    return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

} // namespace

TEST(malloc_retention, a_freed_canvas_does_not_pull_the_next_canvases_into_the_heap)
{
    onemap::tileserver::bound_malloc_retention();
    // A metatile canvas (1024 x 1024 ARGB), drawn and freed; then the next one. By default the
    // first free raises glibc's mmap threshold above 4 MiB, and the second comes out of the heap
    // (where, between cached tiles, it can never be given back).
    void* first = std::malloc(4 * MIB);
    ASSERT_NE(first, nullptr);
    std::memset(first, 1, 4 * MIB);
    std::free(first);
    void* second = std::malloc(4 * MIB);
    ASSERT_NE(second, nullptr);
    std::memset(second, 1, 4 * MIB);
    EXPECT_GE(mallinfo2().hblkhd, 4 * MIB) << "the second canvas is not a mapping of its own";
    std::free(second);
}

TEST(malloc_retention, the_heap_trimmer_gives_free_pages_inside_the_heap_back)
{
    // 32 MiB of tile-sized blocks (under the mmap threshold), then one kept past them: once the
    // others are freed their pages are free inside the heap, not at its top, and stay resident.
    std::vector<void*> tiles;
    for (std::size_t i = 0; i < 32 * MIB / TILE_BYTES; ++i) {
        tiles.push_back(std::malloc(TILE_BYTES));
        std::memset(tiles.back(), 1, TILE_BYTES);
    }
    void* kept = std::malloc(TILE_BYTES);
    std::memset(kept, 1, TILE_BYTES);
    for (void* t : tiles) {
        std::free(t);
    }
    const std::size_t before = resident_bytes();
    {
        const onemap::tileserver::heap_trimmer trimmer(std::chrono::milliseconds(20));
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    const std::size_t after = resident_bytes();
    EXPECT_GE(before, after + 24 * MIB) << "resident " << before / MIB << " MiB before, " << after / MIB << " MiB after";
    std::free(kept);
}
