// CSV and XLSX writers for the analytics tables (tabular.hpp). CSV is built in memory. XLSX
// goes through libxlsxwriter, which can only write to a named file: each call writes its own
// mkstemp file in $TMPDIR and reads the bytes back. Sheet names are made valid here rather
// than left to libxlsxwriter, which refuses bad ones.
#include "onemap/tileserver/analysis/tabular.hpp"

#include "onemap/core/error.hpp"

#include <xlsxwriter.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <unistd.h>

namespace onemap::tileserver::analysis {

namespace {

constexpr int MAX_DECIMALS = 15;
constexpr std::size_t SHEET_NAME_MAX = 31; // Excel's limit, in UTF-16 code units
constexpr double MIN_COLUMN_WIDTH = 8;     // Excel's default is 8.43 characters
constexpr double MAX_COLUMN_WIDTH = 60;

int clamped(int decimals) { return std::clamp(decimals, 0, MAX_DECIMALS); }

/// `number` in fixed notation with `decimals` digits after '.', never "-0.00"; "" when the
/// number is not finite. std::to_chars, unlike printf, ignores the locale.
std::string format_number(double number, int decimals)
{
    if (!std::isfinite(number)) {
        return {};
    }
    std::array<char, 400> buf{}; // DBL_MAX has 309 digits before the point, plus 15 after
    const auto result = std::to_chars(buf.data(), buf.data() + buf.size(), number, std::chars_format::fixed,
                                      clamped(decimals));
    std::string text(buf.data(), result.ptr);
    if (text.front() == '-' && text.find_first_not_of("-0.") == std::string::npos) {
        text.erase(0, 1);
    }
    return text;
}

// ---- CSV ----

void append_field(std::string& out, const std::string& text, bool only_field)
{
    // A record of one empty field would be a blank line, which readers skip: quote it.
    if (text.find_first_of(",\"\r\n") == std::string::npos && !(only_field && text.empty())) {
        out += text;
        return;
    }
    out += '"';
    for (const char c : text) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    out += '"';
}

const std::string& text_of(const std::string& title) { return title; }

std::string text_of(const cell& c)
{
    if (const auto* text = std::get_if<std::string>(&c.value)) {
        return *text;
    }
    return format_number(std::get<double>(c.value), c.decimals);
}

template <typename Field>
void append_record(std::string& out, const std::vector<Field>& fields)
{
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i > 0) {
            out += ',';
        }
        append_field(out, text_of(fields[i]), fields.size() == 1);
    }
    out += "\r\n";
}

// ---- UTF-8, for sheet names and column widths ----

constexpr char32_t MALFORMED = 0xFFFFFFFF;

struct code_point {
    char32_t value;
    std::size_t bytes;
};

/// The code point starting at `s[i]`; a malformed sequence is MALFORMED and one byte long.
code_point decode(std::string_view s, std::size_t i)
{
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) {
        return {lead, 1};
    }
    const std::size_t n = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
    if (n == 0 || i + n > s.size()) {
        return {MALFORMED, 1};
    }
    char32_t value = lead & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) {
        const auto next = static_cast<unsigned char>(s[i + k]);
        if ((next & 0xC0) != 0x80) {
            return {MALFORMED, 1};
        }
        value = (value << 6) | (next & 0x3F);
    }
    constexpr std::array<char32_t, 5> SHORTEST{0, 0, 0x80, 0x800, 0x10000};
    if (value < SHORTEST[n] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
        return {MALFORMED, 1};
    }
    return {value, n};
}

/// East Asian wide characters (CJK, Hangul, full-width forms) take two columns in Excel.
bool wide(char32_t c)
{
    return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF && c != 0x303F) ||
           (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) ||
           (c >= 0xFF00 && c <= 0xFF60) || (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x20000 && c <= 0x3FFFD);
}

std::size_t display_width(std::string_view text)
{
    std::size_t width = 0;
    for (std::size_t i = 0; i < text.size();) {
        const auto cp = decode(text, i);
        width += wide(cp.value) ? 2 : 1;
        i += cp.bytes;
    }
    return width;
}

// ---- sheet names ----

