#include "raw_http.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace onemap::test {

raw_connection::raw_connection(int port, int receive_buffer)
{
    m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (m_fd < 0) {
        throw std::runtime_error("socket: " + std::to_string(errno));
    }
    if (receive_buffer > 0) {
        ::setsockopt(m_fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const int e = errno;
        ::close(m_fd);
        m_fd = -1;
        throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port) + " (errno " + std::to_string(e) + ")");
    }
    int one = 1;
    ::setsockopt(m_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

raw_connection::~raw_connection()
{
    if (m_fd >= 0) {
        ::close(m_fd);
    }
}

raw_connection::raw_connection(raw_connection&& other) noexcept : m_fd(other.m_fd), m_buffer(std::move(other.m_buffer))
{
    other.m_fd = -1;
}

bool raw_connection::send(const std::string& bytes)
{
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const auto n = ::send(m_fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

// Reads what is there (waiting until `deadline`); false on close, error or time-out.
bool raw_connection::fill(std::chrono::steady_clock::time_point deadline)
{
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
        return false;
    }
    pollfd p{m_fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return false;
    }
    char buf[65536];
    const auto n = ::recv(m_fd, buf, sizeof buf, 0);
    if (n <= 0) {
        return false;
    }
    m_buffer.append(buf, static_cast<std::size_t>(n));
    return true;
}

raw_answer raw_connection::read_answer(std::chrono::milliseconds timeout, bool head)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t end;
    while ((end = m_buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!fill(deadline)) {
            throw std::runtime_error("no complete answer header; received: '" + m_buffer.substr(0, 200) + "'");
        }
    }
    raw_answer a;
    const std::string head_text = m_buffer.substr(0, end);
    std::size_t line_end = head_text.find("\r\n");
    const std::string status_line = head_text.substr(0, line_end);
    if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0) {
        throw std::runtime_error("not an HTTP status line: '" + status_line + "'");
    }
    a.status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos && line_end < head_text.size()) {
        const std::size_t start = line_end + 2;
        line_end = head_text.find("\r\n", start);
        const std::string line = head_text.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
        const auto colon = line.find(':');
        if (colon == std::string::npos) {
            continue;
        }
        std::string name = line.substr(0, colon);
        for (auto& c : name) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') {
            value.erase(0, 1);
        }
        a.headers[name] = value;
    }
    m_buffer.erase(0, end + 4);
    std::size_t length = 0;
    if (!head && a.status != 204 && a.status != 304 && !a.header("content-length").empty()) {
        length = std::stoul(a.header("content-length"));
    }
    while (m_buffer.size() < length) {
        if (!fill(deadline)) {
            throw std::runtime_error("answer body cut short: " + std::to_string(m_buffer.size()) + " of " +
                                     std::to_string(length) + " bytes");
        }
    }
    a.body = m_buffer.substr(0, length);
    m_buffer.erase(0, length);
    return a;
}

bool raw_connection::closed_within(std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{m_fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0) {
            continue;
        }
        char buf[4096];
        const auto n = ::recv(m_fd, buf, sizeof buf, 0);
        if (n <= 0) {
            return true; // end of stream or reset
        }
        m_buffer.append(buf, static_cast<std::size_t>(n));
    }
    return false;
}

std::string get_request(const std::string& path, const std::string& extra_headers)
{
    return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "\r\n";
}

} // namespace onemap::test
