// The router without a network: matching by segments with typed parameters, registration
// order, HEAD, 405 with Allow, OPTIONS preflight, CORS, errors through the route's mapper,
// and routes moving to a worker when they would block.
#include "onemap/core/error.hpp"
#include "onemap/core/event_loop.hpp"
#include "onemap/tileserver/router.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace onemap::tileserver;

namespace {

http_request request(http_method method, const std::string& target)
{
    http_request req;
    req.method = method;
    req.set_target(target);
    return req;
}

router sample_router()
{
    router r;
    r.get("/health", [](const http_request&, http_response& res) { res.set_content("ok", "text/plain"); });
    r.get("/tiles/{tileset}/{z:uint}/{x:uint}/{y:uint}@2x.png", [](const http_request& req, http_response& res) {
        res.set_content("2x " + req.path_param(0) + " " + req.path_param(1) + "/" + req.path_param(2) + "/" +
                            req.path_param(3),
                        "text/plain");
    });
    r.get("/tiles/{tileset}/{z:uint}/{x:uint}/{y:uint}.png", [](const http_request& req, http_response& res) {
        res.set_content("1x " + req.path_param(0) + " " + req.path_param(3), "text/plain");
    });
    r.get("/fonts/{stack}/{start:uint}-{end:uint}.pbf", [](const http_request& req, http_response& res) {
        res.set_content(req.path_param(0) + "|" + req.path_param(1) + "|" + req.path_param(2), "text/plain");
    });
    r.get("/wmts/1.0.0/{layer}/{col}.{format:png|mvt}", [](const http_request& req, http_response& res) {
        res.set_content(req.path_param(0) + "," + req.path_param(1) + "," + req.path_param(2), "text/plain");
    });
    r.get("/wmts/*", [](const http_request& req, http_response&) { throw onemap::not_found("nothing at " + req.path); });
    r.post("/admin/seed", [](const http_request& req, http_response& res) {
        res.set_content(req.get_param_value("tileset"), "text/plain");
    });
    r.get("/db", [](const http_request&, http_response& res) {
        onemap::core::may_block();
        res.set_content("from the database", "text/plain");
    });
    return r;
}

struct answer {
    dispatch_result result;
    http_response res;
};

answer dispatch(const router& r, http_request req, bool on_worker = true)
{
    answer a{dispatch_result::done, {}};
    a.result = r.dispatch(req, a.res, on_worker);
    return a;
}

} // namespace

TEST(router, typed_parameters_captures_and_registration_order)
{
    const router r = sample_router();
    EXPECT_EQ(dispatch(r, request(http_method::get, "/tiles/basemap/12/3393/1658@2x.png")).res.body, "2x basemap 12/3393/1658");
    EXPECT_EQ(dispatch(r, request(http_method::get, "/tiles/basemap/12/3393/1658.png")).res.body, "1x basemap 1658");
    EXPECT_EQ(dispatch(r, request(http_method::get, "/fonts/Noto%20Sans/256-511.pbf")).res.body, "Noto Sans|256|511");
    EXPECT_EQ(dispatch(r, request(http_method::get, "/wmts/1.0.0/dltb/7.mvt")).res.body, "dltb,7,mvt");
    // A word outside a choice does not match: the catch-all answers.
    EXPECT_EQ(dispatch(r, request(http_method::get, "/wmts/1.0.0/dltb/7.jpg")).res.status, 404);
}

TEST(router, a_typed_parameter_that_is_not_a_number_is_400_naming_it)
{
    const router r = sample_router();
    const auto a = dispatch(r, request(http_method::get, "/tiles/basemap/12/abc/1658.png"));
    EXPECT_EQ(a.res.status, 400);
    const auto doc = nlohmann::json::parse(a.res.body);
    EXPECT_EQ(doc["parameter"], "x");
    EXPECT_NE(doc["detail"].get<std::string>().find("'abc'"), std::string::npos);
}

TEST(router, unknown_paths_are_404_and_other_methods_405_with_allow)
{
    const router r = sample_router();
    const auto missing = dispatch(r, request(http_method::get, "/nothing/here"));
    EXPECT_EQ(missing.res.status, 404);
    EXPECT_EQ(missing.res.get_header_value("Content-Type"), "application/problem+json");
    const auto del = dispatch(r, request(http_method::del, "/health"));
    EXPECT_EQ(del.res.status, 405);
    EXPECT_EQ(del.res.get_header_value("Allow"), "GET, HEAD, OPTIONS");
    const auto get_seed = dispatch(r, request(http_method::get, "/admin/seed"));
    EXPECT_EQ(get_seed.res.status, 405);
    EXPECT_EQ(get_seed.res.get_header_value("Allow"), "POST, OPTIONS");
}

TEST(router, head_runs_the_get_route_and_options_answers_the_preflight)
{
    const router r = sample_router();
    const auto head = dispatch(r, request(http_method::head, "/health"));
    EXPECT_EQ(head.res.status, 200);
    EXPECT_EQ(head.res.body, "ok"); // the front end sends the length and drops the body
    auto pre = request(http_method::options, "/tiles/basemap/1/1/1.png");
    pre.headers.emplace_back("Access-Control-Request-Headers", "X-Onemap-Key");
    const auto a = dispatch(r, pre);
    EXPECT_EQ(a.res.status, 204);
    EXPECT_EQ(a.res.get_header_value("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(a.res.get_header_value("Access-Control-Allow-Methods"), "GET, HEAD, OPTIONS");
    EXPECT_EQ(a.res.get_header_value("Access-Control-Allow-Headers"), "X-Onemap-Key");
    EXPECT_EQ(dispatch(r, request(http_method::get, "/health")).res.get_header_value("Access-Control-Allow-Origin"), "*");
}

TEST(router, a_route_that_would_block_on_the_event_loop_moves_to_a_worker)
{
    const router r = sample_router();
    onemap::core::set_event_loop_thread(true);
    http_request req = request(http_method::get, "/db");
    http_response res;
    EXPECT_EQ(r.dispatch(req, res, false), dispatch_result::needs_worker);
    EXPECT_TRUE(res.body.empty());
    // Cheap routes are answered right there.
    http_request health = request(http_method::get, "/health");
    EXPECT_EQ(r.dispatch(health, res, false), dispatch_result::done);
    EXPECT_EQ(res.body, "ok");
    onemap::core::set_event_loop_thread(false);
    http_response on_worker;
    EXPECT_EQ(r.dispatch(req, on_worker, true), dispatch_result::done);
    EXPECT_EQ(on_worker.body, "from the database");
}

TEST(router, query_and_form_parameters_are_decoded)
{
    const router r = sample_router();
    auto req = request(http_method::post, "/admin/seed?x=1");
    req.add_params("tileset=%E5%9F%BA+map&bbox=1,2");
    EXPECT_EQ(dispatch(r, req).res.body, "基 map");
    const auto q = request(http_method::get, "/locate?lon=114.1&lat=32.9&name=a%26b+c");
    EXPECT_EQ(q.path, "/locate");
    EXPECT_EQ(q.get_param_value("name"), "a&b c");
    EXPECT_EQ(q.get_param_value("lon"), "114.1");
    EXPECT_FALSE(q.has_param("missing"));
}
