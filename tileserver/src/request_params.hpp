#pragma once
// Parameters every route family reads the same way; each failure is an input_error (400)
// naming the parameter.
#include "onemap/tileserver/http_message.hpp"

#include "onemap/core/tile_matrix_set.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace onemap::tileserver {

/// A non-negative integer (tile indices, glyph ranges, zooms).
std::uint64_t parse_index(const std::string& text, const char* parameter);

/// A tile of a matrix set, checked against the set's levels and each matrix's size.
struct tile_address {
    const core::tile_matrix* matrix = nullptr;
    int level = 0;
    std::uint64_t col = 0;
    std::uint64_t row = 0;
};

/// The names a route family gives the three parts of a tile address (z/x/y, or WMTS's
/// TILEMATRIX/TILECOL/TILEROW).
struct tile_address_names {
    const char* matrix;
    const char* col;
    const char* row;
};

/// The one tile-address parser: `matrix` is a matrix identifier of `tms` ("0", "1", …), `col`
/// and `row` indices inside it. \throws input_error (unknown matrix, not a number) or
/// out_of_range (outside the matrix) naming the part.
tile_address parse_tile_address(const core::tile_matrix_set& tms, const std::string& matrix, const std::string& col,
                                const std::string& row, const tile_address_names& names);

/// A required finite number in [min, max] from the query.
double parse_coordinate(const http_request& req, const char* parameter, double min, double max);

/// A boolean query parameter: "true" or "false"; false when absent. \throws input_error otherwise.
bool parse_flag(const http_request& req, const char* parameter);

/// `datetime` as a date YYYY-MM-DD (an RFC 3339 instant is cut to its date); today without it.
std::string requested_date(const http_request& req);

/// "minx,miny,maxx,maxy" into `b`: four finite numbers, nothing else, min <= max; false otherwise.
bool parse_bbox(const std::string& text, std::array<double, 4>& b);

} // namespace onemap::tileserver
