// The basemap style (styles/basemap.json) served with its source pointing at this server, and
// checked against what the server really has: every source-layer is a layer of the basemap
// tileset and every property a style expression reads is a field of that layer.
#include "raw_http.hpp"
#include "server_process.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

using namespace onemap;
using nlohmann::json;

namespace {

class styles_http : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        std::string out;
        ASSERT_EQ(test::run_import("--manifest " + test::data_samples() + "/manifest.yaml", &out), 0) << out;
        s_server = new test::server_process(test::db().conninfo(), {"--config", test::source_dir() + "/tileserver/onemap.yaml",
                                                                    "--styles", test::source_dir() + "/styles"});
    }
    static void TearDownTestSuite()
    {
        delete s_server;
        s_server = nullptr;
    }
    static test::server_process* s_server;
};

test::server_process* styles_http::s_server = nullptr;

// Property names an expression or a legacy filter reads.
void fields_read(const json& e, std::set<std::string>& out)
{
    if (!e.is_array() || e.empty()) {
        return;
    }
    if (e[0].is_string()) {
        const std::string op = e[0];
        if (op == "get" && e.size() == 2 && e[1].is_string()) {
            out.insert(e[1]);
            return;
        }
        // Legacy filters: ["==", "field", value], ["in", "field", v1, v2 …], ["has", "field"].
        if ((op == "==" || op == "!=" || op == "in" || op == "!in" || op == "has" || op == "<" || op == ">") &&
            e.size() >= 2 && e[1].is_string()) {
            out.insert(e[1]);
        }
    }
    for (const auto& x : e) {
        fields_read(x, out);
    }
}

} // namespace

