#pragma once
// Per-caller request rates (issue 15): a token bucket per API key, and per client address for
// callers without a key. Each server counts on its own (like nginx's limit_req), so behind N
// servers a caller may make N times the rate; the buckets are a cache in that sense too.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace onemap::tileserver {

struct rate_limit {
    double per_second = 0; ///< 0 = no limit
    double burst = 0;      ///< requests allowed at once after a quiet spell (≥ 1)
    bool enabled() const noexcept { return per_second > 0; }
};

class rate_limiter {
public:
    using clock = std::chrono::steady_clock;

    /// Takes one request from `who`'s bucket: 0 when allowed, else the whole seconds until
    /// the next request would be (for Retry-After, at least 1).
    int take(const std::string& who, const rate_limit& limit, clock::time_point now = clock::now());

    std::size_t tracked() const;

private:
    struct bucket {
        double tokens = 0;
        clock::time_point updated;
    };
    mutable std::mutex m_mutex;
    std::unordered_map<std::string, bucket> m_buckets;
    std::size_t m_prune_at = 65536; ///< sweep the full buckets out past this many callers
};

} // namespace onemap::tileserver
