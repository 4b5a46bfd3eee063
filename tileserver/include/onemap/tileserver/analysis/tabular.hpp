#pragma once
// Tables of the spatial analytics endpoints (land-use statistics, change matrices) written as
// CSV for scripts and as XLSX for the offices that open them in Excel or WPS. A table is plain
// data here (titles, text and numbers); what the numbers mean is the caller's business. The
// XLSX writer is libxlsxwriter, kept out of this header.
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace onemap::tileserver::analysis {

/// One cell: text, or a number written as a number (XLSX numeric cell; CSV plain decimal).
/// A number that is not finite (NaN, ±inf) is written as an empty cell.
struct cell {
    std::variant<std::string, double> value;
    int decimals = 2; ///< digits after the point for a number (CSV text, XLSX format "0.00"); 0–15

    cell() = default;
    cell(std::string text) : value(std::move(text)) {}
    cell(const char* text) : value(std::string(text)) {}
    cell(double number, int digits = 2) : value(number), decimals(digits) {}
    /// Counts (parcels, features): an integer is a number with no digits after the point.
    template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
    cell(T count, int digits = 0) : value(static_cast<double>(count)), decimals(digits)
    {
    }
};

/// One sheet of a workbook, or one CSV file. Text is UTF-8.
struct table {
    std::string name;                    ///< sheet name in XLSX (made valid and unique there)
    std::vector<std::string> header;     ///< column titles (Chinese allowed); none = no header row
    std::vector<std::vector<cell>> rows; ///< rows may be shorter or longer than the header
};

/// RFC 4180 CSV of one table: UTF-8 with a byte-order mark (so Excel reads Chinese titles),
/// CRLF after every record, a field quoted when it holds , " CR or LF (quotes doubled).
/// Numbers in fixed notation with `decimals` digits, '.' whatever the locale, never "-0.00".
std::string to_csv(const table& t);

/// An .xlsx workbook with one worksheet per table, in order: header row bold and frozen,
/// numbers as numeric cells with a "0.00"-style format, column widths from the contents.
/// Sheet names are made valid for Excel ([]:*?/\ and control characters become '_', no
/// leading or trailing apostrophe, at most 31 characters, "Sheet<n>" when empty) and unique
/// ignoring case (" (2)", " (3)" … appended). Safe to call from several threads at once.
/// Returns the file's bytes.
/// \throws onemap::error when libxlsxwriter refuses (e.g. text over 32767 characters, more
/// than 1048576 rows) or the temporary file cannot be made or read back.
std::string to_xlsx(const std::vector<table>& sheets);

} // namespace onemap::tileserver::analysis
