#pragma once
// Which department a presented API key belongs to, asked of PostgreSQL once and then kept for a
// minute, keyed by the key's hash. `keys revoke` NOTIFYs onemap_keys and every server empties
// its directory at once (server.cpp's listener); the minute bounds what a server that missed
// the notification can still accept. The directory is a cache: servers share nothing else.
#include "onemap/core/db.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace onemap::tileserver {

class key_directory {
public:
    explicit key_directory(core::connection_pool& pool, std::chrono::seconds ttl = std::chrono::seconds(60));

    /// The department of a valid key. \throws unauthorized for a malformed, unknown or revoked
    /// key; core::would_block on an event loop when the database must be asked.
    std::string department_of(std::string_view key);

    /// Forgets every key: a key was revoked, or notifications may have been missed.
    void forget_all();

    std::uint64_t lookups() const;

private:
    struct entry {
        std::string department;
        std::chrono::steady_clock::time_point expires;
    };
    core::connection_pool& m_pool;
    const std::chrono::seconds m_ttl;
    mutable std::mutex m_mutex;
    std::unordered_map<std::string, entry> m_entries; ///< by key hash
    std::uint64_t m_lookups = 0;                      ///< questions asked of the database
    std::atomic<std::uint64_t> m_generation{1};       ///< moves on forget_all
};

} // namespace onemap::tileserver
