#include "onemap/render/glyphs.hpp"

#include "distance_field.hpp"
#include "font_catalog.hpp"
#include "glyph_outline.hpp"
#include "glyphs.pb.h"
#include "onemap/core/lru_cache.hpp"
#include "onemap/core/single_flight.hpp"

#include <future>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

namespace onemap::render {

namespace {

constexpr std::uint32_t RANGE_SIZE = 256;
constexpr std::uint32_t MAX_CODE_POINT = 65535; // MapLibre asks for the Basic Multilingual Plane only

struct library_deleter {
    void operator()(FT_Library library) const noexcept { FT_Done_FreeType(library); }
};
using library_ptr = std::unique_ptr<FT_LibraryRec_, library_deleter>;

struct face_deleter {
    void operator()(FT_Face face) const noexcept { FT_Done_Face(face); }
};
using face_ptr = std::unique_ptr<FT_FaceRec_, face_deleter>;

library_ptr make_library()
{
    FT_Library library = nullptr;
    if (const FT_Error err = FT_Init_FreeType(&library); err != 0) {
        throw glyph_error("FreeType cannot be initialised (error " + std::to_string(err) + ")");
    }
    return library_ptr(library);
}

std::string range_name(std::uint32_t start, std::uint32_t end)
{
    return std::to_string(start) + "-" + std::to_string(end);
}

void check_range(std::uint32_t start, std::uint32_t end)
{
    if (start % RANGE_SIZE != 0 || end != start + (RANGE_SIZE - 1) || end > MAX_CODE_POINT) {
        throw glyph_range_error("bad glyph range " + range_name(start, end) +
                                ": a range is 256 code points, {256·k}-{256·k+255}, up to 65535");
    }
}

/// The names of a comma-separated fontstack, trimmed.
std::vector<std::string> split_fontstack(const std::string& fontstack)
{
    std::vector<std::string> names;
    std::size_t begin = 0;
    while (begin <= fontstack.size()) {
        std::size_t end = fontstack.find(',', begin);
        if (end == std::string::npos) {
            end = fontstack.size();
        }
        const std::size_t first = fontstack.find_first_not_of(' ', begin);
        if (first != std::string::npos && first < end) {
            const std::size_t last = fontstack.find_last_not_of(' ', end - 1);
            names.push_back(fontstack.substr(first, last - first + 1));
        }
        begin = end + 1;
    }
    return names;
}

struct found_glyph {
    std::uint32_t code_point;
    std::int32_t ascender; // of the face the glyph comes from, whole pixels
    detail::glyph_outline outline;
};

} // namespace

struct glyph_source::impl {
    explicit impl(std::size_t cache_bytes) : fonts(detail::list_system_fonts()), cache(cache_bytes) {}

    /// \pre ft_mutex is held
    FT_Face face(const std::string& name);
    std::string generate(const std::string& fontstack, const std::vector<std::string>& names, std::uint32_t start,
                         std::uint32_t end);

    const std::map<std::string, detail::font_file> fonts;

    std::mutex ft_mutex; // FreeType objects are not thread-safe; guards library and faces
    library_ptr library = make_library();
    std::map<std::string, face_ptr> faces; // declared after library: closed before it

