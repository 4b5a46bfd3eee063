#pragma once
// Parameters every route family reads the same way; each failure is an input_error (400)
// naming the parameter.
#include "onemap/tileserver/http_message.hpp"

#include <cstdint>
#include <string>

namespace onemap::tileserver {

/// A non-negative integer (tile indices, glyph ranges, zooms).
std::uint64_t parse_index(const std::string& text, const char* parameter);

/// A required finite number in [min, max] from the query.
double parse_coordinate(const http_request& req, const char* parameter, double min, double max);

/// `datetime` as a date YYYY-MM-DD (an RFC 3339 instant is cut to its date); today without it.
std::string requested_date(const http_request& req);

} // namespace onemap::tileserver
