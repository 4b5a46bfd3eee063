#pragma once
// A parsed style: layers with their properties compiled to constants or expression nodes.
#include "expression.hpp"

#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace onemap::render::detail {

/// The string a text-field yields: any non-null value, numbers printed as JavaScript does.
struct label_text {
    std::string text;
};

template <typename T>
std::optional<T> from_value(const value& v);

template <>
inline std::optional<double> from_value<double>(const value& v)
{
    const double* d = v.as_number();
    return d != nullptr ? std::optional<double>(*d) : std::nullopt;
}
template <>
inline std::optional<bool> from_value<bool>(const value& v)
{
    const bool* b = v.as_bool();
    return b != nullptr ? std::optional<bool>(*b) : std::nullopt;
}
template <>
inline std::optional<std::string> from_value<std::string>(const value& v)
{
    const std::string* s = v.as_string();
    return s != nullptr ? std::optional<std::string>(*s) : std::nullopt;
}
template <>
inline std::optional<color> from_value<color>(const value& v)
{
    if (const color* c = v.as_color()) {
        return *c;
    }
    const std::string* s = v.as_string();
    return s != nullptr ? parse_color(*s) : std::nullopt;
}
template <>
inline std::optional<label_text> from_value<label_text>(const value& v)
{
    return v.is_null() ? std::nullopt : std::optional<label_text>(label_text{to_display_string(v)});
}
template <>
std::optional<std::vector<double>> from_value<std::vector<double>>(const value& v);
template <>
std::optional<std::vector<std::string>> from_value<std::vector<std::string>>(const value& v);

/// One paint or layout property: a constant, or an expression evaluated per render (zoom only)
/// or per feature; values an expression cannot produce fall back to the spec default.
template <typename T>
class property {
public:
    explicit property(T fallback) : m_constant(fallback), m_fallback(std::move(fallback)) {}

    void set_constant(T v)
    {
        m_constant = std::move(v);
        m_expression.reset();
    }
    void set_expression(node_ptr e) { m_expression = std::move(e); }

    const T& fallback() const noexcept { return m_fallback; }
    bool feature_constant() const noexcept { return !m_expression || !m_expression->feature_dependent(); }
    const node* expression() const noexcept { return m_expression.get(); }

    T evaluate(const eval_context& ctx) const
    {
        if (!m_expression) {
            return m_constant;
        }
        auto v = from_value<T>(m_expression->evaluate(ctx));
        return v ? std::move(*v) : m_fallback;
    }

private:
    T m_constant;
    T m_fallback;
    node_ptr m_expression;
};

/// The largest width, radius or text size a style can ask for, in style pixels; larger values
/// are drawn at this size. A tile is 256 or 512 px wide: without a bound cairo spends minutes
/// flattening a circle of radius 1e125 (found by fuzz_style).
constexpr double MAX_STYLE_PX = 1024;
inline double bounded_px(double v) noexcept
{
    return v > MAX_STYLE_PX ? MAX_STYLE_PX : v; // NaN stays NaN: callers draw only what is > 0
}

constexpr color BLACK{0, 0, 0, 1};
constexpr color TRANSPARENT{0, 0, 0, 0};

enum class layer_kind { background, fill, line, circle, symbol };

struct background_paint {
    property<color> background_color{BLACK};
    property<double> opacity{1};
};

struct fill_paint {
    property<color> fill_color{BLACK};
    property<double> opacity{1};
    property<bool> antialias{true};
    bool has_outline = false;
    property<color> outline_color{BLACK};
};

struct line_paint {
    property<color> line_color{BLACK};
    property<double> width{1};
    property<double> opacity{1};
    property<std::vector<double>> dasharray{{}};
    property<std::string> cap{"butt"};
    property<std::string> join{"miter"};
    property<double> miter_limit{2};
};

struct circle_paint {
    property<double> radius{5};
    property<color> circle_color{BLACK};
    property<double> opacity{1};
    property<double> stroke_width{0};
    property<color> stroke_color{BLACK};
    property<double> stroke_opacity{1};
};

struct symbol_style {
    bool has_text = false;
    property<label_text> text_field{{}};
    property<std::vector<std::string>> text_font{{"Open Sans Regular", "Arial Unicode MS Regular"}};
    property<double> text_size{16};
    property<double> text_max_width{10};
    property<double> text_line_height{1.2};
    property<std::string> text_anchor{"center"};
    property<std::string> text_justify{"center"};
    property<std::vector<double>> text_offset{{0, 0}};
    property<double> text_padding{2};
    property<bool> text_allow_overlap{false};
    property<bool> text_ignore_placement{false};
    property<bool> text_keep_upright{true};
    property<double> text_max_angle{45};
    property<std::string> placement{"point"};
    property<double> spacing{250};
    property<color> text_color{BLACK};
    property<color> halo_color{TRANSPARENT};
    property<double> halo_width{0};
    property<double> text_opacity{1};
};

struct layer {
    std::string id;
    layer_kind kind = layer_kind::background;
    std::string source_layer;
    double minzoom = 0;
    double maxzoom = std::numeric_limits<double>::infinity();
    bool visible = true;
    node_ptr filter; ///< null: every feature
    background_paint background;
    fill_paint fill;
    line_paint line;
    circle_paint circle;
    symbol_style symbol;

    bool visible_at(double zoom) const noexcept { return visible && zoom >= minzoom && zoom < maxzoom; }
};

class parsed_style final : public style {
public:
    parsed_style(std::string name, std::vector<layer> layers);
    bool uses(const std::string& source_layer, double zoom) const override;
    std::vector<std::string> source_layers() const override;
    const std::vector<layer>& layers() const noexcept { return m_layers; }

private:
    std::vector<layer> m_layers;
};

} // namespace onemap::render::detail
