#pragma once
// Calendar dates as the catalog stores them: ISO 8601 "YYYY-MM-DD" strings, which compare
// correctly as strings.
#include <optional>
#include <string>
#include <string_view>

namespace onemap::core {

/// The date when `text` is a valid calendar date "YYYY-MM-DD", else nothing.
std::optional<std::string> parse_iso_date(std::string_view text);

/// The date of `text` when it is a calendar date "YYYY-MM-DD" or a whole RFC 3339 instant
/// "YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)" (every field in range; the date as written counts),
/// else nothing. The one parser of `datetime`/`TIME` values from requests.
std::optional<std::string> parse_date_or_instant(std::string_view text);

/// Today's date in the server's local time zone.
std::string today();

} // namespace onemap::core
