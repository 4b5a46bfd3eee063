#pragma once
// How much freed memory glibc's malloc may keep from the system while the tile cache churns
// (issue 14; bench/soak.sh, bench/RESULTS.md "Soak: RSS under cache churn"). Without these the
// server's RSS grew ~100 MB past its live heap over 150k requests with a 64 MB cache: up to 8
// arenas a core each kept its own high-water mark, metatile canvases (4–16 MB) were carved out
// of the arenas once glibc's mmap threshold had risen above them, and the free pages they and
// the evicted tiles left inside the arenas were never given back.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace onemap::tileserver {

/// One malloc arena a core, and blocks of 128 KiB and more always mapped on their own (so that
/// freeing them unmaps them). Call first in main, before any thread starts. Each setting is
/// left to glibc when its variable (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_) or
/// GLIBC_TUNABLES is set. Does nothing outside glibc.
void bound_malloc_retention();

/// Gives the free pages inside malloc's arenas back to the system (malloc_trim) every
/// `period`, from a thread of its own, until destroyed. Does nothing outside glibc.
class heap_trimmer {
public:
    explicit heap_trimmer(std::chrono::milliseconds period);
    ~heap_trimmer();
    heap_trimmer(const heap_trimmer&) = delete; // its thread holds `this`
    heap_trimmer& operator=(const heap_trimmer&) = delete;
    heap_trimmer(heap_trimmer&&) = delete;
    heap_trimmer& operator=(heap_trimmer&&) = delete;

private:
    std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_stopping = false;
    std::thread m_thread; // last: started once the members it reads exist
};

} // namespace onemap::tileserver
