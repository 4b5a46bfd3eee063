#pragma once
// A throwaway PostGIS database per test binary, after osm2pgsql's tempdb_t: a uniquely named
// database with PostGIS, dropped afterwards unless ONEMAP_KEEP_TEST_DB is set. No reachable
// server is a loud failure with a hint, never a skip.
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <memory>
#include <string>

namespace onemap::test {

class tempdb {
public:
    tempdb();
    ~tempdb();
    tempdb(const tempdb&) = delete;
    tempdb& operator=(const tempdb&) = delete;

    const std::string& name() const noexcept { return m_name; }
    /// libpq connection string for the database (PG* environment for host, port, user).
    std::string conninfo() const { return "dbname=" + m_name; }
    std::unique_ptr<pqxx::connection> connect() const;

private:
    std::string m_name;
};

/// The test binary's database (created by a gtest Environment on first use).
tempdb& db();

/// Runs a command line, returns its exit status; stdout+stderr go to `output`. A sanitizer
/// report in the command's output is a test failure whatever the status (some tests expect
/// the command to fail).
int run_command(const std::string& command, std::string* output = nullptr);

/// The AddressSanitizer, LeakSanitizer or UBSan report in a child's output, or "" when none.
std::string sanitizer_report(const std::string& output);

/// Runs `onemap-import -q` against the test database with `args`; returns its exit status.
int run_import(const std::string& args, std::string* output = nullptr);

/// The JSON summary onemap-import printed in `output` (after any log lines).
nlohmann::json import_summary(const std::string& output);

/// The first column of the first row `sql` returns in the test database.
template <typename T = std::string>
T query_value(const std::string& sql)
{
    auto conn = db().connect();
    pqxx::work txn(*conn);
    return txn.exec(sql)[0][0].as<T>();
}

/// Paths known at configure time.
std::string source_dir();
std::string data_samples();
std::string import_exe();
std::string server_exe();

} // namespace onemap::test
