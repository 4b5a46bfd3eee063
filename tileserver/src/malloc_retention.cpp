#include "onemap/tileserver/malloc_retention.hpp"

#include <algorithm>
#include <cstdlib>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace onemap::tileserver {

void bound_malloc_retention()
{
#ifdef __GLIBC__
    if (std::getenv("GLIBC_TUNABLES") != nullptr) {
        return;
    }
    if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
        mallopt(M_ARENA_MAX, static_cast<int>(std::max(1U, std::thread::hardware_concurrency())));
    }
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) {
        // glibc's initial value; setting it turns off the rise that follows each freed mapping.
        mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    }
#endif
}

heap_trimmer::heap_trimmer(std::chrono::milliseconds period)
    : m_thread([this, period] {
          std::unique_lock<std::mutex> lock(m_mutex);
          while (!m_wake.wait_for(lock, period, [this] { return m_stopping; })) {
#ifdef __GLIBC__
              malloc_trim(0);
#endif
          }
      })
{
}

heap_trimmer::~heap_trimmer()
{
    {
        const std::lock_guard<std::mutex> lock(m_mutex);
        m_stopping = true;
    }
    m_wake.notify_one();
    m_thread.join();
}

} // namespace onemap::tileserver
