#include "value.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace onemap::render::detail {

namespace {

struct named_color {
    const char* name;
    std::uint32_t rgb;
};

// CSS Color Module Level 4 named colors, sorted by name for binary search.
// clang-format off
constexpr std::array<named_color, 148> NAMED_COLORS{{
    {"aliceblue", 0xF0F8FF}, {"antiquewhite", 0xFAEBD7}, {"aqua", 0x00FFFF}, {"aquamarine", 0x7FFFD4},
    {"azure", 0xF0FFFF}, {"beige", 0xF5F5DC}, {"bisque", 0xFFE4C4}, {"black", 0x000000},
    {"blanchedalmond", 0xFFEBCD}, {"blue", 0x0000FF}, {"blueviolet", 0x8A2BE2}, {"brown", 0xA52A2A},
    {"burlywood", 0xDEB887}, {"cadetblue", 0x5F9EA0}, {"chartreuse", 0x7FFF00}, {"chocolate", 0xD2691E},
    {"coral", 0xFF7F50}, {"cornflowerblue", 0x6495ED}, {"cornsilk", 0xFFF8DC}, {"crimson", 0xDC143C},
    {"cyan", 0x00FFFF}, {"darkblue", 0x00008B}, {"darkcyan", 0x008B8B}, {"darkgoldenrod", 0xB8860B},
    {"darkgray", 0xA9A9A9}, {"darkgreen", 0x006400}, {"darkgrey", 0xA9A9A9}, {"darkkhaki", 0xBDB76B},
    {"darkmagenta", 0x8B008B}, {"darkolivegreen", 0x556B2F}, {"darkorange", 0xFF8C00},
    {"darkorchid", 0x9932CC}, {"darkred", 0x8B0000}, {"darksalmon", 0xE9967A}, {"darkseagreen", 0x8FBC8F},
    {"darkslateblue", 0x483D8B}, {"darkslategray", 0x2F4F4F}, {"darkslategrey", 0x2F4F4F},
    {"darkturquoise", 0x00CED1}, {"darkviolet", 0x9400D3}, {"deeppink", 0xFF1493}, {"deepskyblue", 0x00BFFF},
    {"dimgray", 0x696969}, {"dimgrey", 0x696969}, {"dodgerblue", 0x1E90FF}, {"firebrick", 0xB22222},
    {"floralwhite", 0xFFFAF0}, {"forestgreen", 0x228B22}, {"fuchsia", 0xFF00FF}, {"gainsboro", 0xDCDCDC},
    {"ghostwhite", 0xF8F8FF}, {"gold", 0xFFD700}, {"goldenrod", 0xDAA520}, {"gray", 0x808080},
    {"green", 0x008000}, {"greenyellow", 0xADFF2F}, {"grey", 0x808080}, {"honeydew", 0xF0FFF0},
    {"hotpink", 0xFF69B4}, {"indianred", 0xCD5C5C}, {"indigo", 0x4B0082}, {"ivory", 0xFFFFF0},
    {"khaki", 0xF0E68C}, {"lavender", 0xE6E6FA}, {"lavenderblush", 0xFFF0F5}, {"lawngreen", 0x7CFC00},
    {"lemonchiffon", 0xFFFACD}, {"lightblue", 0xADD8E6}, {"lightcoral", 0xF08080}, {"lightcyan", 0xE0FFFF},
    {"lightgoldenrodyellow", 0xFAFAD2}, {"lightgray", 0xD3D3D3}, {"lightgreen", 0x90EE90},
    {"lightgrey", 0xD3D3D3}, {"lightpink", 0xFFB6C1}, {"lightsalmon", 0xFFA07A}, {"lightseagreen", 0x20B2AA},
    {"lightskyblue", 0x87CEFA}, {"lightslategray", 0x778899}, {"lightslategrey", 0x778899},
    {"lightsteelblue", 0xB0C4DE}, {"lightyellow", 0xFFFFE0}, {"lime", 0x00FF00}, {"limegreen", 0x32CD32},
    {"linen", 0xFAF0E6}, {"magenta", 0xFF00FF}, {"maroon", 0x800000}, {"mediumaquamarine", 0x66CDAA},
    {"mediumblue", 0x0000CD}, {"mediumorchid", 0xBA55D3}, {"mediumpurple", 0x9370DB},
    {"mediumseagreen", 0x3CB371}, {"mediumslateblue", 0x7B68EE}, {"mediumspringgreen", 0x00FA9A},
    {"mediumturquoise", 0x48D1CC}, {"mediumvioletred", 0xC71585}, {"midnightblue", 0x191970},
    {"mintcream", 0xF5FFFA}, {"mistyrose", 0xFFE4E1}, {"moccasin", 0xFFE4B5}, {"navajowhite", 0xFFDEAD},
    {"navy", 0x000080}, {"oldlace", 0xFDF5E6}, {"olive", 0x808000}, {"olivedrab", 0x6B8E23},
    {"orange", 0xFFA500}, {"orangered", 0xFF4500}, {"orchid", 0xDA70D6}, {"palegoldenrod", 0xEEE8AA},
    {"palegreen", 0x98FB98}, {"paleturquoise", 0xAFEEEE}, {"palevioletred", 0xDB7093},
    {"papayawhip", 0xFFEFD5}, {"peachpuff", 0xFFDAB9}, {"peru", 0xCD853F}, {"pink", 0xFFC0CB},
    {"plum", 0xDDA0DD}, {"powderblue", 0xB0E0E6}, {"purple", 0x800080}, {"rebeccapurple", 0x663399},
    {"red", 0xFF0000}, {"rosybrown", 0xBC8F8F}, {"royalblue", 0x4169E1}, {"saddlebrown", 0x8B4513},
    {"salmon", 0xFA8072}, {"sandybrown", 0xF4A460}, {"seagreen", 0x2E8B57}, {"seashell", 0xFFF5EE},
    {"sienna", 0xA0522D}, {"silver", 0xC0C0C0}, {"skyblue", 0x87CEEB}, {"slateblue", 0x6A5ACD},
    {"slategray", 0x708090}, {"slategrey", 0x708090}, {"snow", 0xFFFAFA}, {"springgreen", 0x00FF7F},
    {"steelblue", 0x4682B4}, {"tan", 0xD2B48C}, {"teal", 0x008080}, {"thistle", 0xD8BFD8},
    {"tomato", 0xFF6347}, {"turquoise", 0x40E0D0}, {"violet", 0xEE82EE}, {"wheat", 0xF5DEB3},
    {"white", 0xFFFFFF}, {"whitesmoke", 0xF5F5F5}, {"yellow", 0xFFFF00}, {"yellowgreen", 0x9ACD32}
}};
// clang-format on

std::optional<color> named(const std::string& name)
{
    if (name == "transparent") {
        return color{0, 0, 0, 0};
    }
    const auto* it = std::lower_bound(NAMED_COLORS.begin(), NAMED_COLORS.end(), name,
                                      [](const named_color& c, const std::string& n) { return n.compare(c.name) > 0; });
    if (it == NAMED_COLORS.end() || name != it->name) {
        return std::nullopt;
    }
    return color{((it->rgb >> 16U) & 0xFFU) / 255.0, ((it->rgb >> 8U) & 0xFFU) / 255.0, (it->rgb & 0xFFU) / 255.0, 1};
}

int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

std::optional<color> parse_hex(const std::string& s)
{
    const std::size_t n = s.size() - 1;
    if (n != 3 && n != 4 && n != 6 && n != 8) {
        return std::nullopt;
    }
    std::array<double, 4> c{0, 0, 0, 1};
    const std::size_t width = n <= 4 ? 1 : 2;
    for (std::size_t i = 0; i < n / width; ++i) {
        int v = 0;
        for (std::size_t k = 0; k < width; ++k) {
            const int d = hex_digit(s[1 + i * width + k]);
            if (d < 0) {
                return std::nullopt;
            }
            v = v * 16 + d;
        }
        if (width == 1) {
            v = v * 17;
        }
        c[i] = v / 255.0;
    }
    return color{c[0], c[1], c[2], c[3]};
}

// One numeric argument of rgb()/hsl(); `percent` tells whether it ended with '%'.
struct css_number {
    double v = 0;
    bool percent = false;
};

std::optional<std::vector<css_number>> parse_arguments(const std::string& body)
{
    std::vector<css_number> out;
    const char* p = body.c_str();
    const char* end = p + body.size();
    bool slash_seen = false;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ',')) {
            ++p;
        }
        if (p < end && *p == '/') {
            if (slash_seen) {
                return std::nullopt;
            }
            slash_seen = true;
            ++p;
            continue;
        }
        if (p >= end) {
            break;
        }
        char* stop = nullptr;
        const double v = std::strtod(p, &stop);
        if (stop == p || !std::isfinite(v)) {
            return std::nullopt;
        }
        p = stop;
        css_number n{v, false};
        if (p < end && *p == '%') {
            n.percent = true;
            ++p;
        } else if (body.compare(static_cast<std::size_t>(p - body.c_str()), 3, "deg") == 0) {
            p += 3;
        }
        out.push_back(n);
    }
    return out;
}

