#include "onemap/core/calendar.hpp"

#include <cctype>
#include <ctime>

namespace onemap::core {

std::optional<std::string> parse_iso_date(std::string_view text)
{
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') {
        return std::nullopt;
    }
    for (const std::size_t i : {0U, 1U, 2U, 3U, 5U, 6U, 8U, 9U}) {
        if (std::isdigit(static_cast<unsigned char>(text[i])) == 0) {
            return std::nullopt;
        }
    }
    const int year = std::stoi(std::string(text.substr(0, 4)));
    const int month = std::stoi(std::string(text.substr(5, 2)));
    const int day = std::stoi(std::string(text.substr(8, 2)));
    static constexpr int DAYS[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1 || month < 1 || month > 12 || day < 1) {
        return std::nullopt;
    }
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const int days = DAYS[month - 1] + ((month == 2 && leap) ? 1 : 0);
    if (day > days) {
        return std::nullopt;
    }
    return std::string(text);
}

namespace {

// Two digits at text[i] as a number in [0, max], else -1.
int two_digits(std::string_view text, std::size_t i, int max)
{
    if (i + 2 > text.size() || std::isdigit(static_cast<unsigned char>(text[i])) == 0 ||
        std::isdigit(static_cast<unsigned char>(text[i + 1])) == 0) {
        return -1;
    }
    const int v = (text[i] - '0') * 10 + (text[i + 1] - '0');
    return v <= max ? v : -1;
}

} // namespace

std::optional<std::string> parse_date_or_instant(std::string_view text)
{
    auto date = parse_iso_date(text.substr(0, 10));
    if (!date || text.size() == 10) {
        return date;
    }
    // RFC 3339 section 5.6: date-time = full-date "T" full-time; "T" and "Z" may be lower case.
    // time-hour 00-23, time-minute 00-59, time-second 00-60 (leap second), time-secfrac,
    // time-offset "Z" / ("+" / "-") hh ":" mm.
    if (text.size() < 20 || (text[10] != 'T' && text[10] != 't') || two_digits(text, 11, 23) < 0 ||
        text[13] != ':' || two_digits(text, 14, 59) < 0 || text[16] != ':' || two_digits(text, 17, 60) < 0) {
        return std::nullopt;
    }
    std::size_t i = 19;
    if (text[i] == '.') {
        const std::size_t digits = ++i;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
            ++i;
        }
        if (i == digits) {
            return std::nullopt;
        }
    }
    if (i + 1 == text.size() && (text[i] == 'Z' || text[i] == 'z')) {
        return date;
    }
    if (i + 6 == text.size() && (text[i] == '+' || text[i] == '-') && two_digits(text, i + 1, 23) >= 0 &&
        text[i + 3] == ':' && two_digits(text, i + 4, 59) >= 0) {
        return date;
    }
    return std::nullopt;
}

std::string today()
{
    // Request threads ask for every tile and locate; localtime_r takes glibc's time-zone lock,
    // so the answer is kept for the second it was computed in.
    struct cached {
        std::time_t second = -1;
        char date[16] = {};
    };
    thread_local cached c;
    const std::time_t now = std::time(nullptr);
    if (now != c.second) {
        std::tm local{};
        localtime_r(&now, &local);
        std::strftime(c.date, sizeof c.date, "%Y-%m-%d", &local);
        c.second = now;
    }
    return c.date;
}

} // namespace onemap::core
