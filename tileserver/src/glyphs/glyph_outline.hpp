#pragma once
// A glyph's contours as FreeType loads them, unhinted, flattened into straight edges.
#include "distance_field.hpp"

#include <ft2build.h>
#include FT_FREETYPE_H

#include <cstdint>
#include <vector>

namespace onemap::render::detail {

struct glyph_outline {
    std::uint32_t advance = 0; ///< whole pixels, truncated like fontnik's horiAdvance / 64
    std::vector<edge> edges;   ///< empty for blank glyphs (space) and glyphs without outlines
};

/// \pre face is sized (FT_Set_Char_Size) and used by one thread at a time.
/// \throws glyph_error when FreeType cannot load or decompose the glyph.
glyph_outline load_outline(FT_Face face, FT_UInt glyph_index);

} // namespace onemap::render::detail
