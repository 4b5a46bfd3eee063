#include "onemap/tileserver/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace onemap::tileserver {

namespace {

/// Past this many callers, the buckets that are full again (callers gone quiet) are dropped:
/// a full bucket and no bucket mean the same.
constexpr std::size_t PRUNE_AT = 65536;

} // namespace

int rate_limiter::take(const std::string& who, const rate_limit& limit, clock::time_point now)
{
    if (!limit.enabled()) {
        return 0;
    }
    const double burst = std::max(1.0, limit.burst);
    const std::lock_guard<std::mutex> lock(m_mutex);
    if (m_buckets.size() >= m_prune_at) {
        for (auto it = m_buckets.begin(); it != m_buckets.end();) {
            const double refill = std::chrono::duration<double>(now - it->second.updated).count() * limit.per_second;
            it = it->second.tokens + refill >= burst ? m_buckets.erase(it) : std::next(it);
        }
        // Many callers all busy: the next sweep waits until there are twice as many, so a
        // crowd costs one sweep per doubling, not one per request.
        m_prune_at = std::max(PRUNE_AT, 2 * m_buckets.size());
    }
    auto [it, fresh] = m_buckets.try_emplace(who, bucket{burst, now});
    bucket& b = it->second;
    if (!fresh) {
        b.tokens = std::min(burst, b.tokens + std::chrono::duration<double>(now - b.updated).count() * limit.per_second);
        b.updated = now;
    }
    if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
    }
    return std::max(1, static_cast<int>(std::ceil((1 - b.tokens) / limit.per_second)));
}

std::size_t rate_limiter::tracked() const
{
    const std::lock_guard<std::mutex> lock(m_mutex);
    return m_buckets.size();
}

} // namespace onemap::tileserver
