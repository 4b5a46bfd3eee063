// The HTTP stack's ceiling for the locate benchmark: a bare cpp-httplib server, configured as
// onemap-server is (TCP_NODELAY, 256 pool threads, keep-alive, listen backlog SOMAXCONN), answering every GET with the
// same JSON body: 194 bytes, or BODY_BYTES (padded) to match another answer's size.
//
//   http_ceiling PORT [BODY_BYTES]
#include <httplib.h>

#include <csignal>
#include <cstdlib>
#include <string>

#include <sys/socket.h>

int main(int argc, char** argv)
{
    if (argc != 2 && argc != 3) {
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
    std::string body =
        R"({"county":{"code":"411702","name":"驿城区"},"town":{"code":"411702001"},"village":{"code":"411702001001"},)"
        R"("grid":{"code":"411702001001001","name":"第1网格"},"pad":"0123456789012345678901"})";
    if (argc == 3) {
        const auto bytes = static_cast<std::size_t>(std::atol(argv[2]));
        if (bytes > body.size()) {
            body.insert(body.size() - 2, bytes - body.size(), '.');
        }
    }
    server.Get(R"(/.*)", [&body](const httplib::Request&, httplib::Response& res) {
        res.set_content(body, "application/json");
    });
    std::signal(SIGTERM, [](int) { server.stop(); });
    if (!server.bind_to_port("127.0.0.1", std::atoi(argv[1]))) {
        return 1;
    }
    ::listen(listen_socket, SOMAXCONN);
    server.listen_after_bind();
    return 0;
}
