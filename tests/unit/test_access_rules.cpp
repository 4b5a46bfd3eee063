// Layer rights from the config (issue 15): who sees what, and a file that cannot be used
// refused with its path, line and key.
#include "onemap/core/error.hpp"
#include "onemap/tileserver/access.hpp"

#include <gtest/gtest.h>

#include <fstream>

using namespace onemap;
using namespace onemap::tileserver;

namespace {

// A file of the running test's own: ctest runs the cases of this binary in parallel.
std::string write(const std::string& name, const std::string& text)
{
    std::string path =
        ::testing::TempDir() + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" + name;
    std::ofstream(path) << text;
    return path;
}

// The config_error message for `text`, or "" when it is accepted.
std::string refusal(const std::string& text)
{
    try {
        access_rules::read(write("onemap-rules.yaml", text));
    } catch (const config_error& e) {
        return e.what();
    }
    return "";
}

const char* DEPARTMENTS = "departments:\n  - id: natural_resources\n    name: 自然资源和规划局\n  - id: water\n";

} // namespace

TEST(access_rules, who_sees_what)
{
    const auto rules = access_rules::read(write("onemap-rules.yaml", std::string(DEPARTMENTS) + R"(
access:
  default: public
  layers:
    basic_farmland: {departments: [natural_resources]}
    grid: internal
    river: public
)"));
    const caller nobody;
    const caller nr{"natural_resources"};
    const caller water{"water"};
    const caller other{"planning"}; // a key of a department the file does not list
    EXPECT_TRUE(rules.restricts());
    EXPECT_TRUE(rules.visible("dltb", nobody)); // the default
    EXPECT_TRUE(rules.visible("river", nobody));
    EXPECT_FALSE(rules.visible("grid", nobody));
    EXPECT_TRUE(rules.visible("grid", other));
    EXPECT_FALSE(rules.visible("basic_farmland", nobody));
    EXPECT_FALSE(rules.visible("basic_farmland", water));
    EXPECT_FALSE(rules.visible("basic_farmland", other));
    EXPECT_TRUE(rules.visible("basic_farmland", nr));
    EXPECT_THROW(rules.require("basic_farmland", nobody), unauthorized);
    try {
        rules.require("basic_farmland", water);
        FAIL() << "water may not see basic_farmland";
    } catch (const unauthorized&) {
        FAIL() << "a key without the right is 403, not 401";
    } catch (const forbidden& e) {
        EXPECT_NE(std::string(e.what()).find("basic_farmland"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("water"), std::string::npos);
    }
    EXPECT_NO_THROW(rules.require("basic_farmland", nr));
}

TEST(access_rules, an_internal_default_restricts_every_unlisted_layer)
{
    const auto rules = access_rules::read(write("onemap-rules.yaml", "access:\n  default: internal\n"));
    EXPECT_TRUE(rules.restricts());
    EXPECT_FALSE(rules.visible("anything", caller{}));
    EXPECT_TRUE(rules.visible("anything", caller{"water"}));
}

TEST(access_rules, no_rights_configured_restricts_nothing)
{
    const auto rules = access_rules::read(write("onemap-rules.yaml", "tilesets: []\n"));
    EXPECT_FALSE(rules.restricts());
    EXPECT_TRUE(rules.visible("basic_farmland", caller{}));
    EXPECT_FALSE(rules.per_key().enabled());
}

TEST(access_rules, rate_limits_are_read)
{
    const auto rules = access_rules::read(write(
        "onemap-rules.yaml", "rate_limits:\n  per_key: {per_second: 50, burst: 100}\n  per_address: {per_second: 5}\n"));
    EXPECT_EQ(rules.per_key().per_second, 50);
    EXPECT_EQ(rules.per_key().burst, 100);
    EXPECT_EQ(rules.per_address().per_second, 5);
    EXPECT_EQ(rules.per_address().burst, 5) << "burst defaults to a second's worth";
}

TEST(access_rules, a_file_that_cannot_be_used_is_refused_with_its_line_and_key)
{
    const std::string d = DEPARTMENTS; // 4 lines
    EXPECT_NE(refusal(d + "access:\n  layers:\n    grid: {departments: [watre]}\n")
                  .find(":7: access.layers.grid.departments: unknown department 'watre'"),
              std::string::npos)
        << refusal(d + "access:\n  layers:\n    grid: {departments: [watre]}\n");
    EXPECT_NE(refusal(d + "access:\n  layers:\n    grid: secret\n").find(":7: access.layers.grid: 'secret' is not a right"),
              std::string::npos);
    EXPECT_NE(refusal(d + "access:\n  defualt: internal\n").find(":6: access.defualt: unknown key"), std::string::npos);
    EXPECT_NE(refusal(d + "access:\n  default: {departments: [water]}\n").find(":6: access.default"), std::string::npos);
    EXPECT_NE(refusal(d + "access:\n  layers:\n    grid: internal\n    grid: public\n").find("grid"), std::string::npos);
    EXPECT_NE(refusal("departments:\n  - id: Water\n").find(":2: departments[0].id"), std::string::npos);
    EXPECT_NE(refusal("departments:\n  - id: water\n  - id: water\n").find(":3: departments[1].id: department 'water' is listed twice"),
              std::string::npos);
    EXPECT_NE(refusal("rate_limits:\n  per_key: {per_second: -1}\n").find(":2: rate_limits.per_key.per_second"),
              std::string::npos);
    EXPECT_NE(refusal("rate_limits:\n  per_ip: {per_second: 1}\n").find(":2: rate_limits.per_ip: unknown key"),
              std::string::npos);
}
