// MapLibre GL style documents (render::style::parse): layers, refs, types, zooms, filters,
// paint and layout properties as constants, expressions and legacy functions. Oracles: a style
// is parsed or refused with a style_error (a JSON parse error is the caller's); every property
// and filter of a parsed style evaluates without throwing at any zoom over sample features;
// drawing it onto a small canvas over those features succeeds.
// Input: the style JSON.
#include "style_model.hpp"
#include "style_probe.hpp"

#include "onemap/render/renderer.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>

// fontconfig keeps its configuration for the life of the process (see tests/render).
extern "C" const char* __lsan_default_suppressions()
{
    return "leak:libfontconfig.so\n";
}

namespace {

using namespace onemap::render;
using namespace onemap::render::detail;

template <typename T>
void evaluate(const property<T>& p)
{
    if (const node* e = p.expression()) {
        onemap::fuzz::evaluate_everywhere(*e);
    }
    for (const auto& f : onemap::fuzz::sample_features()) {
        p.evaluate(eval_context{14, &f});
    }
}

void evaluate_layer(const layer& l)
{
    if (l.filter) {
        onemap::fuzz::evaluate_everywhere(*l.filter);
    }
    const auto& b = l.background;
    evaluate(b.background_color);
    evaluate(b.opacity);
    const auto& f = l.fill;
    evaluate(f.fill_color);
    evaluate(f.opacity);
    evaluate(f.antialias);
    evaluate(f.outline_color);
    const auto& ln = l.line;
    evaluate(ln.line_color);
    evaluate(ln.width);
    evaluate(ln.opacity);
    evaluate(ln.dasharray);
    evaluate(ln.cap);
    evaluate(ln.join);
    evaluate(ln.miter_limit);
    const auto& c = l.circle;
    evaluate(c.radius);
    evaluate(c.circle_color);
    evaluate(c.opacity);
    evaluate(c.stroke_width);
    evaluate(c.stroke_color);
    evaluate(c.stroke_opacity);
    const auto& s = l.symbol;
    evaluate(s.text_field);
    evaluate(s.text_font);
    evaluate(s.text_size);
    evaluate(s.text_max_width);
    evaluate(s.text_line_height);
    evaluate(s.text_anchor);
    evaluate(s.text_justify);
    evaluate(s.text_offset);
    evaluate(s.text_padding);
    evaluate(s.text_allow_overlap);
    evaluate(s.text_ignore_placement);
    evaluate(s.text_keep_upright);
    evaluate(s.text_max_angle);
    evaluate(s.placement);
    evaluate(s.spacing);
    evaluate(s.text_color);
    evaluate(s.halo_color);
    evaluate(s.halo_width);
    evaluate(s.text_opacity);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const auto doc = nlohmann::json::parse(data, data + size, nullptr, false);
    if (doc.is_discarded()) {
        return -1;
    }
    std::shared_ptr<const style> parsed;
    try {
        parsed = style::parse(doc);
    } catch (const style_error&) {
        return 0;
    }
    const auto& s = dynamic_cast<const parsed_style&>(*parsed);
    for (const auto& l : s.layers()) {
        evaluate_layer(l);
    }
    std::vector<source_layer> data_layers;
    for (const auto& name : s.source_layers()) {
        s.uses(name, 12);
        data_layers.push_back(source_layer{name, onemap::fuzz::sample_features()});
    }
    // Every sample feature under every source layer the style reads, drawn at two zooms.
    for (const double zoom : {3.0, 14.5}) {
        frame f;
        f.width = 64;
        f.height = 64;
        f.zoom = zoom;
        f.pixel_ratio = zoom > 10 ? 2 : 1;
        draw(*parsed, f, data_layers);
    }
    return 0;
}
