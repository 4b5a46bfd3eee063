#include "font_catalog.hpp"

#include "onemap/render/glyphs.hpp"

#include <fontconfig/fontconfig.h>

#include <memory>
#include <tuple>

namespace onemap::render::detail {

namespace {

struct pattern_deleter {
    void operator()(FcPattern* p) const noexcept { FcPatternDestroy(p); }
};
struct object_set_deleter {
    void operator()(FcObjectSet* s) const noexcept { FcObjectSetDestroy(s); }
};
struct font_set_deleter {
    void operator()(FcFontSet* s) const noexcept { FcFontSetDestroy(s); }
};

// Family and style names come in several languages; fontnik and FreeType use the English one.
std::string english_value(FcPattern* font, const char* object, const char* lang_object)
{
    std::string first;
    FcChar8* value = nullptr;
    for (int i = 0; FcPatternGetString(font, object, i, &value) == FcResultMatch; ++i) {
        std::string text(reinterpret_cast<const char*>(value)); // not const: returned, moved
        FcChar8* lang = nullptr;
        if (FcPatternGetString(font, lang_object, i, &lang) == FcResultMatch) {
            const std::string l(reinterpret_cast<const char*>(lang));
            if (l == "en" || l.rfind("en-", 0) == 0) {
                return text;
            }
        }
        if (i == 0) {
            first = text;
        }
    }
    return first;
}

} // namespace

std::map<std::string, font_file> list_system_fonts()
{
    if (FcInit() == FcFalse) {
        throw glyph_error("fontconfig cannot load its configuration");
    }
    const std::unique_ptr<FcPattern, pattern_deleter> pattern(FcPatternCreate());
    const std::unique_ptr<FcObjectSet, object_set_deleter> objects(FcObjectSetBuild(
        FC_FILE, FC_INDEX, FC_FAMILY, FC_FAMILYLANG, FC_STYLE, FC_STYLELANG, FC_VARIABLE, static_cast<char*>(nullptr)));
    if (!pattern || !objects) {
        throw glyph_error("fontconfig: out of memory");
    }
    // A distance field needs contours: bitmap-only fonts are of no use.
    FcPatternAddBool(pattern.get(), FC_OUTLINE, FcTrue);
    const std::unique_ptr<FcFontSet, font_set_deleter> set(FcFontList(nullptr, pattern.get(), objects.get()));
    if (!set) {
        throw glyph_error("fontconfig cannot list the installed fonts");
    }

    std::map<std::string, font_file> fonts;
    for (int i = 0; i < set->nfont; ++i) {
        FcPattern* font = set->fonts[i];
        FcChar8* file = nullptr;
        if (FcPatternGetString(font, FC_FILE, 0, &file) != FcResultMatch) {
            continue;
        }
        // The pattern standing for a whole variable font has no single style; its named
        // instances come as patterns of their own.
        FcBool variable = FcFalse;
        if (FcPatternGetBool(font, FC_VARIABLE, 0, &variable) == FcResultMatch && variable == FcTrue) {
            continue;
        }
        int index = 0;
        FcPatternGetInteger(font, FC_INDEX, 0, &index);
        const std::string family = english_value(font, FC_FAMILY, FC_FAMILYLANG);
        if (family.empty()) {
            continue;
        }
        const std::string style = english_value(font, FC_STYLE, FC_STYLELANG);
        font_file candidate{reinterpret_cast<const char*>(file), index};
        const auto [it, inserted] = fonts.emplace(style.empty() ? family : family + ' ' + style, candidate);
        if (!inserted &&
            std::tie(candidate.path, candidate.face_index) < std::tie(it->second.path, it->second.face_index)) {
            it->second = std::move(candidate);
        }
    }
    return fonts;
}

} // namespace onemap::render::detail
