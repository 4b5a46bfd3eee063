// The pre-expression forms the v8 spec still accepts: legacy filters (["==", "key", v]),
// legacy functions ({"stops": …}) and {token} strings in text-field. They compile into the same
// nodes as expressions, with the legacy semantics (strict type matches, "$type", "$id").
#include "expression.hpp"

#include "expression_nodes.hpp"

#include <algorithm>

namespace onemap::render::detail {

namespace {

using json = nlohmann::json;
using args_t = std::vector<node_ptr>;

// MapLibre's isExpressionFilter.
bool is_expression_filter(const json& f)
{
    if (f.is_boolean()) {
        return true;
    }
    if (!f.is_array() || f.empty() || !f[0].is_string()) {
        return false;
    }
    const std::string& op = f[0].get_ref<const std::string&>();
    if (op == "has") {
        return f.size() >= 2 && f[1] != "$id" && f[1] != "$type";
    }
    if (op == "in") {
        return f.size() >= 3 && (!f[1].is_string() || f[2].is_array());
    }
    if (op == "!in" || op == "!has" || op == "none") {
        return false;
    }
    if (op == "==" || op == "!=" || op == ">" || op == ">=" || op == "<" || op == "<=") {
        return f.size() != 3 || f[1].is_array() || f[2].is_array();
    }
    if (op == "any" || op == "all") {
        for (std::size_t i = 1; i < f.size(); ++i) {
            if (!is_expression_filter(f[i]) && !f[i].is_boolean()) {
                return false;
            }
        }
        return true;
    }
    return true;
}

// The value a legacy filter key names on a feature: "$type", "$id" or a property.
value legacy_key_value(const feature& f, const std::string& key)
{
    if (key == "$type") {
        return std::string(geometry_type_name(f.type));
    }
    if (key == "$id") {
        return feature_id(f);
    }
    return feature_property(f, key);
}

class legacy_filter_compiler {
public:
    explicit legacy_filter_compiler(const std::string& where) : m_where(where) {}

    node_ptr compile(const json& f)
    {
        if (f.is_boolean()) {
            return make_literal(f.get<bool>());
        }
        if (!f.is_array() || f.empty() || !f[0].is_string()) {
            fail("a filter must be an array starting with an operator, got " + f.dump());
        }
        const std::string op = f[0].get<std::string>();
        if (op == "all" || op == "any" || op == "none") {
            args_t children;
            for (std::size_t i = 1; i < f.size(); ++i) {
                children.push_back(is_expression_filter(f[i]) ? compile_expression(f[i], value_type::boolean, m_where)
                                                              : compile(f[i]));
            }
            const int mode = op == "all" ? 0 : op == "any" ? 1 : 2;
            return make_call(
                [mode](const eval_context& ctx, const args_t& a) -> value {
                    for (const auto& c : a) {
                        const bool pass = passes(c.get(), ctx);
                        if (mode == 0 && !pass) {
                            return false;
                        }
                        if (mode != 0 && pass) {
                            return mode == 1;
                        }
                    }
                    return mode != 1;
                },
                std::move(children));
        }
        if (op == "has" || op == "!has") {
            const std::string key = key_at(f, op);
            const bool negate = op == "!has";
            return feature_test([key, negate](const feature& feat) {
                const bool has = key == "$type" || !legacy_key_value(feat, key).is_null();
                return has != negate;
            });
        }
        if (op == "in" || op == "!in") {
            const std::string key = key_at(f, op);
            std::vector<value> values;
            for (std::size_t i = 2; i < f.size(); ++i) {
                values.push_back(literal(f[i], op));
            }
            const bool negate = op == "!in";
            return feature_test([key, values, negate](const feature& feat) {
                const value v = legacy_key_value(feat, key);
                const bool found = std::find(values.begin(), values.end(), v) != values.end();
                return found != negate;
            });
        }
        if (op == "==" || op == "!=") {
            if (f.size() != 3) {
                fail("\"" + op + "\" takes a key and a value");
            }
            const std::string key = key_at(f, op);
            value v = literal(f[2], op);
            const bool negate = op == "!=";
            return feature_test(
                [key, v, negate](const feature& feat) { return (legacy_key_value(feat, key) == v) != negate; });
        }
        if (op == "<" || op == "<=" || op == ">" || op == ">=") {
            if (f.size() != 3) {
                fail("\"" + op + "\" takes a key and a value");
            }
            const std::string key = key_at(f, op);
            value v = literal(f[2], op);
            const int kind = op == "<" ? 0 : op == "<=" ? 1 : op == ">" ? 2 : 3;
            return feature_test([key, v, kind](const feature& feat) {
                const value x = legacy_key_value(feat, key);
                int c = 0; // -1, 0, 1 for x < v, x == v, x > v
                if (x.as_number() != nullptr && v.as_number() != nullptr) {
                    c = *x.as_number() < *v.as_number() ? -1 : *x.as_number() > *v.as_number() ? 1 : 0;
                } else if (x.as_string() != nullptr && v.as_string() != nullptr) {
                    const int r = x.as_string()->compare(*v.as_string());
                    c = r < 0 ? -1 : r > 0 ? 1 : 0;
                } else {
                    return false; // legacy comparisons need both sides of the same type
                }
                switch (kind) {
                case 0:
                    return c < 0;
                case 1:
                    return c <= 0;
                case 2:
                    return c > 0;
                default:
                    return c >= 0;
                }
            });
        }
        fail("unknown filter operator \"" + op + "\"");
    }

private:
    [[noreturn]] void fail(const std::string& message) const { throw style_error(m_where + ": " + message); }

