#pragma once
// The values MapLibre style expressions compute with: null, boolean, number, string, color and
// array. Colors are kept straight (not premultiplied), components in 0..1.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace onemap::render::detail {

struct color {
    double r = 0;
    double g = 0;
    double b = 0;
    double a = 0;
    bool operator==(const color& o) const noexcept { return r == o.r && g == o.g && b == o.b && a == o.a; }
    bool operator!=(const color& o) const noexcept { return !(*this == o); }
};

/// A CSS color as the style spec accepts it: #rgb, #rgba, #rrggbb, #rrggbbaa, rgb(), rgba(),
/// hsl(), hsla() and the CSS named colors; nullopt when `text` is none of them.
std::optional<color> parse_color(std::string_view text);

struct value;
using value_array = std::vector<value>;

struct value {
    std::variant<std::monostate, bool, double, std::string, color, std::shared_ptr<const value_array>> v;

    value() = default;
    value(bool b) : v(b) {}                   // NOLINT(google-explicit-constructor)
    value(double d) : v(d) {}                 // NOLINT(google-explicit-constructor)
    value(std::string s) : v(std::move(s)) {} // NOLINT(google-explicit-constructor)
    value(color c) : v(c) {}                  // NOLINT(google-explicit-constructor)
    value(value_array a) : v(std::make_shared<const value_array>(std::move(a))) {} // NOLINT

    bool is_null() const noexcept { return std::holds_alternative<std::monostate>(v); }
    const bool* as_bool() const noexcept { return std::get_if<bool>(&v); }
    const double* as_number() const noexcept { return std::get_if<double>(&v); }
    const std::string* as_string() const noexcept { return std::get_if<std::string>(&v); }
    const color* as_color() const noexcept { return std::get_if<color>(&v); }
    const value_array* as_array() const noexcept
    {
        const auto* p = std::get_if<std::shared_ptr<const value_array>>(&v);
        return p != nullptr ? p->get() : nullptr;
    }
};

/// Strict equality as the expression `==` has it: values of different types are unequal.
bool operator==(const value& a, const value& b);
inline bool operator!=(const value& a, const value& b)
{
    return !(a == b);
}

/// The expression `to-string` conversion (numbers as JavaScript prints them, colors as rgba()).
std::string to_display_string(const value& v);
/// JavaScript's Number.prototype.toString for finite numbers.
std::string number_to_string(double d);

} // namespace onemap::render::detail
