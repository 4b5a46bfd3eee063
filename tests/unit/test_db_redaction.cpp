// Issue 14: the whole connection string, password included, went into db_error messages that
// the server logs.
#include "onemap/core/db.hpp"
#include "onemap/core/error.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

std::string failure_of(const std::string& conninfo)
{
    try {
        onemap::core::connect(conninfo);
    } catch (const onemap::db_error& e) {
        return e.what();
    }
    ADD_FAILURE() << "connected to " << conninfo;
    return {};
}

} // namespace

TEST(db_redaction, a_connection_failure_never_names_the_password)
{
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    for (const std::string& conninfo :
         {std::string("host=127.0.0.1 port=1 dbname=onemap user=map password=s3cr3t-kv connect_timeout=2"),
          std::string("host=127.0.0.1 port=1 password = 's3cr3t-kv quoted \\' x' dbname=onemap"),
          std::string("postgresql://map:s3cr3t-kv@127.0.0.1:1/onemap?connect_timeout=2"),
          std::string("postgresql://127.0.0.1:1/onemap?user=map&password=s3cr3t-kv")}) {
        const std::string message = failure_of(conninfo);
        EXPECT_EQ(message.find("s3cr3t"), std::string::npos) << message;
        EXPECT_NE(message.find("127.0.0.1"), std::string::npos) << message; // the target is still named
        EXPECT_NE(message.find("***"), std::string::npos) << message;
    }
}
