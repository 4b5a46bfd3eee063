#include "request_params.hpp"

#include "onemap/core/calendar.hpp"
#include "onemap/core/error.hpp"

#include <charconv>

namespace onemap::tileserver {

std::uint64_t parse_index(const std::string& text, const char* parameter)
{
    std::uint64_t v = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc() || ptr != end) {
        throw input_error(parameter, std::string(parameter) + " must be a non-negative integer, got '" + text + "'");
    }
    return v;
}

double parse_coordinate(const http_request& req, const char* parameter, double min, double max)
{
    if (!req.has_param(parameter)) {
        throw input_error(parameter, std::string(parameter) + " is required");
    }
    const std::string& text = req.get_param_value(parameter);
    double v = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc() || ptr != end || !(v >= min && v <= max)) {
        throw input_error(parameter, std::string(parameter) + " must be a number in " + std::to_string(min) + ".." +
                                         std::to_string(max) + ", got '" + text + "'");
    }
    return v;
}

std::string requested_date(const http_request& req)
{
    if (!req.has_param("datetime")) {
        return core::today();
    }
    const std::string& value = req.get_param_value("datetime");
    const auto date = core::parse_iso_date(value.substr(0, 10));
    if (!date || (value.size() > 10 && value[10] != 'T')) {
        throw input_error("datetime", "datetime must be a date YYYY-MM-DD (or an RFC 3339 instant), got '" + value + "'");
    }
    return *date;
}

} // namespace onemap::tileserver
