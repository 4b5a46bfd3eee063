#pragma once
// The node kinds both the expression compiler and the legacy filter/function compiler build.
#include "expression.hpp"

#include <functional>
#include <string_view>
#include <utility>
#include <vector>

namespace onemap::render::detail {

using call_fn = std::function<value(const eval_context&, const std::vector<node_ptr>&)>;

/// A node computing `fn` over its argument nodes; depends on zoom/feature when an argument
/// does or when the flags say so.
node_ptr make_call(call_fn fn, std::vector<node_ptr> args, bool zoom_dependent = false, bool feature_dependent = false);
node_ptr make_get(std::string key);
node_ptr make_zoom();
/// A reference to a node owned elsewhere (a `let` binding, shared by its `var`s).
node_ptr make_reference(const node& target);

struct interpolation {
    enum class kind { linear, exponential, cubic_bezier } how = kind::linear;
    double base = 1;
    double x1 = 0, y1 = 0, x2 = 1, y2 = 1; // cubic-bezier control points
    /// 0..1 between stops `lower` and `upper` for `input`.
    double factor(double input, double lower, double upper) const;
};

/// \pre stops ascending, outputs.size() == stops.size() > 0
node_ptr make_interpolate(node_ptr input, interpolation how, std::vector<double> stops, std::vector<node_ptr> outputs);
/// outputs[0] below thresholds[0]; outputs[i + 1] from thresholds[i]. \pre outputs.size() == thresholds.size() + 1
node_ptr make_step(node_ptr input, std::vector<double> thresholds, std::vector<node_ptr> outputs);
/// labels map a string, number or boolean to an index of outputs; anything else gives fallback.
node_ptr make_match(node_ptr input, const std::vector<std::pair<value, std::size_t>>& labels,
                    std::vector<node_ptr> outputs, node_ptr fallback);

/// A feature property as an expression value (integers become numbers); null when absent.
value feature_property(const feature& f, std::string_view key);
/// "Point", "LineString", "Polygon" or "Unknown".
const char* geometry_type_name(core::mvt::geom_type t) noexcept;
/// The feature id, null when 0 (MVT features without an id arrive with 0).
value feature_id(const feature& f);
/// Linear blend of numbers, colors (premultiplied, as MapLibre) or number arrays; null otherwise.
value interpolate_values(const value& a, const value& b, double t);

} // namespace onemap::render::detail
