#pragma once
// Starts the real onemap-server executable on a free loopback port against a database and
// stops it (SIGTERM, then SIGKILL) when destroyed. A server that does not exit 0 on SIGTERM, or
// that wrote a sanitizer report (ASan, LeakSanitizer at exit, UBSan), fails the running test.
#include <httplib.h>

#include <chrono>
#include <string>
#include <vector>
#include <sys/types.h>

namespace onemap::test {

class server_process {
public:
    /// \throws std::runtime_error (with the server's output) when it does not come up.
    explicit server_process(const std::string& conninfo, const std::vector<std::string>& extra_args = {});
    ~server_process();
    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;

    int port() const noexcept { return m_port; }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(m_port); }
    httplib::Client client() const;
    /// What the server has written to stdout and stderr so far.
    std::string log() const;
    pid_t pid() const noexcept { return m_pid; }
    /// Sends `signal` and waits up to `wait` for the process to exit; returns its exit status,
    /// or -1 when it had to be killed (or died of a signal).
    int terminate(int signal, std::chrono::milliseconds wait);

private:
    /// terminate(), returning the raw wait status, or -1 when it had to be killed.
    int stop(int signal, std::chrono::milliseconds wait);

    pid_t m_pid = -1;
    int m_port = 0;
    std::string m_log;
};

/// A TCP port on 127.0.0.1 nobody listens on right now.
int free_port();

} // namespace onemap::test
