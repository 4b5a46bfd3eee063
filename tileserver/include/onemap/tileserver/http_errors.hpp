#pragma once
// The one place where errors become HTTP statuses: RFC 7807 problem documents naming the
// parameter at fault.
#include <exception>
#include <string>

namespace httplib {
struct Response;
}

namespace onemap::tileserver {

void send_problem(httplib::Response& res, int status, const std::string& title,
                  const std::string& detail, const std::string& parameter = {});

/// Maps the onemap error hierarchy (and anything else, as 500) onto `res`.
void send_exception(httplib::Response& res, std::exception_ptr error);

} // namespace onemap::tileserver
