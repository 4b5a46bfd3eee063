#include "tempdb.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <unistd.h>

namespace onemap::test {

namespace {

std::unique_ptr<pqxx::connection> maintenance_connection()
{
    try {
        return std::make_unique<pqxx::connection>("dbname=postgres");
    } catch (const std::exception& e) {
        throw std::runtime_error(
            std::string("onemap tests need a PostgreSQL server with PostGIS and none is reachable (") +
            e.what() +
            ").\nRun the suite with scripts/test.sh, or under `pg_virtualenv ctest`, or point "
            "PGHOST/PGPORT/PGUSER/PGPASSWORD at a server where you may create databases.");
    }
}

} // namespace

tempdb::tempdb()
{
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count() % 1000000;
    m_name = "onemap_test_" + std::to_string(getpid()) + "_" + std::to_string(stamp);
    auto conn = maintenance_connection();
    pqxx::nontransaction txn(*conn);
    txn.exec("CREATE DATABASE " + txn.quote_name(m_name));
    auto db = connect();
    pqxx::nontransaction t2(*db);
    t2.exec("CREATE EXTENSION postgis");
}

tempdb::~tempdb()
{
    if (std::getenv("ONEMAP_KEEP_TEST_DB") != nullptr) {
        std::fprintf(stderr, "ONEMAP_KEEP_TEST_DB: keeping database %s\n", m_name.c_str());
        return;
    }
    try {
        auto conn = maintenance_connection();
        pqxx::nontransaction txn(*conn);
        txn.exec("DROP DATABASE IF EXISTS " + txn.quote_name(m_name) + " WITH (FORCE)");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "could not drop test database %s: %s\n", m_name.c_str(), e.what());
    }
}

std::unique_ptr<pqxx::connection> tempdb::connect() const
{
    return std::make_unique<pqxx::connection>(conninfo());
}

namespace {
tempdb* g_db = nullptr;

class tempdb_environment : public ::testing::Environment {
public:
    void SetUp() override
    {
        try {
            g_db = new tempdb();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "\n*** %s\n\n", e.what());
            std::fflush(stderr);
            std::exit(1); // every test here needs the database: fail the binary loudly
        }
    }
    void TearDown() override
    {
        delete g_db;
        g_db = nullptr;
    }
};

const auto* const registered = ::testing::AddGlobalTestEnvironment(new tempdb_environment);
} // namespace

int run_import(const std::string& args, std::string* output)
{
    return run_command(import_exe() + " -q --db '" + db().conninfo() + "' " + args, output);
}

nlohmann::json import_summary(const std::string& output)
{
    const auto start = output.find("{\n");
    if (start == std::string::npos) {
        throw std::runtime_error("no JSON summary in:\n" + output);
    }
    return nlohmann::json::parse(output.substr(start, output.rfind('}') - start + 1));
}

tempdb& db()
{
    if (g_db == nullptr) {
        throw std::logic_error("test database not set up");
    }
    return *g_db;
}

} // namespace onemap::test
