// Parsing a MapLibre GL style (v8) into layers whose properties are constants or compiled
// expressions. Layer types the raster renderer does not draw (raster, hillshade,
// fill-extrusion, heatmap, color-relief, sky) are accepted and skipped; unknown paint and layout
// property names are ignored as the spec asks of older readers; a malformed value of a property
// we draw is a style_error naming the layer and the property.
#include "style_model.hpp"

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

namespace onemap::render {

namespace detail {

template <>
std::optional<std::vector<double>> from_value<std::vector<double>>(const value& v)
{
    const value_array* a = v.as_array();
    if (a == nullptr) {
        return std::nullopt;
    }
    std::vector<double> out;
    out.reserve(a->size());
    for (const auto& e : *a) {
        const double* d = e.as_number();
        if (d == nullptr) {
            return std::nullopt;
        }
        out.push_back(*d);
    }
    return out;
}

template <>
std::optional<std::vector<std::string>> from_value<std::vector<std::string>>(const value& v)
{
    const value_array* a = v.as_array();
    if (a == nullptr) {
        return std::nullopt;
    }
    std::vector<std::string> out;
    out.reserve(a->size());
    for (const auto& e : *a) {
        const std::string* s = e.as_string();
        if (s == nullptr) {
            return std::nullopt;
        }
        out.push_back(*s);
    }
    return out;
}

namespace {

using json = nlohmann::json;

value to_value(double d)
{
    return d;
}
value to_value(bool b)
{
    return b;
}
value to_value(const std::string& s)
{
    return s;
}
value to_value(const color& c)
{
    return c;
}
value to_value(const std::vector<double>& v)
{
    return value_array(v.begin(), v.end());
}
value to_value(const std::vector<std::string>& v)
{
    return value_array(v.begin(), v.end());
}

const std::set<std::string>& skipped_layer_types()
{
    static const std::set<std::string> TYPES{"raster", "hillshade", "fill-extrusion", "heatmap", "color-relief", "sky"};
    return TYPES;
}

class layer_parser {
public:
    layer_parser(const json& j, std::string id) : m_json(j), m_id(std::move(id)) {}

    [[noreturn]] void fail(const std::string& property, const std::string& message) const
    {
        throw style_error("layer '" + m_id + "': " + property + ": " + message);
    }

    std::string where(const std::string& property) const { return "layer '" + m_id + "': " + property; }

    const json& section(const char* name) const
    {
        static const json EMPTY = json::object();
        if (!m_json.contains(name)) {
            return EMPTY;
        }
        const json& s = m_json[name];
        if (!s.is_object()) {
            fail(name, "must be an object");
        }
        return s;
    }

    /// Reads section[name] into p; `allowed` lists the values of an enum property;
    /// `minimum` bounds a number constant.
    template <typename T>
    void read(const json& sec, const char* name, property<T>& p, value_type type,
              std::initializer_list<const char*> allowed = {}, std::optional<double> minimum = std::nullopt) const
    {
        if (!sec.contains(name)) {
            return;
        }
        const json& j = sec[name];
        if (j.is_null()) {
            return; // null means "the default"
        }
        if (j.is_object()) {
            p.set_expression(compile_legacy_function(j, type, to_value(p.fallback()), where(name)));
            return;
        }
        if (is_expression(j)) {
            node_ptr e = compile_expression(j, type, where(name));
            if (e->zoom_dependent() || e->feature_dependent()) {
                p.set_expression(std::move(e));
                return;
            }
            auto v = from_value<T>(e->evaluate(eval_context{}));
            if (!v) {
                fail(name, std::string("expression does not give a valid value: ") + j.dump());
            }
            check(name, *v, allowed, minimum);
            p.set_constant(std::move(*v));
            return;
        }
        auto lit = literal_value(j, type);
        std::optional<T> v = lit ? from_value<T>(*lit) : std::nullopt;
        if (!v) {
            fail(name, "invalid value " + j.dump());
        }
        check(name, *v, allowed, minimum);
        p.set_constant(std::move(*v));
    }

    void read_text_field(const json& sec, property<label_text>& p, bool& has_text) const
    {
        if (!sec.contains("text-field") || sec["text-field"].is_null()) {
            return;
        }
        const json& j = sec["text-field"];
        has_text = true;
        if (j.is_string()) {
            const std::string text = j.get<std::string>();
            if (node_ptr tokens = compile_token_string(text)) {
                p.set_expression(std::move(tokens));
            } else {
                p.set_constant(label_text{text});
            }
            return;
        }
        if (j.is_object()) {
            p.set_expression(compile_legacy_function(j, value_type::string, value(std::string()), where("text-field")));
            return;
        }
        if (!is_expression(j)) {
            fail("text-field", "must be a string or an expression, got " + j.dump());
        }
        p.set_expression(compile_expression(j, value_type::any, where("text-field")));
    }

private:
    template <typename T>
    void check(const char* name, const T& v, std::initializer_list<const char*> allowed,
               std::optional<double> minimum) const
    {
        if constexpr (std::is_same_v<T, std::string>) {
            if (allowed.size() > 0 &&
                std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return v == a; })) {
                fail(name, "unknown value \"" + v + "\"");
            }
        } else if constexpr (std::is_same_v<T, double>) {
            if (minimum && v < *minimum) {
                fail(name, "must be at least " + number_to_string(*minimum) + ", got " + number_to_string(v));
            }
        } else if constexpr (std::is_same_v<T, std::vector<double>>) {
            if (minimum && std::any_of(v.begin(), v.end(), [&](double d) { return d < *minimum; })) {
                fail(name, "values must be at least " + number_to_string(*minimum));
            }
        }
    }

