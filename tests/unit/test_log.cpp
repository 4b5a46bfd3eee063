// The log: a line repeated under load (a database outage answered thousands of times a second)
// is written once a second at most, with a count of what was skipped.
#include "onemap/core/log.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

std::size_t count(const std::string& text, const std::string& what)
{
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) {
        ++n;
    }
    return n;
}

} // namespace

TEST(log, a_repeated_line_is_written_once_with_a_count_of_the_skipped)
{
    testing::internal::CaptureStderr();
    for (int i = 0; i < 10000; ++i) {
        onemap::log().error("database: cannot connect to the test server (dbname=x)");
    }
    onemap::log().info("a different line");
    onemap::log().flush();
    const std::string out = testing::internal::GetCapturedStderr();
    EXPECT_LE(count(out, "cannot connect to the test server"), 3U) << out.substr(0, 2000);
    EXPECT_GE(count(out, "cannot connect to the test server"), 1U);
    EXPECT_NE(out.find("Skipped"), std::string::npos) << out.substr(0, 2000);
    EXPECT_NE(out.find("a different line"), std::string::npos);
    EXPECT_LT(out.size(), 2000U);
}
