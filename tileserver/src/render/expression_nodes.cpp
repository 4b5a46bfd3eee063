#include "expression_nodes.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <unordered_map>

namespace onemap::render::detail {

namespace {

class literal_node final : public node {
public:
    explicit literal_node(value v) : m_value(std::move(v)) {}
    value evaluate(const eval_context&) const override { return m_value; }

private:
    value m_value;
};

class get_node final : public node {
public:
    explicit get_node(std::string key) : m_key(std::move(key)) { m_feature_dependent = true; }
    value evaluate(const eval_context& ctx) const override
    {
        return ctx.f != nullptr ? feature_property(*ctx.f, m_key) : value();
    }

private:
    std::string m_key;
};

class zoom_node final : public node {
public:
    zoom_node() { m_zoom_dependent = true; }
    value evaluate(const eval_context& ctx) const override { return ctx.zoom; }
};

class reference_node final : public node {
public:
    explicit reference_node(const node& target) : m_target(target)
    {
        depends_on(target);
    }
    value evaluate(const eval_context& ctx) const override { return m_target.evaluate(ctx); }

private:
    const node& m_target;
};

class call_node final : public node {
public:
    call_node(call_fn fn, std::vector<node_ptr> args, bool zoom_dependent, bool feature_dependent)
        : m_fn(std::move(fn)), m_args(std::move(args))
    {
        m_zoom_dependent = zoom_dependent;
        m_feature_dependent = feature_dependent;
        depends_on(m_args);
    }
    value evaluate(const eval_context& ctx) const override { return m_fn(ctx, m_args); }

private:
    call_fn m_fn;
    std::vector<node_ptr> m_args;
};

class interpolate_node final : public node {
public:
    interpolate_node(node_ptr input, interpolation how, std::vector<double> stops, std::vector<node_ptr> outputs)
        : m_input(std::move(input)), m_how(how), m_stops(std::move(stops)), m_outputs(std::move(outputs))
    {
        depends_on(*m_input);
        depends_on(m_outputs);
    }

    value evaluate(const eval_context& ctx) const override
    {
        const value in = m_input->evaluate(ctx);
        const double* x = in.as_number();
        if (x == nullptr) {
            return {};
        }
        if (*x <= m_stops.front()) {
            return m_outputs.front()->evaluate(ctx);
        }
        if (*x >= m_stops.back()) {
            return m_outputs.back()->evaluate(ctx);
        }
        const auto upper =
            static_cast<std::size_t>(std::upper_bound(m_stops.begin(), m_stops.end(), *x) - m_stops.begin());
        const std::size_t lower = upper - 1;
        const double t = m_how.factor(*x, m_stops[lower], m_stops[upper]);
        return interpolate_values(m_outputs[lower]->evaluate(ctx), m_outputs[upper]->evaluate(ctx), t);
    }

private:
    node_ptr m_input;
    interpolation m_how;
    std::vector<double> m_stops;
    std::vector<node_ptr> m_outputs;
};

class step_node final : public node {
public:
    step_node(node_ptr input, std::vector<double> thresholds, std::vector<node_ptr> outputs)
        : m_input(std::move(input)), m_thresholds(std::move(thresholds)), m_outputs(std::move(outputs))
    {
        depends_on(*m_input);
        depends_on(m_outputs);
    }

    value evaluate(const eval_context& ctx) const override
    {
        const value in = m_input->evaluate(ctx);
        const double* x = in.as_number();
        if (x == nullptr) {
            return {};
        }
        const auto i = std::upper_bound(m_thresholds.begin(), m_thresholds.end(), *x) - m_thresholds.begin();
        return m_outputs[static_cast<std::size_t>(i)]->evaluate(ctx);
    }

private:
    node_ptr m_input;
    std::vector<double> m_thresholds;
    std::vector<node_ptr> m_outputs;
};

class match_node final : public node {
public:
    match_node(node_ptr input, const std::vector<std::pair<value, std::size_t>>& labels, std::vector<node_ptr> outputs,
               node_ptr fallback)
        : m_input(std::move(input)), m_outputs(std::move(outputs)), m_fallback(std::move(fallback))
    {
        for (const auto& [label, index] : labels) {
            if (const auto* s = label.as_string()) {
                m_strings.emplace(*s, index);
            } else if (const auto* d = label.as_number()) {
                m_numbers.emplace(*d, index);
            } else if (const auto* b = label.as_bool()) {
                m_booleans[*b ? 1 : 0] = index;
            }
        }
        depends_on(*m_input);
        depends_on(*m_fallback);
        depends_on(m_outputs);
    }

