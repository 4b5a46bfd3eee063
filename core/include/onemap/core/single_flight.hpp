#pragma once
// One computation per key however many threads ask for it at once: the first caller computes,
// the others wait for its result or its exception — for at most a configured time, after which
// they get a timeout_error (503 with Retry-After at the HTTP layer) instead of waiting forever.
// The tile cache, the metatile renderer and the glyph ranges all share this one implementation.
#include "onemap/core/error.hpp"
#include "onemap/core/event_loop.hpp"

#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace onemap::core {

template <typename Value>
class single_flight {
public:
    /// `wait_limit` 0 = no limit. `limit_name` names the option that sets it, for the error.
    explicit single_flight(std::chrono::milliseconds wait_limit = std::chrono::milliseconds(0),
                           std::string limit_name = {})
        : m_wait_limit(wait_limit), m_limit_name(std::move(limit_name))
    {
    }

    /// The value of `compute()`, run by this thread unless another is computing `key`, in which
    /// case that one's value (or exception). `*led` tells which happened. \throws timeout_error
    /// when the other computation outlasts the wait limit; would_block on an event-loop thread.
    template <typename Compute>
    Value run(const std::string& key, Compute&& compute, bool* led = nullptr)
    {
        may_block(); // computing or waiting: either way not on an event loop
        std::shared_ptr<flight> f;
        bool leader = false;
        {
            const std::lock_guard<std::mutex> lock(m_mutex);
            auto [it, inserted] = m_flights.try_emplace(key, nullptr);
            if (inserted) {
                it->second = std::make_shared<flight>();
            }
            leader = inserted;
            f = it->second;
        }
        if (led != nullptr) {
            *led = leader;
        }
        if (!leader) {
            return wait(*f);
        }
        try {
            Value v = compute();
            finish(key, *f, v, nullptr);
            return v;
        } catch (...) {
            finish(key, *f, Value{}, std::current_exception());
            throw;
        }
    }

    void set_wait_limit(std::chrono::milliseconds limit) noexcept { m_wait_limit = limit; }

private:
    struct flight {
        std::mutex mutex;
        std::condition_variable done;
        bool finished = false;
        Value value{};
        std::exception_ptr error;
    };

    Value wait(flight& f) const
    {
        std::unique_lock<std::mutex> lock(f.mutex);
        const auto finished = [&f] { return f.finished; };
        if (m_wait_limit.count() <= 0) {
            f.done.wait(lock, finished);
        } else if (!f.done.wait_for(lock, m_wait_limit, finished)) {
            throw timeout_error(m_limit_name, "waited " + std::to_string(m_wait_limit.count()) +
                                                  " ms for another request computing the same result (" +
                                                  m_limit_name + "); try again");
        }
        if (f.error) {
            std::rethrow_exception(f.error);
        }
        return f.value;
    }

    void finish(const std::string& key, flight& f, const Value& value, const std::exception_ptr& error)
    {
        {
            const std::lock_guard<std::mutex> lock(m_mutex);
            m_flights.erase(key);
        }
        {
            const std::lock_guard<std::mutex> lock(f.mutex);
            f.finished = true;
            f.value = value;
            f.error = error;
        }
        f.done.notify_all();
    }

    std::chrono::milliseconds m_wait_limit;
    std::string m_limit_name;
    std::mutex m_mutex; // guards m_flights
    std::unordered_map<std::string, std::shared_ptr<flight>> m_flights;
};

} // namespace onemap::core
