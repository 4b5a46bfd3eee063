#include "onemap/core/calendar.hpp"

#include <cctype>
#include <ctime>

namespace onemap::core {

std::optional<std::string> parse_iso_date(std::string_view text)
{
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') {
        return std::nullopt;
    }
    for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
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
