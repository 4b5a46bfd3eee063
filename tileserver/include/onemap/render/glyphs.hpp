#pragma once
// MapLibre glyph ranges: `{fontstack}/{start}-{end}.pbf`, 256 code points each, rendered as
// signed distance fields the way node-fontnik does (24 px, 3 px buffer, radius 8, cutoff 0.25),
// from the fonts fontconfig knows. Generated on demand and kept in a bounded in-memory cache.
#include "onemap/core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace onemap::render {

using glyph_error = onemap::glyph_error;

/// No font of the fontstack is installed (HTTP 404); what() names the fontstack.
class unknown_fontstack_error : public not_found {
public:
    using not_found::not_found;
};

/// The range is not `{256·k}-{256·k+255}` within 0–65535 (HTTP 400, parameter `range`).
class glyph_range_error : public input_error {
public:
    explicit glyph_range_error(const std::string& message) : input_error("range", message) {}
};

/// Glyph PBFs for fontstacks; thread-safe. Fonts are found with fontconfig once, at
/// construction; FreeType faces are opened on first use.
class glyph_source {
public:
    static constexpr std::size_t DEFAULT_CACHE_BYTES = std::size_t{64} << 20U;

    /// \throws glyph_error when fontconfig or FreeType cannot be initialised.
    explicit glyph_source(std::size_t cache_bytes = DEFAULT_CACHE_BYTES);
    ~glyph_source();
    glyph_source(const glyph_source&) = delete;
    glyph_source& operator=(const glyph_source&) = delete;

    /// PBF bytes (message `llmr.glyphs.glyphs`) of one range of a comma-separated fontstack;
    /// each code point comes from the first font of the stack that has it, unknown names are
    /// skipped. \throws unknown_fontstack_error when no font of the stack is known,
    /// glyph_range_error for a bad range, glyph_error when a font file cannot be read.
    std::string range_pbf(const std::string& fontstack, std::uint32_t start, std::uint32_t end);

    /// Names that can be used in a fontstack (for /fonts.json), sorted, e.g.
    /// "Noto Sans CJK SC Regular": family and style as FreeType and fontnik name them.
    std::vector<std::string> fonts() const;

    /// Bytes of PBFs currently cached; never above the constructor's cache_bytes.
    std::size_t cached_bytes() const;

private:
    struct impl;
    std::unique_ptr<impl> m_impl;
};

} // namespace onemap::render
