#include "onemap/tileserver/key_directory.hpp"

#include "onemap/core/error.hpp"
#include "onemap/tileserver/api_keys.hpp"

namespace onemap::tileserver {

namespace {

/// More keys than any city has; past it the directory starts again (a flood of made-up keys
/// cannot grow it without bound: unknown keys are never kept).
constexpr std::size_t MAX_KEYS = 4096;

} // namespace

key_directory::key_directory(core::connection_pool& pool, std::chrono::seconds ttl) : m_pool(pool), m_ttl(ttl) {}

std::string key_directory::department_of(std::string_view key)
{
    // Each thread remembers the last key it was shown (a client's connection sends the same key
    // request after request): no hash, no lock. forget_all() moves the generation, which
    // voids every thread's memo at once.
    struct memo {
        const key_directory* owner = nullptr;
        std::uint64_t generation = 0;
        std::string key;
        std::string department;
        std::chrono::steady_clock::time_point expires;
    };
    thread_local memo last;
    const auto now = std::chrono::steady_clock::now();
    const std::uint64_t generation = m_generation.load(std::memory_order_acquire);
    if (last.owner == this && last.generation == generation && now < last.expires && last.key == key) {
        return last.department;
    }
    if (!well_formed_key(key)) {
        throw unauthorized("the API key is not valid (a key is om_ and 43 letters, digits, - or _)");
    }
    const std::string hash = key_hash(key);
    auto remember = [&](const entry& e) {
        last = memo{this, generation, std::string(key), e.department, e.expires};
        return e.department;
    };
    {
        const std::lock_guard<std::mutex> lock(m_mutex);
        const auto it = m_entries.find(hash);
        if (it != m_entries.end() && it->second.expires > now) {
            return remember(it->second);
        }
    }
    auto conn = m_pool.acquire(); // would_block on an event loop: asked again on a worker
    pqxx::read_transaction txn(*conn);
    const auto department = department_of_key(txn, key);
    txn.commit();
    const std::lock_guard<std::mutex> lock(m_mutex);
    ++m_lookups;
    if (!department) {
        throw unauthorized("the API key is not valid (unknown or revoked)");
    }
    if (m_entries.size() >= MAX_KEYS) {
        m_entries.clear();
    }
    // Looked up under the generation read above: a revocation since then voids this answer
    // in every memo, and the map entry goes with forget_all().
    const entry found{*department, now + m_ttl};
    if (m_generation.load(std::memory_order_acquire) == generation) {
        m_entries[hash] = found;
    }
    return remember(found);
}

void key_directory::forget_all()
{
    const std::lock_guard<std::mutex> lock(m_mutex);
    m_entries.clear();
    m_generation.fetch_add(1, std::memory_order_acq_rel);
}

std::uint64_t key_directory::lookups() const
{
    const std::lock_guard<std::mutex> lock(m_mutex);
    return m_lookups;
}

} // namespace onemap::tileserver
