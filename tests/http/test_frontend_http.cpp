// The HTTP front end (Boost.Beast on Asio) against real sockets: keep-alive and pipelining,
// every limit and timeout, the connection cap, thousands of idle and slow clients beside a
// normal one, HEAD, 405, CORS, malformed requests and a graceful SIGTERM. Bytes are written and
// read by hand (tests/support/raw_http) so that no client library hides what the server does.
#include "raw_http.hpp"
#include "sample_server_test.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <thread>

using namespace onemap;
using namespace std::chrono_literals;
using test::get_request;
using test::raw_answer;
using test::raw_connection;

namespace {

class frontend_http : public test::sample_server_test<frontend_http> {
protected:
    static int port() { return server().port(); }
    // /locate of a point inside a grid of the samples.
    static std::string locate_path()
    {
        const auto lon = test::query_value<double>(
            "SELECT ST_X(ST_PointOnSurface(geom)) FROM onemap_data.grid__v2 ORDER BY wgbm LIMIT 1");
        const auto lat = test::query_value<double>(
            "SELECT ST_Y(ST_PointOnSurface(geom)) FROM onemap_data.grid__v2 ORDER BY wgbm LIMIT 1");
        char q[96];
        std::snprintf(q, sizeof q, "/locate?lon=%.9f&lat=%.9f", lon, lat);
        return q;
    }
    // A second server on the same database with other front-end settings.
    static std::unique_ptr<test::server_process> server_with(std::vector<std::string> args)
    {
        args.insert(args.begin(), {"--config", test::source_dir() + "/tileserver/onemap.yaml"});
        return std::make_unique<test::server_process>(test::db().conninfo(), args);
    }
};

} // namespace

TEST_F(frontend_http, pipelined_requests_are_answered_in_order_on_one_connection)
{
    raw_connection c(port());
    // One write, four requests: one answered by a worker (a database query), then cheap ones.
    ASSERT_TRUE(c.send(get_request("/ogc/collections/grid/items?limit=1") + get_request("/health") +
                       get_request("/tiles/no_such_tileset.json") + get_request("/locate?lon=abc&lat=1")));
    const auto items = c.read_answer();
    EXPECT_EQ(items.status, 200);
    EXPECT_EQ(nlohmann::json::parse(items.body)["type"], "FeatureCollection");
    const auto health = c.read_answer();
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.body, R"({"status":"ok"})");
    const auto missing = c.read_answer();
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.header("content-type"), "application/problem+json");
    const auto bad = c.read_answer();
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(nlohmann::json::parse(bad.body)["parameter"], "lon");
    // Still open (keep-alive): another request on the same connection.
    ASSERT_TRUE(c.send(get_request("/health")));
    EXPECT_EQ(c.read_answer().status, 200);
}

TEST_F(frontend_http, head_answers_every_get_route_without_a_body)
{
    for (const std::string path : {"/health", "/tiles/basemap.json", "/wmts/1.0.0/WMTSCapabilities.xml", "/ogc/collections"}) {
        raw_connection c(port());
        // HEAD then GET on one connection: the HEAD answer must carry no body, or the GET
        // answer would not parse.
        ASSERT_TRUE(c.send("HEAD " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + get_request(path)));
        const auto head = c.read_answer(10s, true);
        const auto get = c.read_answer();
        EXPECT_EQ(head.status, 200) << path;
        EXPECT_EQ(get.status, 200) << path;
        EXPECT_EQ(head.header("content-length"), std::to_string(get.body.size())) << path;
        EXPECT_EQ(head.header("content-type"), get.header("content-type")) << path;
    }
}

