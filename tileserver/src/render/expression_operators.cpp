// The expression operators whose arguments are plain values evaluated in order: comparisons,
// logic, type conversions, strings, colors and math. The special forms (literal, get, match,
// case, interpolate, step, let …) are compiled in expression.cpp.
#include "expression_operators.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <numeric>

namespace onemap::render::detail {

namespace {

using args_t = std::vector<node_ptr>;

const char* typeof_name(const value& v)
{
    if (v.as_bool() != nullptr) {
        return "boolean";
    }
    if (v.as_number() != nullptr) {
        return "number";
    }
    if (v.as_string() != nullptr) {
        return "string";
    }
    if (v.as_color() != nullptr) {
        return "color";
    }
    if (v.as_array() != nullptr) {
        return "array";
    }
    return "null";
}

std::optional<double> string_to_number(const std::string& s)
{
    const auto first = s.find_first_not_of(" \t\n\r");
    if (first == std::string::npos) {
        return 0.0;
    }
    const auto last = s.find_last_not_of(" \t\n\r");
    const std::string t = s.substr(first, last - first + 1);
    char* end = nullptr;
    const double d = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size()) {
        return std::nullopt;
    }
    return d;
}

bool truthy(const value& v)
{
    if (const auto* b = v.as_bool()) {
        return *b;
    }
    if (const auto* d = v.as_number()) {
        return *d != 0 && !std::isnan(*d);
    }
    if (const auto* s = v.as_string()) {
        return !s->empty();
    }
    return !v.is_null();
}

std::optional<color> value_to_color(const value& v)
{
    if (const auto* c = v.as_color()) {
        return *c;
    }
    if (const auto* s = v.as_string()) {
        return parse_color(*s);
    }
    if (const auto* a = v.as_array()) {
        if (a->size() != 3 && a->size() != 4) {
            return std::nullopt;
        }
        std::array<double, 4> c{0, 0, 0, 1};
        for (std::size_t i = 0; i < a->size(); ++i) {
            const double* d = (*a)[i].as_number();
            if (d == nullptr) {
                return std::nullopt;
            }
            c[i] = i < 3 ? std::clamp(*d / 255, 0.0, 1.0) : std::clamp(*d, 0.0, 1.0);
        }
        return color{c[0], c[1], c[2], c[3]};
    }
    return std::nullopt;
}

// Ordering for <, <=, >, >=: numbers with numbers, strings with strings; otherwise an error.
template <typename Compare>
call_fn ordering(Compare cmp)
{
    return [cmp](const eval_context& ctx, const args_t& a) -> value {
        const value x = a[0]->evaluate(ctx);
        const value y = a[1]->evaluate(ctx);
        if (x.as_number() != nullptr && y.as_number() != nullptr) {
            return cmp(*x.as_number(), *y.as_number());
        }
        if (x.as_string() != nullptr && y.as_string() != nullptr) {
            return cmp(*x.as_string(), *y.as_string());
        }
        return {};
    };
}

// A math operator over numbers: null as soon as an argument is not a number.
template <typename Fn>
call_fn numeric(Fn fn)
{
    return [fn](const eval_context& ctx, const args_t& a) -> value {
        std::array<double, 8> small{};
        std::vector<double> xs;
        const bool fits = a.size() <= small.size();
        if (!fits) {
            xs.resize(a.size());
        }
        double* p = fits ? small.data() : xs.data();
        for (std::size_t i = 0; i < a.size(); ++i) {
            const value v = a[i]->evaluate(ctx);
            const double* d = v.as_number();
            if (d == nullptr) {
                return {};
            }
            p[i] = *d;
        }
        return fn(p, a.size());
    };
}

} // namespace

