#pragma once
// A bare HTTP/1.1 client over one TCP connection, for tests of the front end itself: it writes
// exactly the bytes it is given (pipelined requests, slow headers, malformed lines) and parses
// answers by Content-Length, so that nothing a library does hides what the server does.
#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace onemap::test {

struct raw_answer {
    int status = 0;
    std::map<std::string, std::string> headers; ///< names lower-cased
    std::string body;
    std::string header(const std::string& lower_name) const
    {
        const auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

class raw_connection {
public:
    /// Connects to 127.0.0.1:port; `receive_buffer` > 0 sets SO_RCVBUF first (a client that
    /// reads slowly). \throws std::runtime_error when it cannot.
    explicit raw_connection(int port, int receive_buffer = 0);
    ~raw_connection();
    raw_connection(raw_connection&& other) noexcept;
    raw_connection& operator=(raw_connection&&) = delete;
    raw_connection(const raw_connection&) = delete;
    raw_connection& operator=(const raw_connection&) = delete;

    /// Writes all of `bytes`; false when the connection is gone.
    bool send(const std::string& bytes);
    /// Reads one answer (status, headers, Content-Length body; no body for HEAD or 204/304).
    /// \throws std::runtime_error when the connection closes or `timeout` passes first.
    raw_answer read_answer(std::chrono::milliseconds timeout = std::chrono::seconds(10), bool head = false);
    /// Waits until the server closes the connection (true) or `timeout` passes (false); bytes
    /// that arrive meanwhile are kept in received().
    bool closed_within(std::chrono::milliseconds timeout);
    const std::string& received() const noexcept { return m_buffer; }
    int fd() const noexcept { return m_fd; }

private:
    bool fill(std::chrono::steady_clock::time_point deadline);
    int m_fd = -1;
    std::string m_buffer;
};

/// "GET path HTTP/1.1" with a Host header and nothing else.
std::string get_request(const std::string& path, const std::string& extra_headers = {});

} // namespace onemap::test
