#pragma once
// Loops spread over the cores, for the analytics.
// - parallel_for: the whole-layer passes (every parcel's area, every region's statistics):
//   one thread per core for the length of the pass; the request waiting for it runs on a worker.
// - shared_for: a single request's short loop (a review's candidate parcels, ~0.1–0.3 ms):
//   run by the calling thread, helped by whichever helper threads are idle. A server busy with
//   other requests finds no helper idle and runs the loop alone, as before, at the cost of one
//   wake-up call; an idle core shortens one client's wait.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

namespace onemap::tileserver::analysis {

// Runs f(i) for i in [0, n) on one thread per core (at least one), rethrowing the first failure.
template <typename F>
void parallel_for(std::size_t n, F&& f)
{
    const unsigned threads = std::max(1U, std::min(8U, std::thread::hardware_concurrency()));
    std::atomic<std::size_t> next{0};
    std::vector<std::exception_ptr> failed(threads);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            try {
                for (std::size_t i = next++; i < n; i = next++) {
                    f(i);
                }
            } catch (...) {
                failed[t] = std::current_exception();
                next = n;
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    for (auto& e : failed) {
        if (e) {
            std::rethrow_exception(e);
        }
    }
}

/// Runs f(i) for i in [0, n) on the calling thread and the idle helpers (one per further core,
/// started on first use), rethrowing the first failure. Loops shorter than `min_n` run alone.
/// f must be safe to call from several threads at once for different i.
void shared_for(std::size_t n, const std::function<void(std::size_t)>& f, std::size_t min_n = 32);

} // namespace onemap::tileserver::analysis