    mutable std::mutex cache_mutex; // guards cache
    core::lru_cache<std::string> cache; // least recently used ranges go first
    /// Simultaneous requests for one range wait for the one generating it.
    core::single_flight<std::string> in_flight;
};

FT_Face glyph_source::impl::face(const std::string& name)
{
    if (const auto it = faces.find(name); it != faces.end()) {
        return it->second.get();
    }
    const detail::font_file& file = fonts.at(name);
    FT_Face raw = nullptr;
    if (const FT_Error err = FT_New_Face(library.get(), file.path.c_str(), file.face_index, &raw); err != 0) {
        throw glyph_error("font \"" + name + "\": FreeType error " + std::to_string(err) + " opening " + file.path +
                          " face " + std::to_string(file.face_index));
    }
    face_ptr owned(raw);
    if (!FT_IS_SCALABLE(raw)) {
        throw glyph_error("font \"" + name + "\" (" + file.path + ") has no outlines");
    }
    // 24 pt at FreeType's default 72 dpi: 24 px, the size MapLibre expects.
    if (const FT_Error err = FT_Set_Char_Size(raw, 0, FT_F26Dot6{detail::GLYPH_SIZE_PX} * 64, 0, 0); err != 0) {
        throw glyph_error("font \"" + name + "\": FreeType error " + std::to_string(err) + " setting the size");
    }
    return faces.emplace(name, std::move(owned)).first->second.get();
}

std::string glyph_source::impl::generate(const std::string& fontstack, const std::vector<std::string>& names,
                                         std::uint32_t start, std::uint32_t end)
{
    // Outlines under the FreeType lock; the distance fields, where the time goes, outside it.
    std::vector<found_glyph> found;
    {
        const std::lock_guard<std::mutex> lock(ft_mutex);
        std::vector<std::pair<const std::string*, FT_Face>> stack;
        stack.reserve(names.size());
        for (const std::string& name : names) {
            stack.emplace_back(&name, face(name));
        }
        for (std::uint32_t cp = start; cp <= end; ++cp) {
            for (const auto& [name, ft_face] : stack) {
                const FT_UInt index = FT_Get_Char_Index(ft_face, cp);
                if (index == 0) {
                    continue;
                }
                try {
                    found.push_back(found_glyph{cp, static_cast<std::int32_t>(ft_face->size->metrics.ascender / 64),
                                                detail::load_outline(ft_face, index)});
                } catch (const glyph_error& e) {
                    throw glyph_error("font \"" + *name + "\", U+" + std::to_string(cp) + ": " + e.what());
                }
                break;
            }
        }
    }

    llmr::glyphs::glyphs message;
    llmr::glyphs::fontstack* stack = message.add_stacks();
    stack->set_name(fontstack);
    stack->set_range(range_name(start, end));
    for (const found_glyph& g : found) {
        detail::sdf_bitmap sdf = detail::render_distance_field(g.outline.edges);
        llmr::glyphs::glyph* out = stack->add_glyphs();
        out->set_id(g.code_point);
        out->set_width(sdf.width);
        out->set_height(sdf.height);
        out->set_left(sdf.left);
        // fontnik's convention, which MapLibre's shaping offsets are tuned to.
        out->set_top(sdf.top - g.ascender);
        out->set_advance(g.outline.advance);
        if (sdf.width > 0) {
            out->set_bitmap(std::move(sdf.pixels));
        }
    }
    return message.SerializeAsString();
}

glyph_source::glyph_source(std::size_t cache_bytes) : m_impl(std::make_unique<impl>(cache_bytes)) {}

glyph_source::~glyph_source() = default;

std::string glyph_source::range_pbf(const std::string& fontstack, std::uint32_t start, std::uint32_t end)
{
    check_range(start, end);
    std::vector<std::string> names;
    for (std::string& name : split_fontstack(fontstack)) {
        if (m_impl->fonts.count(name) != 0) {
            names.push_back(std::move(name));
        }
    }
    if (names.empty()) {
        throw unknown_fontstack_error("no font of fontstack \"" + fontstack + "\" is installed");
    }

    const std::string key = fontstack + '\n' + std::to_string(start);
    {
        const std::lock_guard<std::mutex> lock(m_impl->cache_mutex);
        if (const std::string* hit = m_impl->cache.get(key)) {
            return *hit;
        }
    }
    return m_impl->in_flight.run(key, [&] {
        {
            const std::lock_guard<std::mutex> lock(m_impl->cache_mutex);
            if (const std::string* hit = m_impl->cache.peek(key)) { // a generation that just ended
                return *hit;
            }
        }
        std::string pbf = m_impl->generate(fontstack, names, start, end);
        const std::lock_guard<std::mutex> lock(m_impl->cache_mutex);
        m_impl->cache.put(key, pbf, pbf.capacity());
        return pbf;
    });
}

std::vector<std::string> glyph_source::fonts() const
{
    std::vector<std::string> names;
    names.reserve(m_impl->fonts.size());
    for (const auto& entry : m_impl->fonts) {
        names.push_back(entry.first);
    }
    return names;
}

std::size_t glyph_source::cached_bytes() const
{
    const std::lock_guard<std::mutex> lock(m_impl->cache_mutex);
    return m_impl->cache.bytes();
}

} // namespace onemap::render
