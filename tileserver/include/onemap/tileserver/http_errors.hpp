#pragma once
// The one place where errors become HTTP statuses: RFC 7807 problem documents naming the
// parameter at fault.
#include "onemap/tileserver/http_encoding.hpp"

#include <exception>
#include <string>
#include <string_view>

namespace httplib {
struct Response;
}

namespace onemap::tileserver {

/// Appends `s` as a JSON string literal (UTF-8 passes through; quotes, backslashes and
/// control characters are escaped).
void append_json_string(std::string& out, std::string_view s);

/// Appends `v` in fixed notation with `decimals` digits (std::to_chars: no locale).
void append_fixed(std::string& out, double v, int decimals);

void send_problem(httplib::Response& res, int status, const std::string& title,
                  const std::string& detail, const std::string& parameter = {});

/// Maps the onemap error hierarchy (and anything else, as 500) onto `res`.
void send_exception(httplib::Response& res, std::exception_ptr error);

/// Wraps a route handler: what it throws is answered by `on_error` (RFC 7807 problems by
/// default; WMTS answers OWS exception reports), and every answer goes through
/// encode_response(). Every route of the server is registered through this.
template <typename Handler, typename OnError = void (*)(httplib::Response&, std::exception_ptr)>
auto guarded(Handler fn, OnError on_error = send_exception)
{
    return [fn, on_error](const httplib::Request& req, httplib::Response& res) {
        try {
            fn(req, res);
        } catch (...) {
            on_error(res, std::current_exception());
        }
        encode_response(req, res);
    };
}

} // namespace onemap::tileserver
