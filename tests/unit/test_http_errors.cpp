// JSON text the server writes by hand (locate answers, RFC 7807 problems), checked by parsing
// it back with nlohmann::json, which rejects invalid JSON and invalid UTF-8.
#include "onemap/tileserver/http_errors.hpp"

#include "onemap/core/error.hpp"

#include <pqxx/except>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using onemap::tileserver::append_fixed;
using onemap::tileserver::append_json_string;
using onemap::tileserver::send_problem;

namespace {

std::string json_text(std::string_view s)
{
    std::string out;
    append_json_string(out, s);
    return out;
}

} // namespace

TEST(JsonText, EscapesQuotesBackslashesAndControls)
{
    const std::string raw = std::string("a\"b\\c\n\t\x01 ") + '\x1f';
    EXPECT_EQ(json_text(raw), R"("a\"b\\c\u000a\u0009\u0001 \u001f")");
    EXPECT_EQ(nlohmann::json::parse(json_text(raw)).get<std::string>(), raw);
}

TEST(JsonText, PassesUtf8AndReplacesWhatIsNot)
{
    EXPECT_EQ(json_text("驿城区 第1网格 𠀀"), "\"驿城区 第1网格 𠀀\"");
    // "驿城区" in GBK, a cut sequence, an overlong '/', a UTF-16 surrogate, and above U+10FFFF.
    for (const std::string bad : {"\xe6\x9c\xaa\xd2\xd1", "\xe9\xa9", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
        const std::string text = json_text("x" + bad + "y");
        EXPECT_NE(text.find("\\ufffd"), std::string::npos) << text;
        const auto back = nlohmann::json::parse(text).get<std::string>(); // throws on invalid UTF-8
        EXPECT_EQ(back.front(), 'x');
        EXPECT_EQ(back.back(), 'y');
    }
    // "未" (3 bytes) is kept whole; the broken tail after it is replaced.
    EXPECT_EQ(nlohmann::json::parse(json_text("\xe6\x9c\xaa\xd2\xd1")).get<std::string>(), "未\uFFFD\uFFFD");
}

TEST(JsonText, FixedNotationIgnoresTheLocale)
{
    std::string out;
    append_fixed(out, 114.0223456789, 7);
    out += ' ';
    append_fixed(out, -0.5, 9);
    EXPECT_EQ(out, "114.0223457 -0.500000000");
}

TEST(JsonText, ProblemDocumentNamesTheParameter)
{
    onemap::tileserver::http_response res;
    send_problem(res, 400, "Bad Request", "lon must be a number, got '\xff\"'", "lon");
    EXPECT_EQ(res.status, 400);
    EXPECT_EQ(res.get_header_value("Content-Type"), "application/problem+json");
    const auto doc = nlohmann::json::parse(res.body);
    EXPECT_EQ(doc["status"], 400);
    EXPECT_EQ(doc["parameter"], "lon");
    EXPECT_EQ(doc["detail"], "lon must be a number, got '\uFFFD\"'");
}

// Issue 14: two error-to-status mappers disagreed (the WMTS one lacked the query-cancelled
// case). One mapping now serves RFC 7807 problems and OWS exception reports.
TEST(http_errors, one_mapping_sends_cancelled_queries_and_db_waits_to_503_with_retry_after)
{
    using namespace onemap;
    using namespace onemap::tileserver;
    const auto cancelled = classify_exception(std::make_exception_ptr(
        pqxx::sql_error("canceling statement due to statement timeout", "SELECT 1", "57014")));
    EXPECT_EQ(cancelled.status, 503);
    EXPECT_EQ(cancelled.kind, error_kind::unavailable);
    EXPECT_GT(cancelled.retry_after_s, 0);
    const auto waited = classify_exception(std::make_exception_ptr(
        timeout_error("--db-wait-ms", "no database connection within --db-wait-ms (5 ms)")));
    EXPECT_EQ(waited.status, 503);
    EXPECT_NE(waited.detail.find("--db-wait-ms"), std::string::npos);
    EXPECT_EQ(classify_exception(std::make_exception_ptr(db_error("down"))).status, 503);
    EXPECT_EQ(classify_exception(std::make_exception_ptr(out_of_range("TILEROW", "x"))).kind, error_kind::out_of_range);
    EXPECT_EQ(classify_exception(std::make_exception_ptr(not_implemented("REQUEST", "x"))).status, 501);
    EXPECT_EQ(classify_exception(std::make_exception_ptr(std::runtime_error("bug"))).status, 500);

    http_response res;
    send_exception(res, std::make_exception_ptr(pqxx::sql_error("cancelled", "SELECT 1", "57014")));
    EXPECT_EQ(res.status, 503);
    EXPECT_EQ(res.get_header_value("Retry-After"), "1");
}
