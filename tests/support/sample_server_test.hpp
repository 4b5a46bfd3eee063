#pragma once
// A test suite against the real server on the committed samples: data-samples/manifest.yaml
// imported into the binary's database once, and one onemap-server (with the tilesets and
// locate levels of tileserver/onemap.yaml) for the whole suite. `Suite` is the deriving fixture,
// so that each suite gets its own server.
#include "server_process.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace onemap::test {

template <typename Suite>
class sample_server_test : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        std::string out;
        ASSERT_EQ(run_import("--manifest " + data_samples() + "/manifest.yaml", &out), 0) << out;
        std::vector<std::string> args{"--config", source_dir() + "/tileserver/onemap.yaml"};
        for (auto& a : Suite::extra_server_args()) {
            args.push_back(std::move(a));
        }
        s_server = new server_process(db().conninfo(), args);
    }
    static void TearDownTestSuite()
    {
        delete s_server;
        s_server = nullptr;
    }
    static server_process& server() { return *s_server; }
    /// More command-line options for the suite's server; a suite hides this to add some.
    static std::vector<std::string> extra_server_args() { return {}; }

private:
    static inline server_process* s_server = nullptr;
};

} // namespace onemap::test
