#include "request_params.hpp"

#include "onemap/core/calendar.hpp"
#include "onemap/core/error.hpp"

#include <charconv>
#include <cmath>

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

tile_address parse_tile_address(const core::tile_matrix_set& tms, const std::string& matrix, const std::string& col,
                                const std::string& row, const tile_address_names& names)
{
    tile_address t;
    for (const auto& candidate : tms.matrices()) {
        if (candidate.identifier == matrix) {
            t.matrix = &candidate;
            break;
        }
    }
    if (t.matrix == nullptr) {
        throw input_error(names.matrix, std::string(names.matrix) + "=" + matrix + " is not a level of " + tms.id() +
                                            " (" + tms.matrices().front().identifier + ".." +
                                            tms.matrices().back().identifier + ")");
    }
    t.level = t.matrix->level;
    t.col = parse_index(col, names.col);
    t.row = parse_index(row, names.row);
    if (t.col >= t.matrix->matrix_width) {
        throw out_of_range(names.col, std::string(names.col) + "=" + col + " is outside 0.." +
                                          std::to_string(t.matrix->matrix_width - 1) + " at " + names.matrix + "=" +
                                          matrix);
    }
    if (t.row >= t.matrix->matrix_height) {
        throw out_of_range(names.row, std::string(names.row) + "=" + row + " is outside 0.." +
                                          std::to_string(t.matrix->matrix_height - 1) + " at " + names.matrix + "=" +
                                          matrix);
    }
    return t;
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

bool parse_flag(const http_request& req, const char* parameter)
{
    if (!req.has_param(parameter)) {
        return false;
    }
    const std::string& value = req.get_param_value(parameter);
    if (value == "true") {
        return true;
    }
    if (value != "false") {
        throw input_error(parameter, std::string(parameter) + " must be true or false, got '" + value + "'");
    }
    return false;
}

std::string requested_date(const http_request& req)
{
    if (!req.has_param("datetime")) {
        return core::today();
    }
    const std::string& value = req.get_param_value("datetime");
    const auto date = core::parse_date_or_instant(value);
    if (!date) {
        throw input_error("datetime", "datetime must be a date YYYY-MM-DD (or an RFC 3339 instant), got '" + value + "'");
    }
    return *date;
}

bool parse_bbox(const std::string& text, std::array<double, 4>& b)
{
    const char* p = text.data();
    const char* const end = p + text.size();
    for (std::size_t i = 0; i < 4; ++i) {
        const auto r = std::from_chars(p, end, b[i]);
        if (r.ec != std::errc() || !std::isfinite(b[i])) {
            return false;
        }
        p = r.ptr;
        if (i < 3) {
            if (p == end || *p != ',') {
                return false;
            }
            ++p;
        }
    }
    return p == end && b[0] <= b[2] && b[1] <= b[3];
}

} // namespace onemap::tileserver
