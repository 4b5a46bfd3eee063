// The HTTP stack's ceiling for the locate benchmark: a bare cpp-httplib server, configured as
// onemap-server is (TCP_NODELAY, 256 pool threads, keep-alive, listen backlog SOMAXCONN),
// answering every GET with a fixed 194-byte JSON body, or replaying recorded answers:
// REPLAY_FILE holds lines "status<TAB>content type<TAB>path<TAB>body", and each path gets its
// recorded status, type and body (one hash lookup), so the ceiling sends exactly the bytes
// onemap-server sent for that request.
//
//   http_ceiling PORT [REPLAY_FILE]
#include <httplib.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <unordered_map>

#include <sys/socket.h>

namespace {

struct recorded {
    int status = 200;
    std::string type;
    std::string body;
};

std::unordered_map<std::string, recorded> read_replay(const char* path)
{
    std::unordered_map<std::string, recorded> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        const auto a = line.find('\t');
        const auto b = a == std::string::npos ? a : line.find('\t', a + 1);
        const auto c = b == std::string::npos ? b : line.find('\t', b + 1);
        if (c == std::string::npos) {
            continue;
        }
        out[line.substr(b + 1, c - b - 1)] =
            recorded{std::atoi(line.c_str()), line.substr(a + 1, b - a - 1), line.substr(c + 1)};
    }
    return out;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2 && argc != 3) {
        std::cerr << "usage: http_ceiling PORT [REPLAY_FILE]\n";
        return 2;
    }
    static httplib::Server server;
    server.set_tcp_nodelay(true);
    server.set_keep_alive_max_count(100000);
    server.new_task_queue = [] { return new httplib::ThreadPool(256); };
    // As onemap-server does: widen Debian cpp-httplib's listen backlog of 5 after binding.
    static int listen_socket = -1;
    server.set_socket_options([](int sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        listen_socket = sock;
    });
    const std::string body =
        R"({"county":{"code":"411702","name":"驿城区"},"town":{"code":"411702001"},"village":{"code":"411702001001"},)"
        R"("grid":{"code":"411702001001001","name":"第1网格"},"pad":"0123456789012345678901"})";
    std::unordered_map<std::string, recorded> replay;
    if (argc == 3) {
        replay = read_replay(argv[2]);
        if (replay.empty()) {
            std::cerr << "http_ceiling: no recorded answers in " << argv[2] << "\n";
            return 2;
        }
    }
    server.Get(R"(/.*)", [&body, &replay](const httplib::Request& req, httplib::Response& res) {
        if (replay.empty()) {
            res.set_content(body, "application/json");
            return;
        }
        const auto it = replay.find(req.target);
        if (it == replay.end()) {
            res.status = 404;
            return;
        }
        res.status = it->second.status;
        res.set_content(it->second.body, it->second.type.c_str());
    });
    std::signal(SIGTERM, [](int) { server.stop(); });
    if (!server.bind_to_port("127.0.0.1", std::atoi(argv[1]))) {
        return 1;
    }
    ::listen(listen_socket, SOMAXCONN);
    server.listen_after_bind();
    return 0;
}