TEST_F(frontend_http, other_methods_get_405_with_allow)
{
    raw_connection c(port());
    ASSERT_TRUE(c.send("POST /tiles HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
                       "DELETE /locate?lon=1&lat=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                       "GET /admin/seed HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    const auto post = c.read_answer();
    EXPECT_EQ(post.status, 405);
    EXPECT_EQ(post.header("allow"), "GET, HEAD, OPTIONS");
    EXPECT_EQ(post.header("content-type"), "application/problem+json");
    const auto del = c.read_answer();
    EXPECT_EQ(del.status, 405);
    EXPECT_EQ(del.header("allow"), "GET, HEAD, OPTIONS");
    const auto seed = c.read_answer();
    EXPECT_EQ(seed.status, 405);
    EXPECT_EQ(seed.header("allow"), "POST, OPTIONS");
}

TEST_F(frontend_http, cors_preflight_and_allow_origin_for_web_apps_on_other_origins)
{
    raw_connection c(port());
    ASSERT_TRUE(c.send("OPTIONS /tiles/basemap/10/843/414.mvt HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Origin: https://app.example.org\r\nAccess-Control-Request-Method: GET\r\n"
                       "Access-Control-Request-Headers: x-onemap-key\r\n\r\n"));
    const auto pre = c.read_answer();
    EXPECT_EQ(pre.status, 204);
    EXPECT_EQ(pre.header("access-control-allow-origin"), "*");
    EXPECT_NE(pre.header("access-control-allow-methods").find("GET"), std::string::npos);
    EXPECT_EQ(pre.header("access-control-allow-headers"), "x-onemap-key");
    EXPECT_FALSE(pre.header("access-control-max-age").empty());
    for (const std::string path : {"/tiles/basemap.json", "/styles/basemap.json", "/locate?lon=114.02&lat=32.98",
                                   "/ogc/collections", "/fonts/Noto%20Sans%20CJK%20SC%20Regular/0-255.pbf",
                                   "/no/such/thing"}) {
        ASSERT_TRUE(c.send(get_request(path, "Origin: https://app.example.org\r\n")));
        const auto a = c.read_answer();
        EXPECT_EQ(a.header("access-control-allow-origin"), "*") << path << " " << a.status;
    }
    // Configurable: a named origin instead of "*", with Vary: Origin for caches.
    auto named = server_with({"--cors-origin", "https://onemap.example.gov.cn"});
    raw_connection n(named->port());
    ASSERT_TRUE(n.send(get_request("/health", "Origin: https://onemap.example.gov.cn\r\n")));
    const auto a = n.read_answer();
    EXPECT_EQ(a.header("access-control-allow-origin"), "https://onemap.example.gov.cn");
    EXPECT_NE(a.header("vary").find("Origin"), std::string::npos);
}

TEST_F(frontend_http, malformed_requests_get_400_and_the_connection_closed)
{
    for (const std::string& bytes : {std::string("GARBAGE\r\n\r\n"), std::string("GET /health HTTP/1.1\r\nNo colon here\r\n\r\n"),
                                    std::string("GET /health HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n")}) {
        raw_connection c(port());
        ASSERT_TRUE(c.send(bytes));
        const auto a = c.read_answer();
        EXPECT_EQ(a.status, 400) << bytes;
        EXPECT_EQ(a.header("connection"), "close") << bytes;
        EXPECT_TRUE(c.closed_within(5s)) << bytes;
    }
}

TEST_F(frontend_http, oversize_url_gets_414_and_oversize_header_431)
{
    {
        raw_connection c(port());
        ASSERT_TRUE(c.send(get_request("/locate?lon=1&lat=1&pad=" + std::string(9000, 'x'))));
        const auto a = c.read_answer();
        EXPECT_EQ(a.status, 414);
        EXPECT_TRUE(c.closed_within(5s));
    }
    {
        raw_connection c(port());
        ASSERT_TRUE(c.send(get_request("/health", "X-Padding: " + std::string(20000, 'y') + "\r\n")));
        const auto a = c.read_answer();
        EXPECT_EQ(a.status, 431);
        EXPECT_TRUE(c.closed_within(5s));
    }
    {
        // Many small fields adding up past the limit are the same.
        std::string fields;
        for (int i = 0; i < 400; ++i) {
            fields += "X-Field-" + std::to_string(i) + ": " + std::string(60, 'z') + "\r\n";
        }
        raw_connection c(port());
        ASSERT_TRUE(c.send(get_request("/health", fields)));
        EXPECT_EQ(c.read_answer().status, 431);
    }
    // Just under both limits is served.
    raw_connection ok(port());
    ASSERT_TRUE(ok.send(get_request("/health?pad=" + std::string(8000, 'x'), "X-Padding: " + std::string(15000, 'y') + "\r\n")));
    EXPECT_EQ(ok.read_answer().status, 200);
}

TEST_F(frontend_http, oversize_body_gets_413)
{
    raw_connection c(port());
    ASSERT_TRUE(c.send("POST /admin/seed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                       "Content-Length: 5000000\r\n\r\n" + std::string(4096, 'a')));
    const auto a = c.read_answer();
    EXPECT_EQ(a.status, 413);
    EXPECT_NE(nlohmann::json::parse(a.body)["detail"].get<std::string>().find("body"), std::string::npos);
}

TEST_F(frontend_http, a_client_sending_its_header_byte_by_byte_is_closed_after_the_header_timeout)
{
    auto s = server_with({"--header-timeout-ms", "1500"});
    raw_connection slow(s->port());
    const std::string request = get_request("/health", "X-Slow: " + std::string(40, 's') + "\r\n");
    const auto started = std::chrono::steady_clock::now();
    std::size_t sent = 0;
    bool closed = false;
    // One byte per 500 ms (the issue's byte a second, faster): the header would take 40 s.
    while (sent < request.size() && std::chrono::steady_clock::now() - started < 10s) {
        if (!slow.send(request.substr(sent, 1))) {
            closed = true;
            break;
        }
        ++sent;
        if (slow.closed_within(500ms)) {
            closed = true;
            break;
        }
    }
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_TRUE(closed);
    EXPECT_LT(sent, request.size()); // closed before its header was complete
    EXPECT_GE(took, 1s);              // not before the timeout
    EXPECT_EQ(slow.received().find("200 OK"), std::string::npos);
    // The server kept serving others meanwhile and after.
    raw_connection other(s->port());
    ASSERT_TRUE(other.send(get_request("/health")));
    EXPECT_EQ(other.read_answer().status, 200);
}

TEST_F(frontend_http, an_idle_keep_alive_connection_is_closed_after_the_idle_timeout)
{
    auto s = server_with({"--idle-timeout-ms", "1000"});
    raw_connection c(s->port());
    ASSERT_TRUE(c.send(get_request("/health")));
    EXPECT_EQ(c.read_answer().status, 200);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.closed_within(10s));
    EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);
}

TEST_F(frontend_http, past_the_connection_cap_new_connections_get_503_and_served_ones_keep_working)
{
    auto s = server_with({"--max-connections", "8"});
    std::vector<raw_connection> served;
    for (int i = 0; i < 8; ++i) {
        served.emplace_back(s->port());
        ASSERT_TRUE(served.back().send(get_request("/health")));
        ASSERT_EQ(served.back().read_answer().status, 200);
    }
    for (int i = 0; i < 3; ++i) {
        raw_connection extra(s->port());
        extra.send(get_request("/health"));
        const auto a = extra.read_answer();
        EXPECT_EQ(a.status, 503);
        EXPECT_EQ(a.header("retry-after"), "1");
        EXPECT_EQ(a.header("connection"), "close");
        EXPECT_TRUE(extra.closed_within(5s));
    }
    for (auto& c : served) {
        ASSERT_TRUE(c.send(get_request(locate_path())));
        EXPECT_EQ(c.read_answer().status, 200);
    }
    // A closed connection frees its place.
    served.pop_back();
    std::this_thread::sleep_for(200ms);
    raw_connection again(s->port());
    ASSERT_TRUE(again.send(get_request("/health")));
    EXPECT_EQ(again.read_answer().status, 200);
}

TEST_F(frontend_http, two_thousand_idle_and_two_hundred_slow_clients_do_not_hold_up_a_normal_one)
{
    std::vector<raw_connection> idle;
    idle.reserve(2000);
    for (int i = 0; i < 2000; ++i) {
        idle.emplace_back(port());
    }
    std::vector<raw_connection> slow;
    for (int i = 0; i < 200; ++i) {
        slow.emplace_back(port());
        slow.back().send("GET /health HTTP/1.1\r\n");
    }
    // The slow ones trickle a header byte each every 200 ms while the normal client works.
    std::atomic<bool> done{false};
    std::thread trickle([&] {
        while (!done) {
            for (auto& c : slow) {
                c.send("X");
            }
            std::this_thread::sleep_for(200ms);
        }
    });
    int answered = 0;
    const std::string located = locate_path();
    raw_connection normal(port());
    for (int i = 0; i < 200; ++i) {
        const std::string path = i % 2 == 0 ? "/health" : located;
        ASSERT_TRUE(normal.send(get_request(path)));
        const auto a = normal.read_answer(5s); // the thread-per-connection stack took 12 s here
        answered += a.status == 200 ? 1 : 0;
    }
    // New connections are accepted too.
    for (int i = 0; i < 20; ++i) {
        raw_connection fresh(port());
        ASSERT_TRUE(fresh.send(get_request("/health")));
        answered += fresh.read_answer(5s).status == 200 ? 1 : 0;
    }
    done = true;
    trickle.join();
    EXPECT_EQ(answered, 220);
    // The idle ones are all still open (idle timeout 60 s) and can be used.
    ASSERT_TRUE(idle.front().send(get_request("/health")));
    EXPECT_EQ(idle.front().read_answer().status, 200);
    ASSERT_TRUE(idle.back().send(get_request("/health")));
    EXPECT_EQ(idle.back().read_answer().status, 200);
}

TEST_F(frontend_http, sigterm_finishes_the_request_in_flight_closes_idle_connections_and_exits_0)
{
    auto s = server_with({});
    raw_connection idle(s->port());
    ASSERT_TRUE(idle.send(get_request("/health")));
    ASSERT_EQ(idle.read_answer().status, 200);
    raw_connection in_flight(s->port());
    // Half a request: the server has started reading it when the signal comes.
    ASSERT_TRUE(in_flight.send("GET " + locate_path() + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
    std::this_thread::sleep_for(200ms);
    std::thread term([&s] { kill(s->pid(), SIGTERM); });
    term.join();
    EXPECT_TRUE(idle.closed_within(5s)); // idle: closed at once
    ASSERT_TRUE(in_flight.send("Accept: application/json\r\n\r\n"));
    const auto a = in_flight.read_answer();
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(nlohmann::json::parse(a.body)["levels"].size(), 4U);
    EXPECT_EQ(a.header("connection"), "close");
    EXPECT_TRUE(in_flight.closed_within(5s));
    EXPECT_EQ(s->terminate(SIGTERM, 10s), 0);
    EXPECT_NE(s->log().find("stopped"), std::string::npos) << s->log();
}

TEST_F(frontend_http, cache_hits_and_locate_are_answered_on_the_io_thread_and_misses_on_workers)
{
    auto c = server().client();
    auto on_workers = [&c] {
        const auto stats = c.Get("/stats");
        EXPECT_TRUE(stats && stats->status == 200);
        return nlohmann::json::parse(stats->body)["http"]["on_workers"].get<std::uint64_t>();
    };
    const std::string tile = "/tiles/basemap/12/3345/1648.mvt"; // Zhumadian's centre: not empty
    const auto before = on_workers();
    const auto first = c.Get(tile); // built: database and encoding on a worker
    ASSERT_TRUE(first);
    ASSERT_EQ(first->status, 200);
    ASSERT_FALSE(first->body.empty());
    const auto after_miss = on_workers();
    EXPECT_EQ(after_miss, before + 1);
    for (int i = 0; i < 5; ++i) { // hits: written from the event loop
        const auto again = c.Get(tile);
        ASSERT_TRUE(again);
        EXPECT_EQ(again->status, first->status);
        EXPECT_EQ(again->body, first->body);
    }
    const auto located = c.Get(locate_path());
    ASSERT_TRUE(located);
    EXPECT_EQ(located->status, 200);
    EXPECT_EQ(c.Get("/health")->status, 200);
    EXPECT_EQ(on_workers(), after_miss);
    // A boundary needs the database: that /locate moves to a worker.
    c.Get(locate_path() + "&boundary=true");
    EXPECT_EQ(on_workers(), after_miss + 1);
}

TEST_F(frontend_http, an_answer_larger_than_the_socket_takes_is_sent_whole_by_worker_and_loop)
{
    // A worker sends what the socket takes at once, the event loop the rest: a client with a
    // small receive window gets every byte of a multi-MB answer, then its next answer.
    const std::string path = "/ogc/collections/dltb/items?limit=10000";
    auto c = server().client();
    auto on_workers = [&c] {
        const auto stats = c.Get("/stats");
        EXPECT_TRUE(stats && stats->status == 200);
        return nlohmann::json::parse(stats->body)["http"]["on_workers"].get<std::uint64_t>();
    };
    const auto full = c.Get(path, httplib::Headers{{"Accept-Encoding", "identity"}});
    ASSERT_TRUE(full);
    ASSERT_EQ(full->status, 200);
    ASSERT_GT(full->body.size(), 1u << 20);
    const auto before = on_workers();
    raw_connection slow(port(), 4096);
    ASSERT_TRUE(slow.send(get_request(path, "Accept-Encoding: identity\r\n") + get_request("/health")));
    const raw_answer big = slow.read_answer(30s);
    EXPECT_EQ(big.status, 200);
    EXPECT_EQ(big.headers.at("content-length"), std::to_string(big.body.size()));
    // The same features to the byte (links differ: they follow the Host header).
    const auto features = [](const std::string& body) { return nlohmann::json::parse(body).at("features").dump(); };
    EXPECT_TRUE(features(big.body) == features(full->body));
    EXPECT_EQ(slow.read_answer().status, 200);
    EXPECT_EQ(on_workers(), before + 1); // the items were read and written on a worker
}

TEST_F(frontend_http, a_client_that_does_not_read_its_answer_is_closed_after_the_write_timeout)
{
    auto s = server_with({"--write-timeout-ms", "1000"});
    // Large answers (every parcel with its geometry, not gzipped), ten of them pipelined, to a
    // client with a small receive window that reads nothing: past what the socket buffers hold
    // (a few MB on loopback) the server's write cannot finish.
    const std::string path = "/ogc/collections/dltb/items?limit=10000";
    std::size_t full_size = 0;
    {
        auto c = s->client();
        const auto full = c.Get(path, httplib::Headers{{"Accept-Encoding", "identity"}});
        ASSERT_TRUE(full);
        ASSERT_EQ(full->status, 200);
        full_size = full->body.size();
        ASSERT_GT(full_size, 1u << 20);
    }
    raw_connection stalled(s->port(), 4096);
    std::string ten;
    for (int i = 0; i < 10; ++i) {
        ten += get_request(path, "Accept-Encoding: identity\r\n");
    }
    ASSERT_TRUE(stalled.send(ten));
    std::this_thread::sleep_for(3s); // past the write timeout (and the 250 ms sweep)
    // Reading now finds the end of the stream after a part of the answer: the server gave up.
    EXPECT_TRUE(stalled.closed_within(10s)); // a finished write would have left it open (idle 60 s)
    EXPECT_LT(stalled.received().size(), 10 * full_size);
    EXPECT_EQ(stalled.received().compare(0, 15, "HTTP/1.1 200 OK"), 0);
    // Others were served meanwhile and still are.
    raw_connection other(s->port());
    ASSERT_TRUE(other.send(get_request("/health")));
    EXPECT_EQ(other.read_answer().status, 200);
}
