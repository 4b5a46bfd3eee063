#pragma once
// The HTTP/1.1 front end: Boost.Beast on Boost.Asio, one event loop per I/O thread, a worker
// pool for everything that may wait. No Beast or Asio type appears outside http_frontend.cpp.
//
// Per connection: non-blocking keep-alive; pipelined requests parsed from the same buffer
// and answered in order; limits on URL (414), header (431) and body (413) size; a timeout for
// a request's header (slow clients are closed), for its body, for an idle keep-alive
// connection and for writing an answer. Past `max_connections` a new connection gets a
// `503` and is closed, so those already served never stall. stop(): stop accepting, finish
// what is in flight, close idle connections, return from run().
#include "onemap/tileserver/router.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace onemap::tileserver {

struct frontend_config {
    std::string host = "127.0.0.1";
    int port = 8080;                   ///< 0 = any free port
    std::size_t io_threads = 0;        ///< event loops; 0 = one per core
    std::size_t worker_threads = 0;    ///< database queries, tile building, rendering; 0 = one per core
    std::size_t max_connections = 10000;
    std::size_t max_url_bytes = 8 << 10;
    std::size_t max_header_bytes = 16 << 10; ///< header fields, without the request line
    std::size_t max_body_bytes = 1 << 20;
    std::chrono::milliseconds header_timeout{10000}; ///< from a request's first byte to its header's end
    std::chrono::milliseconds body_timeout{30000};
    std::chrono::milliseconds idle_timeout{60000};   ///< keep-alive wait for the next request
    std::chrono::milliseconds write_timeout{30000};
    std::chrono::milliseconds shutdown_grace{15000}; ///< in-flight work gets this long after stop()
    bool handle_signals = false; ///< SIGTERM/SIGINT call stop(); SIGHUP the reload handler
};

struct frontend_stats {
    std::uint64_t accepted = 0;
    std::uint64_t rejected = 0;  ///< over max_connections: answered 503
    std::uint64_t requests = 0;
    std::uint64_t on_workers = 0; ///< requests that ran on the worker pool
    std::size_t open = 0;         ///< connections open now
};

class http_frontend {
public:
    /// `routes` must outlive the front end.
    http_frontend(frontend_config config, const router& routes);
    ~http_frontend();
    http_frontend(const http_frontend&) = delete;
    http_frontend& operator=(const http_frontend&) = delete;

    /// Binds and listens (backlog SOMAXCONN); returns the port. \throws config_error.
    int bind();
    /// Runs the event loops on this thread and io_threads − 1 more until stop() has drained.
    void run();
    /// Thread-safe; returns at once.
    void stop();
    frontend_stats stats() const;

    /// Runs `task` on the worker pool, behind the requests already waiting there. For
    /// background work (seed jobs): a task should take well under a second and post its
    /// continuation, so that requests are served in between. What it throws is logged.
    /// Thread-safe; a task posted after run() has returned is dropped unrun.
    void post(std::function<void()> task);
    /// `on_stop` runs once, when stop() is first called (or a signal calls it), before
    /// in-flight work is waited for: it must only ask background work to end, never wait.
    /// \pre called before run().
    void set_stop_handler(std::function<void()> on_stop);
    /// `on_reload` runs on a worker for each SIGHUP (with handle_signals). \pre before run().
    void set_reload_handler(std::function<void()> on_reload);

    struct impl; // public only so that the connection class in the .cpp can name it

private:
    std::unique_ptr<impl> m_impl;
};

} // namespace onemap::tileserver
