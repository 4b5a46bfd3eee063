#include "onemap/core/event_loop.hpp"

namespace onemap::core {

namespace {
thread_local bool t_event_loop = false;
} // namespace

void set_event_loop_thread(bool on) noexcept
{
    t_event_loop = on;
}

bool on_event_loop_thread() noexcept
{
    return t_event_loop;
}

} // namespace onemap::core
