// The expression language of the MapLibre style spec v8, compiled into nodes. Evaluation errors
// (a `get` of a missing property fed to `+`, a string compared with `<` to a number) yield null,
// which properties turn into their default and filters into "no", as MapLibre does.
#include "expression.hpp"

#include "expression_nodes.hpp"
#include "expression_operators.hpp"

#include <algorithm>
#include <array>

namespace onemap::render::detail {

namespace {

using json = nlohmann::json;
using args_t = std::vector<node_ptr>;

// Every operator of the v8 expression language (compiled or not), sorted: is_expression()
// tells an expression from an array literal by them, as MapLibre's isExpression does.
// clang-format off
constexpr std::array<std::string_view, 83> OPERATORS{
    "!", "!=", "%", "*", "+", "-", "/", "<", "<=", "==", ">", ">=", "^", "abs", "accumulated", "acos", "all",
    "any", "array", "asin", "at", "atan", "boolean", "case", "ceil", "coalesce", "collator", "concat", "cos",
    "distance", "downcase", "e", "feature-state", "floor", "format", "geometry-type", "get", "global-state",
    "has", "heatmap-density", "id", "image", "in", "index-of", "interpolate", "interpolate-hcl",
    "interpolate-lab", "is-supported-script", "length", "let", "line-progress", "literal", "ln", "ln2",
    "log10", "log2", "match", "max", "min", "number", "number-format", "object", "pi", "properties",
    "resolved-locale", "rgb", "rgba", "round", "sin", "slice", "sqrt", "step", "string", "tan", "to-boolean",
    "to-color", "to-number", "to-rgba", "to-string", "typeof", "upcase", "var", "within"};
// clang-format on

bool known_operator(std::string_view op)
{
    return std::binary_search(OPERATORS.begin(), OPERATORS.end(), op);
}

const char* type_name(value_type t)
{
    switch (t) {
    case value_type::any:
        return "value";
    case value_type::boolean:
        return "boolean";
    case value_type::number:
        return "number";
    case value_type::string:
        return "string";
    case value_type::color:
        return "color";
    case value_type::number_array:
        return "array of numbers";
    case value_type::string_array:
        return "array of strings";
    }
    return "value";
}

class compiler {
public:
    explicit compiler(const std::string& where) : m_where(where) {}

    node_ptr compile(const json& j, value_type expected)
    {
        if (j.is_array()) {
            if (j.empty() || !j[0].is_string()) {
                fail("expected an expression [\"operator\", …]; array literals must be wrapped in [\"literal\", …], "
                     "got " +
                     j.dump());
            }
            return compile_call(j[0].get<std::string>(), j, expected);
        }
        if (j.is_object()) {
            fail("object literals must be wrapped in [\"literal\", …], got " + j.dump());
        }
        auto v = literal_value(j, expected);
        if (!v) {
            fail(std::string("expected ") + type_name(expected) + ", got " + j.dump());
        }
        return make_literal(std::move(*v));
    }

private:
    [[noreturn]] void fail(const std::string& message) const { throw style_error(m_where + ": " + message); }

    void arity(const std::string& op, const json& j, std::size_t min, std::size_t max) const
    {
        const std::size_t n = j.size() - 1;
        if (n < min || n > max) {
            fail("\"" + op + "\" takes " +
                 (min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max)) +
                 " arguments, got " + std::to_string(n));
        }
    }

    args_t compile_args(const json& j, std::size_t from, value_type expected)
    {
        args_t out;
        for (std::size_t i = from; i < j.size(); ++i) {
            out.push_back(compile(j[i], expected));
        }
        return out;
    }

    node_ptr compile_call(const std::string& op, const json& j, value_type expected);
    node_ptr compile_match(const json& j, value_type expected);
    node_ptr compile_interpolate(const json& j, value_type expected);
    node_ptr compile_step(const json& j, value_type expected);
    node_ptr compile_let(const json& j, value_type expected);
    node_ptr compile_lookup(const std::string& op, const json& j);
    std::vector<double> stop_inputs(const json& j, std::size_t from, std::size_t step, const std::string& op) const;