double clamp01(double v)
{
    return std::clamp(v, 0.0, 1.0);
}

double alpha_of(const css_number& n)
{
    return clamp01(n.percent ? n.v / 100 : n.v);
}

double hue_to_rgb(double m1, double m2, double h)
{
    if (h < 0) {
        h += 1;
    } else if (h > 1) {
        h -= 1;
    }
    if (h * 6 < 1) {
        return m1 + (m2 - m1) * h * 6;
    }
    if (h * 2 < 1) {
        return m2;
    }
    if (h * 3 < 2) {
        return m1 + (m2 - m1) * (2.0 / 3 - h) * 6;
    }
    return m1;
}

std::optional<color> parse_function(const std::string& s)
{
    const auto open = s.find('(');
    if (open == std::string::npos || s.back() != ')') {
        return std::nullopt;
    }
    const std::string fn = s.substr(0, open);
    const auto args = parse_arguments(s.substr(open + 1, s.size() - open - 2));
    if (!args || (args->size() != 3 && args->size() != 4)) {
        return std::nullopt;
    }
    const auto& a = *args;
    const bool with_alpha = a.size() == 4;
    if ((fn == "rgba" || fn == "hsla") && !with_alpha) {
        return std::nullopt; // rgba()/hsla() need the alpha; rgb()/hsl() may take one (CSS 4)
    }
    const double alpha = with_alpha ? alpha_of(a[3]) : 1.0;
    if (fn == "rgb" || fn == "rgba") {
        std::array<double, 3> c{};
        for (std::size_t i = 0; i < 3; ++i) {
            c[i] = a[i].percent ? clamp01(a[i].v / 100) : clamp01(std::round(a[i].v) / 255);
        }
        return color{c[0], c[1], c[2], alpha};
    }
    if (fn == "hsl" || fn == "hsla") {
        const double h = std::fmod(std::fmod(a[0].v, 360) + 360, 360) / 360;
        const double sat = clamp01(a[1].v / 100);
        const double l = clamp01(a[2].v / 100);
        const double m2 = l <= 0.5 ? l * (sat + 1) : l + sat - l * sat;
        const double m1 = l * 2 - m2;
        return color{clamp01(hue_to_rgb(m1, m2, h + 1.0 / 3)), clamp01(hue_to_rgb(m1, m2, h)),
                     clamp01(hue_to_rgb(m1, m2, h - 1.0 / 3)), alpha};
    }
    return std::nullopt;
}

} // namespace

