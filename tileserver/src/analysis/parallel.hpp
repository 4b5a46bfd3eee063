#pragma once
// A loop spread over one thread per core, for the analytics' whole-layer passes (every
// parcel's area, every region's statistics); the request waiting for it runs on a worker.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
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

} // namespace onemap::tileserver::analysis
