#pragma once
// The one place where errors become HTTP statuses: RFC 7807 problem documents naming the
// parameter at fault.
#include "onemap/tileserver/http_message.hpp"

#include <exception>
#include <string>
#include <string_view>

namespace onemap::tileserver {

/// Appends `s` as a JSON string literal (UTF-8 passes through; quotes, backslashes and
/// control characters are escaped).
void append_json_string(std::string& out, std::string_view s);

/// Appends `v` in fixed notation with `decimals` digits (std::to_chars: no locale).
void append_fixed(std::string& out, double v, int decimals);

void send_problem(http_response& res, int status, const std::string& title,
                  const std::string& detail, const std::string& parameter = {});

/// Maps the onemap error hierarchy (and anything else, as 500) onto `res`.
void send_exception(http_response& res, std::exception_ptr error);

} // namespace onemap::tileserver
