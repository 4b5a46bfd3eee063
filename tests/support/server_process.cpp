#include "server_process.hpp"

#include "tempdb.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <csignal>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace onemap::test {

int free_port()
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close(fd);
        throw std::runtime_error("cannot bind a loopback port");
    }
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
}

server_process::server_process(const std::string& conninfo, const std::vector<std::string>& extra_args)
{
    m_port = free_port();
    m_log = "/tmp/onemap-server-test-" + std::to_string(getpid()) + "-" + std::to_string(m_port) + ".log";
    const std::string port = std::to_string(m_port);
    m_pid = fork();
    if (m_pid == 0) {
        const int fd = ::open(m_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        const std::string exe = server_exe();
        std::vector<const char*> argv{"onemap-server", "--host", "127.0.0.1", "--port", port.c_str(), "--db",
                                      conninfo.c_str()};
        for (const auto& a : extra_args) {
            argv.push_back(a.c_str());
        }
        argv.push_back(nullptr);
        execv(exe.c_str(), const_cast<char* const*>(argv.data()));
        _exit(127);
    }
    for (int i = 0; i < 200; ++i) {
        int status = 0;
        if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
            m_pid = -1;
            break;
        }
        httplib::Client c("127.0.0.1", m_port);
        if (auto res = c.Get("/health"); res && res->status == 200) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const std::string output = log();
    if (m_pid > 0) {
        kill(m_pid, SIGKILL);
        waitpid(m_pid, nullptr, 0);
    }
    throw std::runtime_error("onemap-server did not come up on port " + port + ":\n" + output);
}

std::string server_process::log() const
{
    std::ifstream in(m_log);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
}

server_process::~server_process()
{
    if (m_pid <= 0) {
        unlink(m_log.c_str());
        return;
    }
    // Generous: a sanitizer build checks the whole heap for leaks at exit.
    constexpr auto STOP_WAIT = std::chrono::seconds(30);
    const int status = stop(SIGTERM, STOP_WAIT);
    if (status == -1) {
        ADD_FAILURE() << "onemap-server on port " << m_port << " did not exit within " << STOP_WAIT.count()
                      << " s of SIGTERM";
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        const std::string output = log();
        constexpr std::size_t TAIL = 4000;
        ADD_FAILURE() << "onemap-server on port " << m_port << " did not exit 0 on SIGTERM ("
                      << (WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                            : "signal " + std::to_string(WTERMSIG(status)))
                      << "); the end of its output:\n"
                      << output.substr(output.size() > TAIL ? output.size() - TAIL : 0);
    }
    unlink(m_log.c_str());
}

int server_process::terminate(int signal, std::chrono::milliseconds wait)
{
    const int status = stop(signal, wait);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int server_process::stop(int signal, std::chrono::milliseconds wait)
{
    if (m_pid <= 0) {
        return -1;
    }
    kill(m_pid, signal);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    int status = -1;
    bool exited = false;
    while (!exited && std::chrono::steady_clock::now() < deadline) {
        exited = waitpid(m_pid, &status, WNOHANG) == m_pid;
        if (!exited) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    if (!exited) {
        kill(m_pid, SIGKILL);
        waitpid(m_pid, nullptr, 0);
        status = -1;
    }
    m_pid = -1;
    // Whoever stops the server, a report it wrote (at exit: LeakSanitizer) fails the test.
    if (const auto report = sanitizer_report(log()); !report.empty()) {
        ADD_FAILURE() << "onemap-server on port " << m_port << " wrote a sanitizer report:\n" << report;
    }
    return status;
}

httplib::Client server_process::client() const
{
    httplib::Client c("127.0.0.1", m_port);
    c.set_read_timeout(30, 0);
    return c;
}

} // namespace onemap::test
