#include "text_shaper.hpp"

#include <array>
#include <cmath>
#include <stdexcept>
#include <string_view>

namespace onemap::render::detail {

namespace {

struct style_word {
    std::string_view word;
    PangoWeight weight;
};

// The weight words of font names (case as fonts write them), as glyph servers split them.
constexpr std::array<style_word, 18> WEIGHT_WORDS{{
    {"Thin", PANGO_WEIGHT_THIN},
    {"Hairline", PANGO_WEIGHT_THIN},
    {"ExtraLight", PANGO_WEIGHT_ULTRALIGHT},
    {"UltraLight", PANGO_WEIGHT_ULTRALIGHT},
    {"Light", PANGO_WEIGHT_LIGHT},
    {"DemiLight", PANGO_WEIGHT_SEMILIGHT},
    {"Book", PANGO_WEIGHT_BOOK},
    {"Regular", PANGO_WEIGHT_NORMAL},
    {"Normal", PANGO_WEIGHT_NORMAL},
    {"Medium", PANGO_WEIGHT_MEDIUM},
    {"SemiBold", PANGO_WEIGHT_SEMIBOLD},
    {"DemiBold", PANGO_WEIGHT_SEMIBOLD},
    {"Bold", PANGO_WEIGHT_BOLD},
    {"ExtraBold", PANGO_WEIGHT_ULTRABOLD},
    {"UltraBold", PANGO_WEIGHT_ULTRABOLD},
    {"Black", PANGO_WEIGHT_HEAVY},
    {"Heavy", PANGO_WEIGHT_HEAVY},
    {"ExtraBlack", PANGO_WEIGHT_ULTRAHEAVY},
}};

struct parsed_font {
    std::string family;
    PangoWeight weight = PANGO_WEIGHT_NORMAL;
    PangoStyle style = PANGO_STYLE_NORMAL;
};

// "Noto Sans CJK SC Bold Italic" → family "Noto Sans CJK SC", bold, italic.
parsed_font parse_font_name(const std::string& name)
{
    parsed_font out;
    std::string rest = name;
    for (bool changed = true; changed;) {
        changed = false;
        const auto space = rest.find_last_of(' ');
        if (space == std::string::npos) {
            break;
        }
        const std::string_view last(rest.c_str() + space + 1);
        if (last == "Italic" || last == "Oblique") {
            out.style = last == "Italic" ? PANGO_STYLE_ITALIC : PANGO_STYLE_OBLIQUE;
            changed = true;
        }
        for (const auto& w : WEIGHT_WORDS) {
            if (last == w.word) {
                out.weight = w.weight;
                changed = true;
            }
        }
        if (changed) {
            rest.resize(space);
        }
    }
    out.family = rest;
    return out;
}

} // namespace

font_choice choose_font(const std::vector<std::string>& text_font)
{
    font_choice out;
    bool has_fallback = false;
    for (std::size_t i = 0; i < text_font.size(); ++i) {
        const parsed_font f = parse_font_name(text_font[i]);
        if (f.family.empty() || f.family.find(',') != std::string::npos) {
            continue;
        }
        if (i == 0) {
            out.weight = f.weight;
            out.style = f.style;
        }
        out.families += (out.families.empty() ? "" : ",") + f.family;
        has_fallback = has_fallback || f.family == FALLBACK_FAMILY;
    }
    if (!has_fallback) {
        out.families += std::string(out.families.empty() ? "" : ",") + FALLBACK_FAMILY;
    }
    return out;
}

text_shaper& text_shaper::for_this_thread()
{
    thread_local text_shaper shaper;
    return shaper;
}

text_shaper::text_shaper()
{
    m_font_map = pango_cairo_font_map_new();
    if (m_font_map == nullptr) {
        throw std::runtime_error("pango: cannot create a font map");
    }
    m_context = pango_font_map_create_context(m_font_map);
    if (m_context == nullptr) {
        g_object_unref(m_font_map);
        throw std::runtime_error("pango: cannot create a context");
    }
    // Unhinted outlines and metrics: glyphs land where HarfBuzz puts them at any position and
    // rotation, and every thread and tile computes the same pixels.
    cairo_font_options_t* options = cairo_font_options_create();
    cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY);
    cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF);
    pango_cairo_context_set_font_options(m_context, options);
    cairo_font_options_destroy(options);
    // Han characters take their Simplified Chinese forms from the CJK fonts.
    pango_context_set_language(m_context, pango_language_from_string("zh-cn"));
}

text_shaper::~text_shaper()
{
    for (auto& [key, d] : m_descriptions) {
        pango_font_description_free(d);
    }
    g_object_unref(m_context);
    g_object_unref(m_font_map);
}

PangoFontDescription* text_shaper::description(const std::vector<std::string>& text_font)
{
    std::string key;
    for (const auto& f : text_font) {
        key += f;
        key.push_back('\n');
    }
    auto it = m_descriptions.find(key);
    if (it != m_descriptions.end()) {
        return it->second;
    }
    const font_choice choice = choose_font(text_font);
    PangoFontDescription* d = pango_font_description_new();
    pango_font_description_set_family(d, choice.families.c_str());
    pango_font_description_set_weight(d, choice.weight);
    pango_font_description_set_style(d, choice.style);
    m_descriptions.emplace(std::move(key), d);
    return d;
}

layout_ptr text_shaper::shape(const std::string& text, const std::vector<std::string>& text_font, double size_px,
                              double wrap_width_px, PangoAlignment align)
{
    PangoFontDescription* d = description(text_font);
    pango_font_description_set_absolute_size(d, size_px * PANGO_SCALE);
    layout_ptr layout(pango_layout_new(m_context));
    pango_layout_set_font_description(layout.get(), d); // copies d
    pango_layout_set_text(layout.get(), text.c_str(), static_cast<int>(text.size()));
    if (wrap_width_px > 0) {
        pango_layout_set_width(layout.get(), static_cast<int>(std::lround(wrap_width_px * PANGO_SCALE)));
        pango_layout_set_wrap(layout.get(), PANGO_WRAP_WORD_CHAR);
    }
    pango_layout_set_alignment(layout.get(), align);
    return layout;
}

} // namespace onemap::render::detail