    std::string key_at(const json& f, const std::string& op) const
    {
        if (f.size() < 2 || !f[1].is_string()) {
            fail("\"" + op + "\" needs a property key, got " + f.dump());
        }
        return f[1].get<std::string>();
    }

    value literal(const json& j, const std::string& op) const
    {
        if (j.is_string()) {
            return j.get<std::string>();
        }
        if (j.is_number()) {
            return j.get<double>();
        }
        if (j.is_boolean()) {
            return j.get<bool>();
        }
        if (j.is_null()) {
            return {};
        }
        fail("\"" + op + "\" compares with strings, numbers, booleans or null, got " + j.dump());
    }

    template <typename Test>
    static node_ptr feature_test(Test test)
    {
        return make_call(
            [test](const eval_context& ctx, const args_t&) -> value { return ctx.f != nullptr && test(*ctx.f); }, {},
            false, true);
    }

    std::string m_where;
};

bool interpolatable(value_type t)
{
    return t == value_type::number || t == value_type::color || t == value_type::number_array;
}

class legacy_function_compiler {
public:
    legacy_function_compiler(const json& fn, value_type expected, const value& fallback, const std::string& where)
        : m_fn(fn), m_expected(expected), m_fallback(fallback), m_where(where)
    {
    }

    node_ptr compile()
    {
        if (m_fn.contains("property") && !m_fn["property"].is_string()) {
            fail("\"property\" must be a string");
        }
        const std::string type = m_fn.value("type", interpolatable(m_expected) ? "exponential" : "interval");
        if (type != "identity" && type != "exponential" && type != "interval" && type != "categorical") {
            fail("unknown function type \"" + type + "\"");
        }
        m_type = type;
        if (m_type == "exponential" && !interpolatable(m_expected)) {
            m_type = "interval"; // MapLibre refuses; stepping is the closest drawable reading
        }
        if (m_fn.contains("default")) {
            m_fallback = output(m_fn["default"]);
        }
        const bool zoom = !m_fn.contains("property");
        if (m_type == "identity") {
            if (zoom) {
                fail("an identity function needs a \"property\"");
            }
            return identity(m_fn["property"].get<std::string>());
        }
        const json* stops = m_fn.contains("stops") ? &m_fn["stops"] : nullptr;
        if (stops == nullptr || !stops->is_array() || stops->empty()) {
            fail("a function needs non-empty \"stops\"");
        }
        for (const auto& s : *stops) {
            if (!s.is_array() || s.size() != 2) {
                fail("function stops must be [input, output] pairs, got " + s.dump());
            }
        }
        if ((*stops)[0][0].is_object()) {
            return zoom_and_property(*stops);
        }
        node_ptr input = zoom ? make_zoom() : make_get(m_fn["property"].get<std::string>());
        return single(std::move(input), *stops);
    }

private:
    [[noreturn]] void fail(const std::string& message) const { throw style_error(m_where + ": " + message); }

    value output(const json& j) const
    {
        auto v = literal_value(j, m_expected);
        if (!v) {
            fail("bad function output " + j.dump());
        }
        return *v;
    }

    node_ptr with_fallback(node_ptr n) const
    {
        args_t args;
        args.push_back(std::move(n));
        value fb = m_fallback;
        return make_call(
            [fb](const eval_context& ctx, const args_t& a) -> value {
                value v = a[0]->evaluate(ctx);
                return v.is_null() ? fb : v;
            },
            std::move(args));
    }

    node_ptr identity(const std::string& key) const
    {
        const value_type expected = m_expected;
        args_t args;
        args.push_back(make_get(key));
        value fb = m_fallback;
        return make_call(
            [expected, fb](const eval_context& ctx, const args_t& a) -> value {
                const value v = a[0]->evaluate(ctx);
                if (expected == value_type::color && v.as_string() != nullptr) {
                    auto c = parse_color(*v.as_string());
                    return c ? value(*c) : fb;
                }
                if (expected == value_type::number && v.as_number() == nullptr) {
                    return fb;
                }
                if (expected == value_type::string && v.as_string() == nullptr) {
                    return fb;
                }
                return v.is_null() ? fb : v;
            },
            std::move(args));
    }