std::optional<color> parse_color(std::string_view text)
{
    std::string s;
    s.reserve(text.size());
    for (const char c : text) {
        if (c != ' ' && c != '\t' && c != '\n') {
            s.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        } else if (!s.empty() && s.back() != ' ' && s.back() != '(' && s.back() != ',') {
            s.push_back(' '); // CSS 4 separates rgb() arguments by spaces
        }
    }
    while (!s.empty() && s.back() == ' ') {
        s.pop_back();
    }
    if (s.empty()) {
        return std::nullopt;
    }
    if (s[0] == '#') {
        return parse_hex(s);
    }
    if (s.find('(') != std::string::npos) {
        return parse_function(s);
    }
    return named(s);
}

bool operator==(const value& a, const value& b)
{
    if (a.v.index() != b.v.index()) {
        return false;
    }
    if (const auto* x = a.as_array()) {
        return *x == *b.as_array();
    }
    return a.v == b.v;
}

std::string number_to_string(double d)
{
    if (std::isnan(d)) {
        return "NaN";
    }
    if (std::isinf(d)) {
        return d > 0 ? "Infinity" : "-Infinity";
    }
    if (d == 0) {
        return "0";
    }
    std::array<char, 40> buf{};
    if (std::abs(d) < 1e21 && d == std::floor(d)) {
        std::snprintf(buf.data(), buf.size(), "%.0f", d);
        return buf.data();
    }
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf.data(), buf.size(), "%.*g", precision, d);
        if (std::strtod(buf.data(), nullptr) == d) {
            break;
        }
    }
    return buf.data();
}

std::string to_display_string(const value& v)
{
    return std::visit(
        [](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                return "";
            } else if constexpr (std::is_same_v<T, bool>) {
                return x ? "true" : "false";
            } else if constexpr (std::is_same_v<T, double>) {
                return number_to_string(x);
            } else if constexpr (std::is_same_v<T, std::string>) {
                return x;
            } else if constexpr (std::is_same_v<T, color>) {
                return "rgba(" + number_to_string(std::round(x.r * 255)) + "," +
                       number_to_string(std::round(x.g * 255)) + "," + number_to_string(std::round(x.b * 255)) + "," +
                       number_to_string(x.a) + ")";
            } else {
                std::string out = "[";
                for (std::size_t i = 0; i < x->size(); ++i) {
                    out += (i == 0 ? "" : ",") + to_display_string((*x)[i]);
                }
                return out + "]";
            }
        },
        v.v);
}

} // namespace onemap::render::detail