/// `wanted` made valid for Excel in at most `max_units` UTF-16 units: []:*?/\, control and
/// malformed characters become '_', as does an apostrophe at either end; "" is "Sheet<n>".
std::string valid_sheet_name(const std::string& wanted, std::size_t index, std::size_t max_units)
{
    std::string name;
    std::size_t units = 0;
    for (std::size_t i = 0; i < wanted.size();) {
        const auto cp = decode(wanted, i);
        const std::size_t width = cp.value >= 0x10000 && cp.value != MALFORMED ? 2 : 1;
        if (units + width > max_units) {
            break;
        }
        const bool refused =
            cp.value == MALFORMED || cp.value < 0x20 || cp.value == 0xFFFE || cp.value == 0xFFFF ||
            (cp.value < 0x80 && std::string_view("[]:*?/\\").find(static_cast<char>(cp.value)) != std::string_view::npos);
        if (refused) {
            name += '_';
        } else {
            name.append(wanted, i, cp.bytes);
        }
        units += width;
        i += cp.bytes;
    }
    if (name.empty()) {
        return "Sheet" + std::to_string(index + 1);
    }
    if (name.front() == '\'') {
        name.front() = '_';
    }
    if (name.back() == '\'') {
        name.back() = '_';
    }
    return name;
}

/// Excel compares sheet names ignoring case (libxlsxwriter folds ASCII only, and so do we).
std::string folded(std::string name)
{
    std::transform(name.begin(), name.end(), name.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
    return name;
}

std::vector<std::string> sheet_names(const std::vector<table>& sheets)
{
    std::set<std::string> taken{"history"}; // Excel reserves "History" for change tracking
    std::vector<std::string> names;
    for (std::size_t i = 0; i < sheets.size(); ++i) {
        std::string name = valid_sheet_name(sheets[i].name, i, SHEET_NAME_MAX);
        for (int n = 2; !taken.insert(folded(name)).second; ++n) {
            const std::string suffix = " (" + std::to_string(n) + ")";
            name = valid_sheet_name(sheets[i].name, i, SHEET_NAME_MAX - suffix.size()) + suffix;
        }
        names.push_back(std::move(name));
    }
    return names;
}

// ---- XLSX ----

[[noreturn]] void refuse(lxw_error status, const std::string& what)
{
    throw error("XLSX " + what + ": " + lxw_strerror(status));
}

void check(lxw_error status, const std::string& what)
{
    if (status != LXW_NO_ERROR) {
        refuse(status, what);
    }
}

/// A format of `workbook`'s; libxlsxwriter returns null only when out of memory.
lxw_format* new_format(lxw_workbook* workbook)
{
    lxw_format* format = workbook_add_format(workbook);
    if (format == nullptr) {
        refuse(LXW_ERROR_MEMORY_MALLOC_FAILED, "format");
    }
    return format;
}

struct workbook_deleter {
    void operator()(lxw_workbook* workbook) const noexcept { lxw_workbook_free(workbook); }
};
using workbook_ptr = std::unique_ptr<lxw_workbook, workbook_deleter>;

/// The formats of one workbook: bold titles, and "0", "0.0", "0.00" … made on first use.
class sheet_formats {
public:
    explicit sheet_formats(lxw_workbook* workbook) : m_workbook(workbook)
    {
        m_title = new_format(workbook);
        format_set_bold(m_title);
    }
    lxw_format* title() const noexcept { return m_title; }
    lxw_format* number(int decimals)
    {
        const int d = clamped(decimals);
        auto*& format = m_numbers.at(static_cast<std::size_t>(d));
        if (format == nullptr) {
            format = new_format(m_workbook);
            const std::string pattern = d == 0 ? "0" : "0." + std::string(static_cast<std::size_t>(d), '0');
            format_set_num_format(format, pattern.c_str());
        }
        return format;
    }

private:
    lxw_workbook* m_workbook;
    lxw_format* m_title = nullptr;
    std::array<lxw_format*, MAX_DECIMALS + 1> m_numbers{};
};

/// `index` as libxlsxwriter's row or column type, refused past Excel's sheet size (a cast
/// would wrap and overwrite earlier cells).
template <typename T>
T sheet_index(std::size_t index, std::size_t limit, const std::string& sheet)
{
    if (index >= limit) {
        refuse(LXW_ERROR_WORKSHEET_INDEX_OUT_OF_RANGE, "sheet \"" + sheet + "\"");
    }
    return static_cast<T>(index);
}

void write_sheet(lxw_workbook* workbook, sheet_formats& formats, const table& t, const std::string& name)
{
    check(workbook_validate_sheet_name(workbook, name.c_str()), "sheet name \"" + name + "\"");
    lxw_worksheet* sheet = workbook_add_worksheet(workbook, name.c_str());
    if (sheet == nullptr) {
        refuse(LXW_ERROR_MEMORY_MALLOC_FAILED, "sheet \"" + name + "\"");
    }
    std::vector<std::size_t> widths;
    const auto measure = [&widths](std::size_t col, std::size_t width) {
        widths.resize(std::max(widths.size(), col + 1));
        widths[col] = std::max(widths[col], width);
    };
    const auto col_at = [&name](std::size_t col) { return sheet_index<lxw_col_t>(col, LXW_COL_MAX, name); };

    for (std::size_t col = 0; col < t.header.size(); ++col) {
        check(worksheet_write_string(sheet, 0, col_at(col), t.header[col].c_str(), formats.title()),
              "sheet \"" + name + "\" header");
        measure(col, display_width(t.header[col]));
    }
    const std::size_t first_row = t.header.empty() ? 0 : 1;
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
        const auto row = sheet_index<lxw_row_t>(first_row + r, LXW_ROW_MAX, name);
        for (std::size_t col = 0; col < t.rows[r].size(); ++col) {
            const cell& c = t.rows[r][col];
            lxw_error status = LXW_NO_ERROR;
            if (const auto* text = std::get_if<std::string>(&c.value)) {
                status = worksheet_write_string(sheet, row, col_at(col), text->c_str(), nullptr);
                measure(col, display_width(*text));
            } else if (const std::string shown = format_number(std::get<double>(c.value), c.decimals);
                       !shown.empty()) {
                // A negative that rounds to zero is written as 0: Excel would show it as "-0.00".
                const double number = std::get<double>(c.value);
                const bool negative_zero = std::signbit(number) && shown.find_first_not_of("0.") == std::string::npos;
                status = worksheet_write_number(sheet, row, col_at(col), negative_zero ? 0.0 : number,
                                                formats.number(c.decimals));
                measure(col, shown.size());
            }
            check(status, "sheet \"" + name + "\" row " + std::to_string(r + 1));
        }
    }
    for (std::size_t col = 0; col < widths.size(); ++col) {
        const double width = std::clamp(static_cast<double>(widths[col]) + 2, MIN_COLUMN_WIDTH, MAX_COLUMN_WIDTH);
        check(worksheet_set_column(sheet, col_at(col), col_at(col), width, nullptr), "sheet \"" + name + "\"");
    }
    if (!t.header.empty()) {
        worksheet_freeze_panes(sheet, 1, 0);
    }
}