    std::string m_where;
    std::vector<std::pair<std::string, const node*>> m_scope; // `let` bindings in reach
};

node_ptr compiler::compile_lookup(const std::string& op, const json& j)
{
    arity(op, j, 1, 1);
    const bool has = op == "has";
    if (j[1].is_string()) {
        if (!has) {
            return make_get(j[1].get<std::string>());
        }
        std::string key = j[1].get<std::string>();
        return make_call(
            [key](const eval_context& ctx, const args_t&) -> value {
                return ctx.f != nullptr && !feature_property(*ctx.f, key).is_null();
            },
            {}, false, true);
    }
    args_t args;
    args.push_back(compile(j[1], value_type::string));
    return make_call(
        [has](const eval_context& ctx, const args_t& a) -> value {
            const value k = a[0]->evaluate(ctx);
            if (k.as_string() == nullptr || ctx.f == nullptr) {
                return has ? value(false) : value();
            }
            value v = feature_property(*ctx.f, *k.as_string());
            return has ? value(!v.is_null()) : v;
        },
        std::move(args), false, true);
}

std::vector<double> compiler::stop_inputs(const json& j, std::size_t from, std::size_t step,
                                          const std::string& op) const
{
    std::vector<double> out;
    for (std::size_t i = from; i < j.size(); i += step) {
        if (!j[i].is_number()) {
            fail("\"" + op + "\" stop inputs must be numeric literals, got " + j[i].dump());
        }
        const double d = j[i].get<double>();
        if (!out.empty() && d <= out.back()) {
            fail("\"" + op + "\" stop inputs must be strictly ascending");
        }
        out.push_back(d);
    }
    return out;
}

node_ptr compiler::compile_match(const json& j, value_type expected)
{
    if (j.size() < 5 || j.size() % 2 == 0) {
        fail("\"match\" takes an input, label/output pairs and a fallback");
    }
    node_ptr input = compile(j[1], value_type::any);
    std::vector<std::pair<value, std::size_t>> labels;
    args_t outputs;
    for (std::size_t i = 2; i + 1 < j.size(); i += 2) {
        const std::size_t index = outputs.size();
        const json& l = j[i];
        const auto add = [&](const json& one) {
            if (one.is_string()) {
                labels.emplace_back(one.get<std::string>(), index);
            } else if (one.is_number()) {
                labels.emplace_back(one.get<double>(), index);
            } else {
                fail("\"match\" labels must be strings or numbers, got " + one.dump());
            }
        };
        if (l.is_array()) {
            if (l.empty()) {
                fail("\"match\" label arrays must not be empty");
            }
            for (const auto& one : l) {
                add(one);
            }
        } else {
            add(l);
        }
        outputs.push_back(compile(j[i + 1], expected));
    }
    node_ptr fallback = compile(j.back(), expected);
    return make_match(std::move(input), labels, std::move(outputs), std::move(fallback));
}

node_ptr compiler::compile_interpolate(const json& j, value_type expected)
{
    const std::string op = j[0].get<std::string>();
    if (j.size() < 5 || j.size() % 2 == 0) {
        fail("\"" + op + "\" takes an interpolation type, an input and input/output stop pairs");
    }
    const json& type = j[1];
    if (!type.is_array() || type.empty() || !type[0].is_string()) {
        fail("\"" + op + "\" needs [\"linear\"], [\"exponential\", base] or [\"cubic-bezier\", x1, y1, x2, y2]");
    }
    interpolation how;
    const std::string kind = type[0].get<std::string>();
    const auto number_at = [&](std::size_t i) {
        if (i >= type.size() || !type[i].is_number()) {
            fail("bad interpolation type " + type.dump());
        }
        return type[i].get<double>();
    };
    if (kind == "linear") {
        how.how = interpolation::kind::linear;
    } else if (kind == "exponential") {
        how.how = interpolation::kind::exponential;
        how.base = number_at(1);
    } else if (kind == "cubic-bezier") {
        how.how = interpolation::kind::cubic_bezier;
        how.x1 = number_at(1);
        how.y1 = number_at(2);
        how.x2 = number_at(3);
        how.y2 = number_at(4);
    } else {
        fail("unknown interpolation type \"" + kind + "\"");
    }
    node_ptr input = compile(j[2], value_type::number);
    std::vector<double> stops = stop_inputs(j, 3, 2, op);
    args_t outputs;
    for (std::size_t i = 4; i < j.size(); i += 2) {
        outputs.push_back(compile(j[i], expected));
    }
    return make_interpolate(std::move(input), how, std::move(stops), std::move(outputs));
}

node_ptr compiler::compile_step(const json& j, value_type expected)
{
    if (j.size() < 3 || j.size() % 2 == 0) {
        fail("\"step\" takes an input, a first output and threshold/output pairs");
    }
    node_ptr input = compile(j[1], value_type::number);
    args_t outputs;
    outputs.push_back(compile(j[2], expected));
    std::vector<double> thresholds = stop_inputs(j, 3, 2, "step");
    for (std::size_t i = 4; i < j.size(); i += 2) {
        outputs.push_back(compile(j[i], expected));
    }
    return make_step(std::move(input), std::move(thresholds), std::move(outputs));
}

node_ptr compiler::compile_let(const json& j, value_type expected)
{
    if (j.size() < 4 || j.size() % 2 != 0) {
        fail("\"let\" takes name/value pairs and a body");
    }
    args_t bindings;
    const std::size_t scope_size = m_scope.size();
    for (std::size_t i = 1; i + 1 < j.size(); i += 2) {
        if (!j[i].is_string()) {
            fail("\"let\" binding names must be strings");
        }
        bindings.push_back(compile(j[i + 1], value_type::any));
        m_scope.emplace_back(j[i].get<std::string>(), bindings.back().get());
    }
    node_ptr body = compile(j.back(), expected);
    m_scope.resize(scope_size);
    bindings.push_back(std::move(body));
    // The bindings live in the call node's arguments; the body (last) refers to them.
    return make_call([](const eval_context& ctx, const args_t& a) { return a.back()->evaluate(ctx); },
                     std::move(bindings));
}

node_ptr compiler::compile_call(const std::string& op, const json& j, value_type expected)
{
    const auto any = value_type::any;
    if (op == "literal") {
        arity(op, j, 1, 1);
        auto v = literal_value(j[1], expected);
        if (!v) {
            v = literal_value(j[1], any);
        }
        if (!v) {
            fail("bad literal " + j[1].dump());
        }
        return make_literal(std::move(*v));
    }
    if (op == "get" || op == "has") {
        return compile_lookup(op, j);
    }
    if (op == "zoom") {
        arity(op, j, 0, 0);
        return make_zoom();
    }
    if (op == "id") {
        arity(op, j, 0, 0);
        return make_call([](const eval_context& ctx, const args_t&) { return ctx.f ? feature_id(*ctx.f) : value(); },
                         {}, false, true);
    }
    if (op == "geometry-type") {
        arity(op, j, 0, 0);
        return make_call(
            [](const eval_context& ctx, const args_t&) {
                return ctx.f ? value(std::string(geometry_type_name(ctx.f->type))) : value();
            },
            {}, false, true);
    }
    if (op == "case") {
        if (j.size() < 4 || j.size() % 2 != 0) {
            fail("\"case\" takes condition/output pairs and a fallback");
        }
        args_t args;
        for (std::size_t i = 1; i < j.size(); ++i) {
            const bool condition = i % 2 == 1 && i + 1 < j.size();
            args.push_back(compile(j[i], condition ? value_type::boolean : expected));
        }
        return make_call(
            [](const eval_context& ctx, const args_t& a) -> value {
                for (std::size_t i = 0; i + 1 < a.size(); i += 2) {
                    const value c = a[i]->evaluate(ctx);
                    if (c.as_bool() == nullptr) {
                        return {};
                    }
                    if (*c.as_bool()) {
                        return a[i + 1]->evaluate(ctx);
                    }
                }
                return a.back()->evaluate(ctx);
            },
            std::move(args));
    }
    if (op == "coalesce") {
        arity(op, j, 1, MANY_ARGUMENTS);
        return make_call(
            [](const eval_context& ctx, const args_t& a) -> value {
                for (const auto& n : a) {
                    value v = n->evaluate(ctx);
                    if (!v.is_null()) {
                        return v;
                    }
                }
                return {};
            },
            compile_args(j, 1, expected));
    }
    if (op == "match") {
        return compile_match(j, expected);
    }
    if (op == "interpolate" || op == "interpolate-hcl" || op == "interpolate-lab") {
        return compile_interpolate(j, expected);
    }
    if (op == "step") {
        return compile_step(j, expected);
    }
    if (op == "let") {
        return compile_let(j, expected);
    }
    if (op == "var") {
        arity(op, j, 1, 1);
        for (auto it = m_scope.rbegin(); it != m_scope.rend(); ++it) {
            if (j[1].is_string() && it->first == j[1].get<std::string>()) {
                return make_reference(*it->second);
            }
        }
        fail("unknown variable " + j[1].dump());
    }
    if (op == "array") {
        arity(op, j, 1, 3);
        args_t args;
        args.push_back(compile(j.back(), any));
        return make_call(
            [](const eval_context& ctx, const args_t& a) -> value {
                value v = a[0]->evaluate(ctx);
                return v.as_array() != nullptr ? v : value();
            },
            std::move(args));
    }
    if (op == "format") {
        args_t args;
        for (std::size_t i = 1; i < j.size(); ++i) {
            if (!j[i].is_object()) { // per-section options (font-scale, text-font, text-color) are not drawn
                args.push_back(compile(j[i], value_type::any));
            }
        }
        return make_call(plain_operator("concat")->fn, std::move(args));
    }
    if (auto spec = plain_operator(op)) {
        arity(op, j, spec->min_args, spec->max_args);
        return make_call(std::move(spec->fn), compile_args(j, 1, spec->arguments));
    }
    if (known_operator(op)) {
        fail("expression operator \"" + op + "\" is not supported by the raster renderer");
    }
    fail("unknown expression operator \"" + op + "\"");
}

} // namespace