    // One function over one input (zoom or a property) with stops [[in, out], …].
    node_ptr single(node_ptr input, const json& stops) const
    {
        args_t outputs;
        if (m_type == "categorical") {
            std::vector<std::pair<value, std::size_t>> labels;
            for (std::size_t i = 0; i < stops.size(); ++i) {
                const json& in = stops[i][0];
                if (!in.is_string() && !in.is_number() && !in.is_boolean()) {
                    fail("categorical stop inputs must be strings, numbers or booleans, got " + in.dump());
                }
                labels.emplace_back(*literal_value(in, value_type::any), i);
                outputs.push_back(make_literal(output(stops[i][1])));
            }
            return make_match(std::move(input), labels, std::move(outputs), make_literal(m_fallback));
        }
        std::vector<double> inputs;
        for (const auto& s : stops) {
            if (!s[0].is_number()) {
                fail("function stop inputs must be numbers, got " + s[0].dump());
            }
            const double d = s[0].get<double>();
            if (!inputs.empty() && d < inputs.back()) {
                fail("function stop inputs must be ascending");
            }
            if (!inputs.empty() && d == inputs.back()) {
                continue; // a repeated stop: the first one wins
            }
            inputs.push_back(d);
            outputs.push_back(make_literal(output(s[1])));
        }
        if (m_type == "interval") {
            // Below the first stop an interval function gives the first output, like a step from there.
            std::vector<double> thresholds(inputs.begin() + 1, inputs.end());
            return with_fallback(make_step(std::move(input), std::move(thresholds), std::move(outputs)));
        }
        interpolation how;
        how.how = interpolation::kind::exponential;
        how.base = m_fn.value("base", 1.0);
        return with_fallback(make_interpolate(std::move(input), how, std::move(inputs), std::move(outputs)));
    }

    // Stops [[{"zoom": z, "value": v}, out], …]: one property function per zoom, blended by zoom.
    node_ptr zoom_and_property(const json& stops) const
    {
        std::vector<double> zooms;
        std::vector<json> per_zoom;
        for (const auto& s : stops) {
            const json& key = s[0];
            if (!key.is_object() || !key.contains("zoom") || !key["zoom"].is_number() || !key.contains("value")) {
                fail("zoom-and-property stops need {\"zoom\": z, \"value\": v} inputs, got " + key.dump());
            }
            const double z = key["zoom"].get<double>();
            if (zooms.empty() || z != zooms.back()) {
                if (!zooms.empty() && z < zooms.back()) {
                    fail("function stop zooms must be ascending");
                }
                zooms.push_back(z);
                per_zoom.emplace_back(json::array());
            }
            per_zoom.back().push_back(json::array({key["value"], s[1]}));
        }
        const std::string key = m_fn["property"].get<std::string>();
        args_t outputs;
        for (const auto& st : per_zoom) {
            outputs.push_back(single(make_get(key), st));
        }
        if (m_type == "interval" || m_type == "categorical" || !interpolatable(m_expected)) {
            std::vector<double> thresholds(zooms.begin() + 1, zooms.end());
            return make_step(make_zoom(), std::move(thresholds), std::move(outputs));
        }
        interpolation how;
        how.how = interpolation::kind::exponential;
        how.base = m_fn.value("base", 1.0);
        return make_interpolate(make_zoom(), how, std::move(zooms), std::move(outputs));
    }

    const json& m_fn;
    value_type m_expected;
    value m_fallback;
    std::string m_where;
    std::string m_type;
};

} // namespace

node_ptr compile_filter(const json& j, const std::string& where)
{
    if (is_expression_filter(j)) {
        return compile_expression(j, value_type::boolean, where);
    }
    return legacy_filter_compiler(where).compile(j);
}

node_ptr compile_legacy_function(const json& j, value_type expected, const value& fallback, const std::string& where)
{
    return legacy_function_compiler(j, expected, fallback, where).compile();
}

node_ptr compile_token_string(const std::string& text)
{
    if (text.find('{') == std::string::npos) {
        return nullptr;
    }
    args_t parts;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto open = text.find('{', pos);
        const auto close = open == std::string::npos ? std::string::npos : text.find('}', open);
        if (close == std::string::npos) {
            parts.push_back(make_literal(text.substr(pos)));
            break;
        }
        if (open > pos) {
            parts.push_back(make_literal(text.substr(pos, open - pos)));
        }
        parts.push_back(make_get(text.substr(open + 1, close - open - 1)));
        pos = close + 1;
    }
    return make_call(
        [](const eval_context& ctx, const args_t& a) -> value {
            std::string out;
            for (const auto& p : a) {
                out += to_display_string(p->evaluate(ctx));
            }
            return out;
        },
        std::move(parts));
}

} // namespace onemap::render::detail
