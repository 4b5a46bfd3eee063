// The one parser of `datetime`/`TIME` values (core::parse_date_or_instant) and of catalog dates
// (core::parse_iso_date), against an independent reading of RFC 3339 section 5.6 written here
// with std::regex: both must accept exactly the same texts, and an accepted text yields its
// first ten characters.
#include "onemap/core/calendar.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <regex>
#include <string>

namespace {

bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool valid_date(int y, int m, int d)
{
    static constexpr int DAYS[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= DAYS[m - 1] + (m == 2 && leap(y) ? 1 : 0);
}

// full-date, or full-date "T" full-time (time-secfrac optional, time-offset Z or ±hh:mm).
std::optional<std::string> reference(const std::string& s, bool date_only)
{
    static const std::regex DATE("([0-9]{4})-([0-9]{2})-([0-9]{2})");
    static const std::regex INSTANT("([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
                                    "(\\.[0-9]+)?([Zz]|[+-]([0-9]{2}):([0-9]{2}))");
    std::smatch m;
    const bool is_date = std::regex_match(s, m, DATE);
    if (!is_date && (date_only || !std::regex_match(s, m, INSTANT))) {
        return std::nullopt;
    }
    auto n = [&m](int i) { return std::stoi(m[i].str()); };
    if (!valid_date(n(1), n(2), n(3))) {
        return std::nullopt;
    }
    if (!is_date) {
        if (n(4) > 23 || n(5) > 59 || n(6) > 60) {
            return std::nullopt;
        }
        if (m[9].matched && (n(9) > 23 || n(10) > 59)) {
            return std::nullopt;
        }
    }
    return s.substr(0, 10);
}

void compare(const char* what, const std::string& in, const std::optional<std::string>& got,
             const std::optional<std::string>& want)
{
    if (got != want) {
        std::fprintf(stderr, "fuzz finding: %s('%s') gave %s, RFC 3339 says %s\n", what, in.c_str(),
                     got ? got->c_str() : "nothing", want ? want->c_str() : "nothing");
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size > 64) {
        return -1; // dates are short; the regex reference is slow on long text
    }
    const std::string in(reinterpret_cast<const char*>(data), size);
    compare("parse_date_or_instant", in, onemap::core::parse_date_or_instant(in), reference(in, false));
    compare("parse_iso_date", in, onemap::core::parse_iso_date(in), reference(in, true));
    return 0;
}
