#pragma once
// Text shaping with Pango (HarfBuzz underneath). Pango objects are not thread-safe, so every
// rendering thread owns its font map and context (thread_local); nothing is shared but
// fontconfig's and cairo's own locked caches.
#include <pango/pangocairo.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace onemap::render::detail {

struct gobject_deleter {
    void operator()(void* p) const noexcept { g_object_unref(p); }
};
using layout_ptr = std::unique_ptr<PangoLayout, gobject_deleter>;

/// Family list and weight for a style's text-font stack: "Noto Sans CJK SC Bold" becomes family
/// "Noto Sans CJK SC", weight bold; the stack's families come first, then FALLBACK_FAMILY.
struct font_choice {
    std::string families; ///< comma-separated, as PangoFontDescription takes them
    PangoWeight weight = PANGO_WEIGHT_NORMAL;
    PangoStyle style = PANGO_STYLE_NORMAL;
};
font_choice choose_font(const std::vector<std::string>& text_font);

inline constexpr const char* FALLBACK_FAMILY = "Noto Sans CJK SC";

class text_shaper {
public:
    /// The calling thread's shaper.
    static text_shaper& for_this_thread();

    text_shaper();
    ~text_shaper();
    text_shaper(const text_shaper&) = delete;
    text_shaper& operator=(const text_shaper&) = delete;

    /// Shapes `text` in `size_px` device pixels; wraps lines at `wrap_width_px` when positive.
    layout_ptr shape(const std::string& text, const std::vector<std::string>& text_font, double size_px,
                     double wrap_width_px, PangoAlignment align);

private:
    PangoFontDescription* description(const std::vector<std::string>& text_font);

    PangoFontMap* m_font_map = nullptr;
    PangoContext* m_context = nullptr;
    std::unordered_map<std::string, PangoFontDescription*> m_descriptions; // by joined text-font
};

} // namespace onemap::render::detail