    const json& m_json;
    std::string m_id;
};

layer parse_layer(const json& j, const std::string& id, const std::string& type)
{
    layer l;
    l.id = id;
    const layer_parser p(j, id);
    if (type == "background") {
        l.kind = layer_kind::background;
    } else if (type == "fill") {
        l.kind = layer_kind::fill;
    } else if (type == "line") {
        l.kind = layer_kind::line;
    } else if (type == "circle") {
        l.kind = layer_kind::circle;
    } else {
        l.kind = layer_kind::symbol;
    }
    if (j.contains("source-layer")) {
        if (!j["source-layer"].is_string()) {
            p.fail("source-layer", "must be a string");
        }
        l.source_layer = j["source-layer"].get<std::string>();
    }
    for (const char* zoom : {"minzoom", "maxzoom"}) {
        if (j.contains(zoom)) {
            if (!j[zoom].is_number()) {
                p.fail(zoom, "must be a number");
            }
            (std::string(zoom) == "minzoom" ? l.minzoom : l.maxzoom) = j[zoom].get<double>();
        }
    }
    if (j.contains("filter") && !j["filter"].is_null()) {
        l.filter = compile_filter(j["filter"], p.where("filter"));
    }
    const json& layout = p.section("layout");
    const json& paint = p.section("paint");
    if (layout.contains("visibility")) {
        const json& v = layout["visibility"];
        if (v != "visible" && v != "none") {
            p.fail("visibility", "must be \"visible\" or \"none\", got " + v.dump());
        }
        l.visible = v == "visible";
    }
    const auto num = value_type::number;
    const auto col = value_type::color;
    switch (l.kind) {
    case layer_kind::background:
        p.read(paint, "background-color", l.background.background_color, col);
        p.read(paint, "background-opacity", l.background.opacity, num, {}, 0.0);
        break;
    case layer_kind::fill:
        p.read(paint, "fill-color", l.fill.fill_color, col);
        p.read(paint, "fill-opacity", l.fill.opacity, num, {}, 0.0);
        p.read(paint, "fill-antialias", l.fill.antialias, value_type::boolean);
        l.fill.has_outline = paint.contains("fill-outline-color") && !paint["fill-outline-color"].is_null();
        p.read(paint, "fill-outline-color", l.fill.outline_color, col);
        break;
    case layer_kind::line:
        p.read(paint, "line-color", l.line.line_color, col);
        p.read(paint, "line-width", l.line.width, num, {}, 0.0);
        p.read(paint, "line-opacity", l.line.opacity, num, {}, 0.0);
        p.read(paint, "line-dasharray", l.line.dasharray, value_type::number_array, {}, 0.0);
        p.read(layout, "line-cap", l.line.cap, value_type::string, {"butt", "round", "square"});
        p.read(layout, "line-join", l.line.join, value_type::string, {"miter", "round", "bevel"});
        p.read(layout, "line-miter-limit", l.line.miter_limit, num);
        break;
    case layer_kind::circle:
        p.read(paint, "circle-radius", l.circle.radius, num, {}, 0.0);
        p.read(paint, "circle-color", l.circle.circle_color, col);
        p.read(paint, "circle-opacity", l.circle.opacity, num, {}, 0.0);
        p.read(paint, "circle-stroke-width", l.circle.stroke_width, num, {}, 0.0);
        p.read(paint, "circle-stroke-color", l.circle.stroke_color, col);
        p.read(paint, "circle-stroke-opacity", l.circle.stroke_opacity, num, {}, 0.0);
        break;
    case layer_kind::symbol: {
        auto& s = l.symbol;
        p.read_text_field(layout, s.text_field, s.has_text);
        p.read(layout, "text-font", s.text_font, value_type::string_array);
        p.read(layout, "text-size", s.text_size, num, {}, 0.0);
        p.read(layout, "text-max-width", s.text_max_width, num, {}, 0.0);
        p.read(layout, "text-line-height", s.text_line_height, num);
        p.read(layout, "text-anchor", s.text_anchor, value_type::string,
               {"center", "left", "right", "top", "bottom", "top-left", "top-right", "bottom-left", "bottom-right"});
        p.read(layout, "text-justify", s.text_justify, value_type::string, {"auto", "left", "center", "right"});
        p.read(layout, "text-offset", s.text_offset, value_type::number_array);
        p.read(layout, "text-padding", s.text_padding, num, {}, 0.0);
        p.read(layout, "text-allow-overlap", s.text_allow_overlap, value_type::boolean);
        p.read(layout, "text-ignore-placement", s.text_ignore_placement, value_type::boolean);
        p.read(layout, "text-keep-upright", s.text_keep_upright, value_type::boolean);
        p.read(layout, "text-max-angle", s.text_max_angle, num);
        p.read(layout, "symbol-placement", s.placement, value_type::string, {"point", "line", "line-center"});
        p.read(layout, "symbol-spacing", s.spacing, num, {}, 1.0);
        p.read(paint, "text-color", s.text_color, col);
        p.read(paint, "text-halo-color", s.halo_color, col);
        p.read(paint, "text-halo-width", s.halo_width, num, {}, 0.0);
        p.read(paint, "text-opacity", s.text_opacity, num, {}, 0.0);
        break;
    }
    }
    return l;
}

// A legacy "ref" layer takes type, source, source-layer, zooms, filter and layout from its referent.
json resolve_ref(const json& j, const std::vector<json>& earlier, const std::string& id)
{
    const std::string ref = j["ref"].is_string() ? j["ref"].get<std::string>() : std::string();
    for (const auto& e : earlier) {
        if (e.value("id", "") == ref) {
            json out = j;
            for (const char* key : {"type", "source", "source-layer", "minzoom", "maxzoom", "filter", "layout"}) {
                if (e.contains(key)) {
                    out[key] = e[key];
                }
            }
            return out;
        }
    }
    throw style_error("layer '" + id + "': ref: no earlier layer '" + ref + "'");
}

} // namespace

