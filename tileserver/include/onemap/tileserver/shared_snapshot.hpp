#pragma once
// An immutable value swapped rarely (the catalog, the locate indexes) and read on every
// request. Readers keep a per-thread copy and only take the lock when the generation moved, so
// hundreds of request threads do not queue on std::atomic_load's global lock.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace onemap::tileserver {

// Generations are unique across every snapshot object, so a thread's copy can never be taken
// for another object's that later lives at the same address.
inline std::uint64_t next_snapshot_generation()
{
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

template <typename T>
class shared_snapshot {
public:
    explicit shared_snapshot(std::shared_ptr<const T> initial = nullptr)
        : m_value(std::move(initial)), m_generation(next_snapshot_generation())
    {
    }

    void store(std::shared_ptr<const T> value)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_value = std::move(value);
        m_generation.store(next_snapshot_generation(), std::memory_order_release);
    }

    std::shared_ptr<const T> load() const
    {
        struct slot {
            const void* owner = nullptr;
            std::uint64_t generation = 0;
            std::shared_ptr<const void> value;
        };
        thread_local std::array<slot, 8> slots;
        const std::uint64_t generation = m_generation.load(std::memory_order_acquire);
        slot* mine = nullptr;
        for (auto& s : slots) {
            if (s.owner == this) {
                mine = &s;
                break;
            }
            if (mine == nullptr && s.owner == nullptr) {
                mine = &s;
            }
        }
        if (mine == nullptr) { // more snapshots than slots: no per-thread copy
            std::lock_guard<std::mutex> lock(m_mutex);
            return m_value;
        }
        if (mine->owner != this || mine->generation != generation) {
            std::lock_guard<std::mutex> lock(m_mutex);
            mine->owner = this;
            mine->value = m_value;
            mine->generation = m_generation.load(std::memory_order_relaxed);
        }
        return std::static_pointer_cast<const T>(mine->value);
    }

private:
    mutable std::mutex m_mutex;
    std::shared_ptr<const T> m_value;
    std::atomic<std::uint64_t> m_generation;
};

} // namespace onemap::tileserver
