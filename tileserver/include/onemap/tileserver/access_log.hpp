#pragma once
// The access log: one JSON line per answered request (time, request id, the key's department,
// route, layer, status, bytes, duration) — the audit trail a government service keeps. Lines
// are queued by the request threads and written by one thread of its own, so a slow disk never
// holds a request; past 65,536 queued lines new ones are dropped and counted, and the count is
// written as soon as the queue drains.
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace onemap::tileserver {

class access_log {
public:
    /// `path`: a file appended to, or "-" for standard output.
    /// \throws config_error when the file cannot be opened.
    explicit access_log(const std::string& path);
    ~access_log();
    access_log(const access_log&) = delete;
    access_log& operator=(const access_log&) = delete;
    access_log(access_log&&) = delete;
    access_log& operator=(access_log&&) = delete;

    /// Queues one line (without its newline).
    void write(std::string line);

private:
    void run();

    std::FILE* m_out = nullptr;
    bool m_owned = false;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<std::string> m_queue;
    std::uint64_t m_dropped = 0;
    bool m_stopping = false;
    std::thread m_writer;
};

} // namespace onemap::tileserver
