#pragma once
// The outline fonts installed on the machine, named as MapLibre fontstacks name them.
#include <map>
#include <string>

namespace onemap::render::detail {

struct font_file {
    std::string path;
    int face_index = 0; ///< face within a collection (.ttc)
};

/// Every outline font fontconfig knows, by "Family Style" in English, e.g.
/// "Noto Sans CJK SC Regular" → NotoSansCJK-Regular.ttc, face 2. When two files give the
/// same name, the smaller path wins, so the choice does not depend on fontconfig's order.
/// \throws glyph_error when fontconfig cannot list fonts.
std::map<std::string, font_file> list_system_fonts();

} // namespace onemap::render::detail