    value evaluate(const eval_context& ctx) const override
    {
        const value in = m_input->evaluate(ctx);
        std::size_t index = NONE;
        if (const auto* s = in.as_string()) {
            const auto it = m_strings.find(*s);
            index = it != m_strings.end() ? it->second : NONE;
        } else if (const auto* d = in.as_number()) {
            const auto it = m_numbers.find(*d);
            index = it != m_numbers.end() ? it->second : NONE;
        } else if (const auto* b = in.as_bool()) {
            index = m_booleans[*b ? 1 : 0];
        }
        return index == NONE ? m_fallback->evaluate(ctx) : m_outputs[index]->evaluate(ctx);
    }

private:
    static constexpr std::size_t NONE = static_cast<std::size_t>(-1);
    node_ptr m_input;
    std::unordered_map<std::string, std::size_t> m_strings;
    std::map<double, std::size_t> m_numbers;
    std::array<std::size_t, 2> m_booleans{NONE, NONE};
    std::vector<node_ptr> m_outputs;
    node_ptr m_fallback;
};

// The cubic-bezier easing of CSS (WebKit's UnitBezier), as MapLibre uses it.
double solve_bezier(double x1, double y1, double x2, double y2, double x)
{
    const double cx = 3 * x1;
    const double bx = 3 * (x2 - x1) - cx;
    const double ax = 1 - cx - bx;
    const double cy = 3 * y1;
    const double by = 3 * (y2 - y1) - cy;
    const double ay = 1 - cy - by;
    const auto sample_x = [&](double t) { return ((ax * t + bx) * t + cx) * t; };
    const auto slope_x = [&](double t) { return (3 * ax * t + 2 * bx) * t + cx; };
    double t = x;
    for (int i = 0; i < 8; ++i) {
        const double err = sample_x(t) - x;
        if (std::abs(err) < 1e-6) {
            return ((ay * t + by) * t + cy) * t;
        }
        const double d = slope_x(t);
        if (std::abs(d) < 1e-6) {
            break;
        }
        t -= err / d;
    }
    double lo = 0;
    double hi = 1;
    t = x;
    for (int i = 0; i < 50 && lo < hi; ++i) {
        const double sx = sample_x(t);
        if (std::abs(sx - x) < 1e-6) {
            break;
        }
        (x > sx ? lo : hi) = t;
        t = (hi - lo) / 2 + lo;
    }
    return ((ay * t + by) * t + cy) * t;
}

} // namespace

node_ptr make_literal(value v)
{
    return std::make_unique<literal_node>(std::move(v));
}
node_ptr make_get(std::string key)
{
    return std::make_unique<get_node>(std::move(key));
}
node_ptr make_zoom()
{
    return std::make_unique<zoom_node>();
}
node_ptr make_reference(const node& target)
{
    return std::make_unique<reference_node>(target);
}

node_ptr make_call(call_fn fn, std::vector<node_ptr> args, bool zoom_dependent, bool feature_dependent)
{
    return std::make_unique<call_node>(std::move(fn), std::move(args), zoom_dependent, feature_dependent);
}

node_ptr make_interpolate(node_ptr input, interpolation how, std::vector<double> stops, std::vector<node_ptr> outputs)
{
    return std::make_unique<interpolate_node>(std::move(input), how, std::move(stops), std::move(outputs));
}

node_ptr make_step(node_ptr input, std::vector<double> thresholds, std::vector<node_ptr> outputs)
{
    return std::make_unique<step_node>(std::move(input), std::move(thresholds), std::move(outputs));
}

node_ptr make_match(node_ptr input, const std::vector<std::pair<value, std::size_t>>& labels,
                    std::vector<node_ptr> outputs, node_ptr fallback)
{
    return std::make_unique<match_node>(std::move(input), labels, std::move(outputs), std::move(fallback));
}

double interpolation::factor(double input, double lower, double upper) const
{
    const double difference = upper - lower;
    const double progress = input - lower;
    if (difference == 0) {
        return 0;
    }
    switch (how) {
    case kind::linear:
        return progress / difference;
    case kind::exponential:
        return base == 1 ? progress / difference : (std::pow(base, progress) - 1) / (std::pow(base, difference) - 1);
    case kind::cubic_bezier:
        return solve_bezier(x1, y1, x2, y2, progress / difference);
    }
    return 0;
}

value feature_property(const feature& f, std::string_view key)
{
    for (const auto& [k, v] : f.properties) {
        if (k == key) {
            return std::visit(
                [](const auto& x) -> value {
                    using T = std::decay_t<decltype(x)>;
                    if constexpr (std::is_same_v<T, std::int64_t>) {
                        return static_cast<double>(x);
                    } else {
                        return x;
                    }
                },
                v);
        }
    }
    return {};
}

const char* geometry_type_name(core::mvt::geom_type t) noexcept
{
    switch (t) {
    case core::mvt::geom_type::point:
        return "Point";
    case core::mvt::geom_type::linestring:
        return "LineString";
    case core::mvt::geom_type::polygon:
        return "Polygon";
    case core::mvt::geom_type::unknown:
        break;
    }
    return "Unknown";
}

value feature_id(const feature& f)
{
    return f.id == 0 ? value() : value(static_cast<double>(f.id));
}

value interpolate_values(const value& a, const value& b, double t)
{
    if (const auto* x = a.as_number()) {
        const auto* y = b.as_number();
        return y != nullptr ? value(*x + (*y - *x) * t) : value();
    }
    if (const auto* x = a.as_color()) {
        const auto* y = b.as_color();
        if (y == nullptr) {
            return {};
        }
        // Premultiplied, as MapLibre's Color keeps them, so a fade to transparent stays dark-free.
        const double alpha = x->a + (y->a - x->a) * t;
        const auto channel = [&](double cx, double cy) {
            const double p = cx * x->a + (cy * y->a - cx * x->a) * t;
            return alpha > 0 ? std::clamp(p / alpha, 0.0, 1.0) : 0.0;
        };
        return color{channel(x->r, y->r), channel(x->g, y->g), channel(x->b, y->b), alpha};
    }
    if (const auto* x = a.as_array()) {
        const auto* y = b.as_array();
        if (y == nullptr || x->size() != y->size()) {
            return {};
        }
        value_array out;
        out.reserve(x->size());
        for (std::size_t i = 0; i < x->size(); ++i) {
            value v = interpolate_values((*x)[i], (*y)[i], t);
            if (v.is_null()) {
                return {};
            }
            out.push_back(std::move(v));
        }
        return out;
    }
    return {};
}

} // namespace onemap::render::detail
