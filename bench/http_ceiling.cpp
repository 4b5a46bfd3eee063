// The HTTP stack's ceiling for the locate benchmark: onemap's own front end and router
// (onemap::tileserver::http_frontend, the same Beast/Asio code onemap-server runs, with its
// default limits, timeouts, CORS and content-coding policy) with one catch-all GET route whose
// handler does nothing but answer, on the I/O thread: a fixed 194-byte JSON body, or, given
// REPLAY_FILE, the recorded answer for the request's target. REPLAY_FILE holds lines
// "status<TAB>content type<TAB>path<TAB>body" (bench/record_answers.py), path being the request
// target with its query; each target gets its recorded status, type and body (one hash lookup),
// so the ceiling sends the very body onemap-server sent for that request. Unknown targets: 404.
//
//   [IO_THREADS=N] http_ceiling PORT [REPLAY_FILE]
//
// IO_THREADS: event loops, as onemap-server's --io-threads (unset or 0: one per core).
// SIGTERM/SIGINT stop it.
#include "onemap/core/log.hpp"
#include "onemap/tileserver/http_frontend.hpp"
#include "onemap/tileserver/router.hpp"

#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>
#include <unordered_map>

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
        std::cerr << "usage: [IO_THREADS=N] http_ceiling PORT [REPLAY_FILE]\n";
        return 2;
    }
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
    onemap::tileserver::router routes;
    routes.get("/*", [&body, &replay](const onemap::tileserver::http_request& req,
                                      onemap::tileserver::http_response& res) {
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
        res.set_content(it->second.body, it->second.type);
    });
    onemap::tileserver::frontend_config config;
    config.host = "127.0.0.1";
    config.port = std::atoi(argv[1]);
    if (const char* n = std::getenv("IO_THREADS"); n != nullptr && *n != '\0') {
        config.io_threads = static_cast<std::size_t>(std::strtoul(n, nullptr, 10));
    }
    config.handle_signals = true;
    onemap::set_log_level("warn"); // as onemap-server runs in the benchmarks
    try {
        onemap::tileserver::http_frontend frontend(config, routes);
        frontend.bind();
        frontend.run();
    } catch (const std::exception& e) {
        std::cerr << "http_ceiling: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