std::optional<value> literal_value(const json& j, value_type expected)
{
    switch (expected) {
    case value_type::color:
        if (j.is_string()) {
            if (auto c = parse_color(j.get<std::string>())) {
                return value(*c);
            }
        }
        return std::nullopt;
    case value_type::number:
        return j.is_number() ? std::optional<value>(j.get<double>()) : std::nullopt;
    case value_type::string:
        return j.is_string() ? std::optional<value>(j.get<std::string>()) : std::nullopt;
    case value_type::boolean:
        return j.is_boolean() ? std::optional<value>(j.get<bool>()) : std::nullopt;
    case value_type::number_array:
    case value_type::string_array: {
        if (!j.is_array()) {
            return std::nullopt;
        }
        const auto element = expected == value_type::number_array ? value_type::number : value_type::string;
        value_array out;
        for (const auto& e : j) {
            auto v = literal_value(e, element);
            if (!v) {
                return std::nullopt;
            }
            out.push_back(std::move(*v));
        }
        return value(std::move(out));
    }
    case value_type::any:
        break;
    }
    if (j.is_null()) {
        return value();
    }
    if (j.is_boolean()) {
        return value(j.get<bool>());
    }
    if (j.is_number()) {
        return value(j.get<double>());
    }
    if (j.is_string()) {
        return value(j.get<std::string>());
    }
    if (j.is_array()) {
        value_array out;
        for (const auto& e : j) {
            auto v = literal_value(e, value_type::any);
            if (!v) {
                return std::nullopt;
            }
            out.push_back(std::move(*v));
        }
        return value(std::move(out));
    }
    return std::nullopt;
}

bool is_expression(const json& j)
{
    return j.is_array() && !j.empty() && j[0].is_string() && known_operator(j[0].get_ref<const std::string&>());
}

node_ptr compile_expression(const json& j, value_type expected, const std::string& where)
{
    return compiler(where).compile(j, expected);
}

} // namespace onemap::render::detail
