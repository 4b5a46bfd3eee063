#pragma once
// Threads that run an event loop (the HTTP front end's I/O threads) must never wait: not for a
// database connection, a query, another thread's computation of the same tile, or a render.
// Code that would wait calls may_block(); on an event-loop thread it throws would_block, and
// the front end runs the whole request again on a worker thread. A route therefore answers
// from the I/O thread exactly when it needs nothing slow (a cache hit, /locate, /health), and
// no route can stall an event loop by mistake.
namespace onemap::core {

/// Thrown by may_block() on an event-loop thread. Deliberately not a std::exception, so that
/// handlers catching std::exception to report errors let it through to the front end.
struct would_block {};

/// Marks (or unmarks) the calling thread as an event loop.
void set_event_loop_thread(bool on) noexcept;
bool on_event_loop_thread() noexcept;

/// \throws would_block when called on an event-loop thread.
inline void may_block()
{
    if (on_event_loop_thread()) {
        throw would_block{};
    }
}

} // namespace onemap::core