parsed_style::parsed_style(std::string name, std::vector<layer> layers) : m_layers(std::move(layers))
{
    m_name = std::move(name);
}

bool parsed_style::uses(const std::string& source_layer, double zoom) const
{
    return std::any_of(m_layers.begin(), m_layers.end(), [&](const layer& l) {
        return l.kind != layer_kind::background && l.source_layer == source_layer && l.visible_at(zoom) &&
               (l.kind != layer_kind::symbol || l.symbol.has_text);
    });
}

std::vector<std::string> parsed_style::source_layers() const
{
    std::vector<std::string> out;
    for (const auto& l : m_layers) {
        if (l.kind != layer_kind::background && !l.source_layer.empty() &&
            std::find(out.begin(), out.end(), l.source_layer) == out.end()) {
            out.push_back(l.source_layer);
        }
    }
    return out;
}

} // namespace detail

std::shared_ptr<const style> style::parse(const nlohmann::json& doc)
{
    using detail::layer;
    if (!doc.is_object()) {
        throw style_error("style: the document must be a JSON object");
    }
    if (!doc.contains("version") || doc["version"] != 8) {
        throw style_error("style: version must be 8, got " +
                          (doc.contains("version") ? doc["version"].dump() : "none"));
    }
    if (!doc.contains("layers") || !doc["layers"].is_array()) {
        throw style_error("style: layers must be an array");
    }
    std::string name = doc.contains("name") && doc["name"].is_string() ? doc["name"].get<std::string>() : "";
    std::vector<layer> layers;
    std::vector<nlohmann::json> seen;
    std::set<std::string> ids;
    std::size_t index = 0;
    for (const auto& raw : doc["layers"]) {
        if (!raw.is_object() || !raw.contains("id") || !raw["id"].is_string()) {
            throw style_error("style: layer #" + std::to_string(index) + " has no string \"id\"");
        }
        ++index;
        const std::string id = raw["id"].get<std::string>();
        if (!ids.insert(id).second) {
            throw style_error("layer '" + id + "': id: duplicate layer id");
        }
        const nlohmann::json j = raw.contains("ref") ? detail::resolve_ref(raw, seen, id) : raw;
        seen.push_back(j);
        if (!j.contains("type") || !j["type"].is_string()) {
            throw style_error("layer '" + id + "': type: missing or not a string");
        }
        const std::string type = j["type"].get<std::string>();
        if (detail::skipped_layer_types().count(type) != 0) {
            continue; // a valid v8 type the raster renderer does not draw
        }
        if (type != "background" && type != "fill" && type != "line" && type != "circle" && type != "symbol") {
            throw style_error("layer '" + id + "': type: unknown layer type \"" + type + "\"");
        }
        layers.push_back(detail::parse_layer(j, id, type));
    }
    return std::make_shared<detail::parsed_style>(std::move(name), std::move(layers));
}

std::shared_ptr<const style> style::load(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw style_error(path + ": cannot open the style file");
    }
    std::stringstream buf;
    buf << in.rdbuf();
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(buf.str());
    } catch (const nlohmann::json::exception& e) {
        throw style_error(path + ": " + e.what());
    }
    try {
        return parse(doc);
    } catch (const style_error& e) {
        throw style_error(path + ": " + e.what());
    }
}

} // namespace onemap::render