std::optional<operator_spec> plain_operator(const std::string& op)
{
    const auto any = value_type::any;
    if (op == "==" || op == "!=") {
        const bool negate = op == "!=";
        return operator_spec{2, 2, any, [negate](const eval_context& ctx, const args_t& a) -> value {
                                 return (a[0]->evaluate(ctx) == a[1]->evaluate(ctx)) != negate;
                             }};
    }
    if (op == "<") {
        return operator_spec{2, 2, any, ordering([](const auto& x, const auto& y) { return x < y; })};
    }
    if (op == "<=") {
        return operator_spec{2, 2, any, ordering([](const auto& x, const auto& y) { return x <= y; })};
    }
    if (op == ">") {
        return operator_spec{2, 2, any, ordering([](const auto& x, const auto& y) { return x > y; })};
    }
    if (op == ">=") {
        return operator_spec{2, 2, any, ordering([](const auto& x, const auto& y) { return x >= y; })};
    }
    if (op == "!") {
        return operator_spec{1, 1, value_type::boolean, [](const eval_context& ctx, const args_t& a) -> value {
                                 const value v = a[0]->evaluate(ctx);
                                 return v.as_bool() != nullptr ? value(!*v.as_bool()) : value();
                             }};
    }
    if (op == "all" || op == "any") {
        const bool want = op == "any"; // the value that decides early
        return operator_spec{0, MANY_ARGUMENTS, value_type::boolean,
                             [want](const eval_context& ctx, const args_t& a) -> value {
                                 for (const auto& n : a) {
                                     const value v = n->evaluate(ctx);
                                     const bool* b = v.as_bool();
                                     if (b == nullptr) {
                                         return {};
                                     }
                                     if (*b == want) {
                                         return want;
                                     }
                                 }
                                 return !want;
                             }};
    }
    if (op == "in" || op == "index-of") {
        const bool index = op == "index-of";
        return operator_spec{2, 2, any, [index](const eval_context& ctx, const args_t& a) -> value {
                                 const value needle = a[0]->evaluate(ctx);
                                 const value hay = a[1]->evaluate(ctx);
                                 double found = -1;
                                 if (const auto* arr = hay.as_array()) {
                                     const auto it = std::find(arr->begin(), arr->end(), needle);
                                     found = it == arr->end() ? -1 : static_cast<double>(it - arr->begin());
                                 } else if (hay.as_string() != nullptr && needle.as_string() != nullptr) {
                                     const auto pos = hay.as_string()->find(*needle.as_string());
                                     found = pos == std::string::npos ? -1 : static_cast<double>(pos);
                                 } else {
                                     return {};
                                 }
                                 return index ? value(found) : value(found >= 0);
                             }};
    }
    if (op == "to-string") {
        return operator_spec{1, 1, any, [](const eval_context& ctx, const args_t& a) -> value {
                                 return to_display_string(a[0]->evaluate(ctx));
                             }};
    }
    if (op == "to-number") {
        return operator_spec{1, MANY_ARGUMENTS, any, [](const eval_context& ctx, const args_t& a) -> value {
                                 for (const auto& n : a) {
                                     const value v = n->evaluate(ctx);
                                     if (v.is_null()) {
                                         return 0.0;
                                     }
                                     if (const auto* b = v.as_bool()) {
                                         return *b ? 1.0 : 0.0;
                                     }
                                     if (const auto* d = v.as_number()) {
                                         return *d;
                                     }
                                     if (const auto* s = v.as_string()) {
                                         if (auto d2 = string_to_number(*s)) {
                                             return *d2;
                                         }
                                     }
                                 }
                                 return {};
                             }};
    }
    if (op == "to-boolean") {
        return operator_spec{
            1, 1, any, [](const eval_context& ctx, const args_t& a) -> value { return truthy(a[0]->evaluate(ctx)); }};
    }
    if (op == "to-color") {
        return operator_spec{1, MANY_ARGUMENTS, any, [](const eval_context& ctx, const args_t& a) -> value {
                                 for (const auto& n : a) {
                                     if (auto c = value_to_color(n->evaluate(ctx))) {
                                         return *c;
                                     }
                                 }
                                 return {};
                             }};
    }
    if (op == "number" || op == "string" || op == "boolean") {
        return operator_spec{1, MANY_ARGUMENTS, any, [op](const eval_context& ctx, const args_t& a) -> value {
                                 for (const auto& n : a) {
                                     value v = n->evaluate(ctx);
                                     if (op == typeof_name(v)) {
                                         return v;
                                     }
                                 }
                                 return {};
                             }};
    }
    if (op == "typeof") {
        return operator_spec{1, 1, any, [](const eval_context& ctx, const args_t& a) -> value {
                                 return std::string(typeof_name(a[0]->evaluate(ctx)));
                             }};
    }
    if (op == "concat") {
        return operator_spec{0, MANY_ARGUMENTS, any, [](const eval_context& ctx, const args_t& a) -> value {
                                 std::string out;
                                 for (const auto& n : a) {
                                     out += to_display_string(n->evaluate(ctx));
                                 }
                                 return out;
                             }};
    }
    if (op == "downcase" || op == "upcase") {
        const bool up = op == "upcase";
        return operator_spec{1, 1, value_type::string, [up](const eval_context& ctx, const args_t& a) -> value {
                                 const value v = a[0]->evaluate(ctx);
                                 if (v.as_string() == nullptr) {
                                     return {};
                                 }
                                 std::string s = *v.as_string();
                                 for (auto& c : s) { // ASCII only, as a CJK basemap needs no more
                                     if (up && c >= 'a' && c <= 'z') {
                                         c = static_cast<char>(c - 'a' + 'A');
                                     } else if (!up && c >= 'A' && c <= 'Z') {
                                         c = static_cast<char>(c - 'A' + 'a');
                                     }
                                 }
                                 return s;
                             }};
    }
    if (op == "length") {
        return operator_spec{1, 1, any, [](const eval_context& ctx, const args_t& a) -> value {
                                 const value v = a[0]->evaluate(ctx);
                                 if (const auto* s = v.as_string()) {
                                     // Code points, near enough to JavaScript's UTF-16 length for BMP text.
                                     return static_cast<double>(std::count_if(s->begin(), s->end(), [](char c) {
                                         return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
                                     }));
                                 }
                                 if (const auto* arr = v.as_array()) {
                                     return static_cast<double>(arr->size());
                                 }
                                 return {};
                             }};
    }
    if (op == "rgb" || op == "rgba") {
        const std::size_t count = op == "rgb" ? 3 : 4;
        return operator_spec{count, count, value_type::number, numeric([](const double* x, std::size_t n) -> value {
                                 return color{std::clamp(x[0] / 255, 0.0, 1.0), std::clamp(x[1] / 255, 0.0, 1.0),
                                              std::clamp(x[2] / 255, 0.0, 1.0),
                                              n == 4 ? std::clamp(x[3], 0.0, 1.0) : 1.0};
                             })};
    }
    if (op == "to-rgba") {
        return operator_spec{1, 1, value_type::color, [](const eval_context& ctx, const args_t& a) -> value {
                                 const auto c = value_to_color(a[0]->evaluate(ctx));
                                 if (!c) {
                                     return {};
                                 }
                                 return value_array{c->r * 255, c->g * 255, c->b * 255, c->a};
                             }};
    }
    // Arithmetic and math.
    using math_fn = value (*)(const double*, std::size_t);
    struct math_op {
        const char* name;
        std::size_t min;
        std::size_t max;
        math_fn fn;
    };
    static const std::array<math_op, 25> MATH{{
        {"+", 0, MANY_ARGUMENTS,
         [](const double* x, std::size_t n) -> value { return std::accumulate(x, x + n, 0.0); }},
        {"*", 0, MANY_ARGUMENTS,
         [](const double* x, std::size_t n) -> value { return std::accumulate(x, x + n, 1.0, std::multiplies<>()); }},
        {"-", 1, 2, [](const double* x, std::size_t n) -> value { return n == 1 ? -x[0] : x[0] - x[1]; }},
        {"/", 2, 2, [](const double* x, std::size_t) -> value { return x[0] / x[1]; }},
        {"%", 2, 2, [](const double* x, std::size_t) -> value { return std::fmod(x[0], x[1]); }},
        {"^", 2, 2, [](const double* x, std::size_t) -> value { return std::pow(x[0], x[1]); }},
        {"min", 1, MANY_ARGUMENTS, [](const double* x, std::size_t n) -> value { return *std::min_element(x, x + n); }},
        {"max", 1, MANY_ARGUMENTS, [](const double* x, std::size_t n) -> value { return *std::max_element(x, x + n); }},
        {"abs", 1, 1, [](const double* x, std::size_t) -> value { return std::abs(x[0]); }},
        {"floor", 1, 1, [](const double* x, std::size_t) -> value { return std::floor(x[0]); }},
        {"ceil", 1, 1, [](const double* x, std::size_t) -> value { return std::ceil(x[0]); }},
        {"round", 1, 1, [](const double* x, std::size_t) -> value { return std::round(x[0]); }},
        {"sqrt", 1, 1, [](const double* x, std::size_t) -> value { return std::sqrt(x[0]); }},
        {"ln", 1, 1, [](const double* x, std::size_t) -> value { return std::log(x[0]); }},
        {"log10", 1, 1, [](const double* x, std::size_t) -> value { return std::log10(x[0]); }},
        {"log2", 1, 1, [](const double* x, std::size_t) -> value { return std::log2(x[0]); }},
        {"sin", 1, 1, [](const double* x, std::size_t) -> value { return std::sin(x[0]); }},
        {"cos", 1, 1, [](const double* x, std::size_t) -> value { return std::cos(x[0]); }},
        {"tan", 1, 1, [](const double* x, std::size_t) -> value { return std::tan(x[0]); }},
        {"asin", 1, 1, [](const double* x, std::size_t) -> value { return std::asin(x[0]); }},
        {"acos", 1, 1, [](const double* x, std::size_t) -> value { return std::acos(x[0]); }},
        {"atan", 1, 1, [](const double* x, std::size_t) -> value { return std::atan(x[0]); }},
        {"pi", 0, 0, [](const double*, std::size_t) -> value { return 3.14159265358979323846; }},
        {"e", 0, 0, [](const double*, std::size_t) -> value { return 2.71828182845904523536; }},
        {"ln2", 0, 0, [](const double*, std::size_t) -> value { return 0.69314718055994530942; }},
    }};
    for (const auto& m : MATH) {
        if (op == m.name) {
            return operator_spec{m.min, m.max, value_type::number, numeric(m.fn)};
        }
    }
    return std::nullopt;
}

} // namespace onemap::render::detail