TEST_F(styles_http, basemap_style_points_at_this_server_and_uses_only_real_layers_and_fields)
{
    auto c = s_server->client();
    auto res = c.Get("/styles/basemap.json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const auto style = json::parse(res->body);
    EXPECT_EQ(style["version"], 8);
    EXPECT_EQ(style["sources"]["onemap"]["url"], s_server->base_url() + "/tiles/basemap.json");
    EXPECT_EQ(res->body.find("{server}"), std::string::npos);

    const auto tilejson = json::parse(c.Get("/tiles/basemap.json")->body);
    std::map<std::string, std::set<std::string>> fields;
    for (const auto& vl : tilejson["vector_layers"]) {
        auto& f = fields[vl["id"]];
        for (auto it = vl["fields"].begin(); it != vl["fields"].end(); ++it) {
            f.insert(it.key());
        }
    }
    int checked = 0;
    for (const auto& layer : style["layers"]) {
        if (!layer.contains("source-layer")) {
            continue;
        }
        const std::string sl = layer["source-layer"];
        ASSERT_EQ(fields.count(sl), 1U) << layer["id"] << ": source-layer " << sl << " is not in the basemap";
        std::set<std::string> used;
        for (const char* part : {"paint", "layout"}) {
            if (layer.contains(part)) {
                for (const auto& [k, v] : layer[part].items()) {
                    fields_read(v, used);
                }
            }
        }
        if (layer.contains("filter")) {
            fields_read(layer["filter"], used);
        }
        for (const auto& f : used) {
            EXPECT_EQ(fields[sl].count(f), 1U) << layer["id"] << " reads '" << f << "', not a field of " << sl;
        }
        ++checked;
    }
    EXPECT_GE(checked, 15);
}

TEST_F(styles_http, unknown_or_unsafe_style_names_are_404)
{
    auto c = s_server->client();
    EXPECT_EQ(c.Get("/styles/nothing.json")->status, 404);
    EXPECT_EQ(c.Get("/styles/..%2Fonemap.json")->status, 404);
    EXPECT_EQ(c.Get("/styles/../tileserver/onemap.json")->status, 404);
}

// The style's "glyphs" URL serves every fontstack its symbol layers name: MapLibre fetches
// {fontstack}/{range}.pbf for the characters of each label.
TEST_F(styles_http, every_text_font_of_the_style_is_served_as_glyph_ranges)
{
    const auto style = json::parse(s_server->client().Get("/styles/basemap.json")->body);
    const std::string glyphs = style["glyphs"];
    const std::string prefix = s_server->base_url();
    ASSERT_EQ(glyphs.rfind(prefix, 0), 0u) << glyphs;
    std::set<std::string> stacks;
    for (const auto& l : style["layers"]) {
        if (l.contains("layout") && l["layout"].contains("text-font")) {
            std::string stack;
            for (const auto& f : l["layout"]["text-font"]) {
                stack += (stack.empty() ? "" : ",") + f.get<std::string>();
            }
            stacks.insert(stack);
        }
    }
    ASSERT_FALSE(stacks.empty());
    for (const auto& stack : stacks) {
        // 驻 (U+9A7B, the first character of 驻马店) lies in 39424-39679; digits in 0-255.
        for (const char* range : {"0-255", "39424-39679"}) {
            std::string path = glyphs.substr(prefix.size());
            std::string encoded; // what MapLibre does: encodeURIComponent
            for (char c : stack) {
                encoded += c == ' ' ? std::string("%20") : c == ',' ? std::string("%2C") : std::string(1, c);
            }
            path.replace(path.find("{fontstack}"), 11, encoded);
            path.replace(path.find("{range}"), 7, range);
            const auto res = s_server->client().Get(path);
            ASSERT_TRUE(res);
            EXPECT_EQ(res->status, 200) << path << ": " << res->body;
            EXPECT_EQ(res->get_header_value("Content-Type"), "application/x-protobuf");
            // A glyphs message: field 1 (stacks), length-delimited, holding the stack name.
            ASSERT_GT(res->body.size(), 1000u) << path;
            EXPECT_EQ(res->body[0], '\x0a');
            EXPECT_NE(res->body.find(stack), std::string::npos);
        }
    }
    const auto unknown = s_server->client().Get("/fonts/No%20Such%20Font/0-255.pbf");
    EXPECT_EQ(unknown->status, 404);
    EXPECT_NE(unknown->body.find("No Such Font"), std::string::npos) << unknown->body;
    const auto bad = s_server->client().Get("/fonts/Noto%20Sans%20CJK%20SC%20Regular/1-256.pbf");
    EXPECT_EQ(bad->status, 400);
    EXPECT_NE(bad->body.find("range"), std::string::npos) << bad->body;
}

// Issue 14: the Host header was pasted unescaped into the style JSON ({server}), which is sent
// with Cache-Control: public: a crafted Host broke the document and could poison a shared cache.
TEST_F(styles_http, a_crafted_host_header_never_reaches_the_style_json)
{
    const std::string own = "http://127.0.0.1:" + std::to_string(s_server->port());
    for (const std::string& host : {std::string("evil\"},\"x\":{\"a"), std::string("a b"), std::string("x.example/<script>"),
                                   std::string("host:99999x")}) {
        test::raw_connection c(s_server->port());
        ASSERT_TRUE(c.send("GET /styles/basemap.json HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n"));
        const auto a = c.read_answer();
        ASSERT_EQ(a.status, 200) << host;
        EXPECT_EQ(a.body.find("evil"), std::string::npos) << host;
        EXPECT_EQ(a.body.find("script"), std::string::npos) << host;
        const auto style = nlohmann::json::parse(a.body); // throws (fails) if the document broke
        bool seen = false;
        for (const auto& [name, source] : style["sources"].items()) {
            const std::string url = source.contains("url") ? source["url"].get<std::string>()
                                                           : source.value("tiles", nlohmann::json::array()).at(0).get<std::string>();
            EXPECT_EQ(url.rfind(own, 0), 0u) << host << " -> " << url;
            seen = true;
        }
        EXPECT_TRUE(seen);
    }
    // A well-formed Host (a name and a port) is still used as given.
    test::raw_connection c(s_server->port());
    ASSERT_TRUE(c.send("GET /styles/basemap.json HTTP/1.1\r\nHost: map.example.gov.cn:8080\r\nConnection: close\r\n\r\n"));
    EXPECT_NE(c.read_answer().body.find("http://map.example.gov.cn:8080/"), std::string::npos);
}
