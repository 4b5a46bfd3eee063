#include "onemap/tileserver/analysis/parallel.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>

namespace onemap::tileserver::analysis {

namespace {

// One shared loop: its items are taken one at a time by whoever is running it. The caller
// waits until every item taken has been done, so f (on its stack) outlives every call of it;
// a helper that arrives after the last item takes nothing and never touches f.
struct shared_loop {
    std::size_t n = 0;
    const std::function<void(std::size_t)>* f = nullptr;
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> done{0};
    std::atomic<bool> failed{false};
    std::mutex failure_mutex;
    std::exception_ptr failure;

    void work()
    {
        for (std::size_t i = next.fetch_add(1, std::memory_order_relaxed); i < n;
             i = next.fetch_add(1, std::memory_order_relaxed)) {
            if (!failed.load(std::memory_order_relaxed)) {
                try {
                    (*f)(i);
                } catch (...) {
                    const std::lock_guard<std::mutex> lock(failure_mutex);
                    if (!failure) {
                        failure = std::current_exception();
                    }
                    failed = true;
                }
            }
            done.fetch_add(1, std::memory_order_release);
        }
    }
};

class helper_team {
public:
    helper_team()
    {
        const unsigned cores = std::min(8U, std::thread::hardware_concurrency());
        for (unsigned t = 1; t < cores; ++t) {
            m_threads.emplace_back([this] { serve(); });
        }
    }
    ~helper_team()
    {
        {
            const std::lock_guard<std::mutex> lock(m_mutex);
            m_stop = true;
        }
        m_wake.notify_all();
        for (auto& t : m_threads) {
            t.join();
        }
    }
    helper_team(const helper_team&) = delete;
    helper_team& operator=(const helper_team&) = delete;

    bool has_helpers() const noexcept { return !m_threads.empty(); }

    void offer(const std::shared_ptr<shared_loop>& loop)
    {
        {
            const std::lock_guard<std::mutex> lock(m_mutex);
            if (m_idle == 0) {
                return; // every helper is busy with another request's loop
            }
            --m_idle; // this one is spoken for
            m_offered.push_back(loop);
        }
        m_wake.notify_one();
    }

private:
    void serve()
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        for (;;) {
            ++m_idle;
            m_wake.wait(lock, [this] { return m_stop || !m_offered.empty(); });
            if (m_stop) {
                return;
            }
            const std::shared_ptr<shared_loop> loop = std::move(m_offered.back());
            m_offered.pop_back();
            lock.unlock();
            loop->work();
            lock.lock();
        }
    }

    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::vector<std::shared_ptr<shared_loop>> m_offered;
    unsigned m_idle = 0;
    bool m_stop = false;
    std::vector<std::thread> m_threads;
};

helper_team& team()
{
    static helper_team t;
    return t;
}

} // namespace

void shared_for(std::size_t n, const std::function<void(std::size_t)>& f, std::size_t min_n)
{
    if (n < min_n || !team().has_helpers()) {
        for (std::size_t i = 0; i < n; ++i) {
            f(i);
        }
        return;
    }
    auto loop = std::make_shared<shared_loop>();
    loop->n = n;
    loop->f = &f;
    team().offer(loop);
    loop->work();
    // A helper may still be in its last item: it is short (one parcel), so wait by spinning.
    while (loop->done.load(std::memory_order_acquire) < n) {
        std::this_thread::yield();
    }
    if (loop->failure) {
        std::rethrow_exception(loop->failure);
    }
}

} // namespace onemap::tileserver::analysis
