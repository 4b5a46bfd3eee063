// Departments' API keys (issue 15): `onemap-server keys create|list|revoke` against the test's
// own database; only a key's BLAKE2b hash is stored, a revoked key resolves to nothing.
#include "onemap/tileserver/api_keys.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <array>
#include <regex>
#include <sstream>

using namespace onemap;

namespace {

int keys(const std::string& args, std::string* output)
{
    return test::run_command(test::server_exe() + " --db '" + test::db().conninfo() + "' keys " + args, output);
}

// The keys (in full) that appear in a command's output.
std::vector<std::string> keys_in(const std::string& output)
{
    static const std::regex key_re("om_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])");
    std::vector<std::string> out;
    for (auto it = std::sregex_iterator(output.begin(), output.end(), key_re); it != std::sregex_iterator(); ++it) {
        out.push_back(it->str());
    }
    return out;
}

std::string create(const std::string& department, const std::string& note = "")
{
    std::string out;
    EXPECT_EQ(keys("create --department " + department + (note.empty() ? "" : " --note '" + note + "'"), &out), 0)
        << out;
    const auto found = keys_in(out);
    EXPECT_EQ(found.size(), 1U) << "the key is printed exactly once:\n" << out;
    return found.empty() ? std::string() : found.front();
}

std::optional<std::string> department_of(const std::string& key)
{
    auto conn = test::db().connect();
    pqxx::read_transaction txn(*conn);
    return tileserver::department_of_key(txn, key);
}

} // namespace

TEST(api_keys, create_prints_the_key_once_and_stores_only_its_blake2b_hash)
{
    const std::string key = create("water", "QGIS at the water bureau");
    ASSERT_FALSE(key.empty());
    EXPECT_EQ(department_of(key).value_or("none"), "water");

    // The hash, computed here with libsodium directly: BLAKE2b-256 of the key's text.
    ASSERT_GE(sodium_init(), 0);
    std::array<unsigned char, crypto_generichash_BYTES> expected{};
    crypto_generichash(expected.data(), expected.size(), reinterpret_cast<const unsigned char*>(key.data()),
                       key.size(), nullptr, 0);
    auto conn = test::db().connect();
    pqxx::work txn(*conn);
    const auto r = txn.exec_params("SELECT key_hash, key_shown, note, row_to_json(k)::text FROM onemap.api_key k "
                                   "WHERE department = 'water'");
    ASSERT_EQ(r.size(), 1U);
    const pqxx::binarystring stored(r[0][0]);
    EXPECT_EQ(stored.str(), std::string(reinterpret_cast<const char*>(expected.data()), expected.size()));
    EXPECT_EQ(r[0][1].as<std::string>(), key.substr(0, tileserver::KEY_SHOWN_CHARS));
    EXPECT_EQ(r[0][2].as<std::string>(), "QGIS at the water bureau");
    EXPECT_EQ(r[0][3].as<std::string>().find(key.substr(tileserver::KEY_SHOWN_CHARS)), std::string::npos)
        << "the key itself is stored: " << r[0][3].as<std::string>();
}

TEST(api_keys, keys_differ_and_list_shows_each_without_the_key)
{
    const std::string a = create("natural_resources");
    const std::string b = create("natural_resources");
    ASSERT_FALSE(a.empty());
    ASSERT_FALSE(b.empty());
    EXPECT_NE(a, b);
    std::string out;
    ASSERT_EQ(keys("list", &out), 0) << out;
    EXPECT_TRUE(keys_in(out).empty()) << "list printed a key:\n" << out;
    int listed = 0;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.value("department", "") == "natural_resources") {
            ++listed;
            const auto shown = j.at("key").get<std::string>();
            EXPECT_TRUE(shown.rfind(a.substr(0, tileserver::KEY_SHOWN_CHARS), 0) == 0 ||
                        shown.rfind(b.substr(0, tileserver::KEY_SHOWN_CHARS), 0) == 0)
                << line;
            EXPECT_TRUE(j.at("revoked_at").is_null()) << line;
        }
    }
    EXPECT_EQ(listed, 2) << out;
}

TEST(api_keys, a_revoked_key_resolves_to_nothing_and_stays_listed)
{
    const std::string key = create("grid_management");
    ASSERT_EQ(department_of(key).value_or("none"), "grid_management");
    const auto id = test::query_value<long long>("SELECT max(id) FROM onemap.api_key WHERE department = 'grid_management'");
    std::string out;
    ASSERT_EQ(keys("revoke " + std::to_string(id), &out), 0) << out;
    EXPECT_FALSE(department_of(key)) << "a revoked key still resolves";
    const auto revoked_at = test::query_value("SELECT revoked_at::text FROM onemap.api_key WHERE id = " + std::to_string(id));
    ASSERT_EQ(keys("revoke " + std::to_string(id), &out), 0) << out;
    EXPECT_EQ(test::query_value("SELECT revoked_at::text FROM onemap.api_key WHERE id = " + std::to_string(id)),
              revoked_at)
        << "revoking again moved the revocation time";
    ASSERT_EQ(keys("list", &out), 0) << out;
    EXPECT_NE(out.find("\"id\":" + std::to_string(id) + ","), std::string::npos) << out;
}

TEST(api_keys, revoking_an_unknown_id_fails_naming_it)
{
    std::string out;
    EXPECT_NE(keys("revoke 987654321", &out), 0) << out;
    EXPECT_NE(out.find("no API key has id 987654321"), std::string::npos) << out;
}

TEST(api_keys, a_department_that_is_not_an_identifier_is_refused_and_nothing_is_stored)
{
    const auto before = test::query_value<long long>("SELECT count(*) FROM onemap.api_key");
    for (const std::string bad : {"'水利局'", "Water", "'water bureau'", "1water", "''"}) {
        std::string out;
        EXPECT_NE(keys("create --department " + bad, &out), 0) << bad << ": " << out;
        EXPECT_NE(out.find("department"), std::string::npos) << out;
        EXPECT_TRUE(keys_in(out).empty()) << out;
    }
    EXPECT_EQ(test::query_value<long long>("SELECT count(*) FROM onemap.api_key"), before);
}

TEST(api_keys, malformed_and_unknown_keys_resolve_to_nothing)
{
    ASSERT_FALSE(create("planning").empty());
    EXPECT_FALSE(department_of(""));
    EXPECT_FALSE(department_of("om_"));
    EXPECT_FALSE(department_of("om_" + std::string(43, '*')));
    EXPECT_FALSE(department_of(std::string(1 << 20, 'a'))) << "a megabyte is refused before it is hashed";
    EXPECT_FALSE(department_of("om_" + std::string(43, 'A'))) << "well formed but never issued";
}
