#pragma once
// Calendar dates as the catalog stores them: ISO 8601 "YYYY-MM-DD" strings, which compare
// correctly as strings.
#include <optional>
#include <string>
#include <string_view>

namespace onemap::core {

/// The date when `text` is a valid calendar date "YYYY-MM-DD", else nothing.
std::optional<std::string> parse_iso_date(std::string_view text);

/// Today's date in the server's local time zone.
std::string today();

} // namespace onemap::core
