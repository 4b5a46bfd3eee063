#pragma once
// MapLibre style expressions, legacy filters and legacy functions, compiled once into a tree of
// nodes that is evaluated per render (zoom-only values) or per feature.
#include "value.hpp"

#include "onemap/render/renderer.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace onemap::render::detail {

struct eval_context {
    double zoom = 0;
    const feature* f = nullptr; ///< null while evaluating zoom-only values
};

class node {
public:
    virtual ~node() = default;
    node() = default;
    node(const node&) = delete;
    node& operator=(const node&) = delete;

    virtual value evaluate(const eval_context& ctx) const = 0;
    bool zoom_dependent() const noexcept { return m_zoom_dependent; }
    bool feature_dependent() const noexcept { return m_feature_dependent; }

protected:
    /// This node depends on zoom or feature wherever `n` does.
    void depends_on(const node& n) noexcept
    {
        m_zoom_dependent = m_zoom_dependent || n.zoom_dependent();
        m_feature_dependent = m_feature_dependent || n.feature_dependent();
    }
    void depends_on(const std::vector<std::unique_ptr<const node>>& nodes) noexcept
    {
        for (const auto& n : nodes) {
            depends_on(*n);
        }
    }

    bool m_zoom_dependent = false;
    bool m_feature_dependent = false;
};

using node_ptr = std::unique_ptr<const node>;

/// What a property or argument expects; literal strings where a color is expected are parsed as
/// colors when the style is parsed, so a malformed one is a style_error then, not a blank map.
enum class value_type { any, boolean, number, string, color, number_array, string_array };

/// Converts a literal JSON value to the type expected (strings to colors, arrays to arrays);
/// nullopt when it does not fit.
std::optional<value> literal_value(const nlohmann::json& j, value_type expected);

/// Whether `j` is an expression: an array whose first element names an expression operator.
bool is_expression(const nlohmann::json& j);

/// Compiles an expression. `where` prefixes error messages ("layer 'x': fill-color").
/// \throws style_error on an unknown operator, a wrong argument count or a malformed literal.
node_ptr compile_expression(const nlohmann::json& j, value_type expected, const std::string& where);

/// Compiles a layer filter, legacy (["==", "key", v]) or expression form, told apart as
/// MapLibre's isExpressionFilter does. \throws style_error.
node_ptr compile_filter(const nlohmann::json& j, const std::string& where);

/// Compiles a legacy function object {"stops": …, "base": …, "property": …, "type": …,
/// "default": …}; `fallback` is the property's default for features the function does not cover.
/// \throws style_error.
node_ptr compile_legacy_function(const nlohmann::json& j, value_type expected, const value& fallback,
                                 const std::string& where);

/// A text-field string with {field} tokens; nullptr when it has none (a constant string).
node_ptr compile_token_string(const std::string& text);

node_ptr make_literal(value v);

/// A filter's verdict: only boolean true passes.
inline bool passes(const node* filter, const eval_context& ctx)
{
    if (filter == nullptr) {
        return true;
    }
    const value v = filter->evaluate(ctx);
    const bool* b = v.as_bool();
    return b != nullptr && *b;
}

} // namespace onemap::render::detail
