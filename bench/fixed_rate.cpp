// Open-loop HTTP load at a fixed request rate, for comparing latency below saturation (wrk is
// closed-loop: at full load its percentiles measure queueing, not service). Request i is due at
// t0 + i / RATE and goes out on connection i mod CONNECTIONS; its latency counts from when it
// was due, so a stalled server is charged for the requests it delayed (no coordinated
// omission, as in wrk2).
//
//   fixed_rate URL PATHS_FILE RATE CONNECTIONS SECONDS
//
// PATHS_FILE holds one request path per line (e.g. /locate?lon=…&lat=…), used round robin.
// Prints the rate achieved, answers by status class and latency percentiles.
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv)
{
    if (argc != 6) {
        std::fprintf(stderr, "usage: fixed_rate URL PATHS_FILE RATE CONNECTIONS SECONDS\n");
        return 2;
    }
    const std::string url = argv[1];
    std::vector<std::string> paths;
    {
        std::ifstream in(argv[2]);
        for (std::string line; std::getline(in, line);) {
            if (!line.empty()) {
                paths.push_back(line);
            }
        }
    }
    const double rate = std::atof(argv[3]);
    const int connections = std::atoi(argv[4]);
    const double seconds = std::atof(argv[5]);
    if (paths.empty() || !(rate > 0) || connections < 1 || !(seconds > 0)) {
        std::fprintf(stderr, "fixed_rate: need paths, a positive rate, connections and seconds\n");
        return 2;
    }
    using clock = std::chrono::steady_clock;
    const auto total = static_cast<long long>(rate * seconds);
    // Every connection is opened (one untimed request) before the first request is due.
    const auto start = clock::now() + std::chrono::milliseconds(1000);
    struct result {
        std::vector<double> latency_ms;
        long long ok = 0;
        long long client_error = 0;
        long long failed = 0;
    };
    std::vector<result> results(static_cast<std::size_t>(connections));
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(connections));
    for (int c = 0; c < connections; ++c) {
        threads.emplace_back([&, c] {
            httplib::Client client(url);
            client.set_tcp_nodelay(true);
            client.set_keep_alive(true);
            auto& r = results[static_cast<std::size_t>(c)];
            client.Get(paths[static_cast<std::size_t>(c) % paths.size()]);
            for (long long i = c; i < total; i += connections) {
                const auto due = start + std::chrono::nanoseconds(static_cast<long long>(1e9 * static_cast<double>(i) / rate));
                std::this_thread::sleep_until(due);
                const auto res = client.Get(paths[static_cast<std::size_t>(i) % paths.size()]);
                r.latency_ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - due).count());
                if (!res || res->status >= 500) {
                    ++r.failed;
                } else if (res->status < 400) {
                    ++r.ok;
                } else {
                    ++r.client_error;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
    std::vector<double> all;
    long long ok = 0;
    long long client_error = 0;
    long long failed = 0;
    for (const auto& r : results) {
        all.insert(all.end(), r.latency_ms.begin(), r.latency_ms.end());
        ok += r.ok;
        client_error += r.client_error;
        failed += r.failed;
    }
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) { return all[std::min(all.size() - 1, static_cast<std::size_t>(p * static_cast<double>(all.size())))]; };
    std::printf("rate %.0f/s asked, %.0f/s done; 2xx/3xx %lld, 4xx %lld, failed %lld; latency ms p50 %.2f p90 %.2f "
                "p99 %.2f p99.9 %.2f max %.2f\n",
                rate, static_cast<double>(all.size()) / elapsed, ok, client_error, failed, pct(0.5), pct(0.9),
                pct(0.99), pct(0.999), all.back());
    return failed == 0 ? 0 : 1;
}