/// A file of this call's own in $TMPDIR (else /tmp), removed whatever happens.
class temp_file {
public:
    temp_file()
    {
        const char* tmpdir = std::getenv("TMPDIR");
        m_dir = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
        std::string path = m_dir + "/onemap-xlsx-XXXXXX";
        const int fd = ::mkstemp(path.data());
        if (fd < 0) {
            throw error("XLSX: cannot create a temporary file in " + m_dir + ": " +
                        std::system_category().message(errno));
        }
        ::close(fd);
        m_path = std::move(path);
    }
    ~temp_file() { ::unlink(m_path.c_str()); }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;

    const std::string& dir() const noexcept { return m_dir; }
    const std::string& path() const noexcept { return m_path; }

    std::string read() const
    {
        std::ifstream in(m_path, std::ios::binary);
        std::ostringstream bytes;
        bytes << in.rdbuf();
        if (!in || !bytes) {
            throw error("XLSX: cannot read back " + m_path);
        }
        return std::move(bytes).str();
    }

private:
    std::string m_dir;
    std::string m_path;
};

/// libxlsxwriter 1.1.4 assembles the file with gmtime() (docProps/core.xml) and tmpfileplus'
/// unguarded static seed: neither is safe in two threads at once, so closes take turns.
std::mutex close_mutex;

} // namespace

std::string to_csv(const table& t)
{
    std::string out = "\xEF\xBB\xBF";
    if (!t.header.empty()) {
        append_record(out, t.header);
    }
    for (const auto& row : t.rows) {
        append_record(out, row);
    }
    return out;
}

std::string to_xlsx(const std::vector<table>& sheets)
{
    temp_file file;
    std::string scratch = file.dir(); // libxlsxwriter's own temporary files (it copies the string)
    lxw_workbook_options options{};
    options.constant_memory = LXW_FALSE;
    options.tmpdir = scratch.data();
    options.use_zip64 = LXW_FALSE;
    workbook_ptr workbook(workbook_new_opt(file.path().c_str(), &options));
    if (!workbook) {
        refuse(LXW_ERROR_MEMORY_MALLOC_FAILED, "workbook");
    }
    sheet_formats formats(workbook.get());
    const auto names = sheet_names(sheets);
    for (std::size_t i = 0; i < sheets.size(); ++i) {
        write_sheet(workbook.get(), formats, sheets[i], names[i]);
    }
    lxw_error status = LXW_NO_ERROR;
    {
        const std::lock_guard<std::mutex> lock(close_mutex);
        status = workbook_close(workbook.release()); // frees the workbook, written or not
    }
    check(status, "file");
    return file.read();
}

} // namespace onemap::tileserver::analysis
