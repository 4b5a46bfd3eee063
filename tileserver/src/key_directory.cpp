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
    if (!well_formed_key(key)) {
        throw unauthorized("the API key is not valid (a key is om_ and 43 letters, digits, - or _)");
    }
    const std::string hash = key_hash(key);
    const auto now = std::chrono::steady_clock::now();
    {
        const std::lock_guard<std::mutex> lock(m_mutex);
        const auto it = m_entries.find(hash);
        if (it != m_entries.end() && it->second.expires > now) {
            return it->second.department;
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
    m_entries[hash] = entry{*department, now + m_ttl};
    return *department;
}

void key_directory::forget_all()
{
    const std::lock_guard<std::mutex> lock(m_mutex);
    m_entries.clear();
}

std::uint64_t key_directory::lookups() const
{
    const std::lock_guard<std::mutex> lock(m_mutex);
    return m_lookups;
}

} // namespace onemap::tileserver
