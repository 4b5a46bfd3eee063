#include "onemap/importers/text_decoder.hpp"

#include "onemap/core/error.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>

namespace onemap::importers {

bool is_ascii(std::string_view s) noexcept
{
    return std::all_of(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0x80U) == 0; });
}

bool is_valid_utf8(std::string_view s) noexcept
{
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        }
        if ((c & 0xE0U) == 0xC0U) {
            n = 1;
            cp = c & 0x1FU;
        } else if ((c & 0xF0U) == 0xE0U) {
            n = 2;
            cp = c & 0x0FU;
        } else if ((c & 0xF8U) == 0xF0U) {
            n = 3;
            cp = c & 0x07U;
        } else {
            return false;
        }
        if (i + n >= s.size()) {
            return false;
        }
        for (std::size_t k = 1; k <= n; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0U) != 0x80U) {
                return false;
            }
            cp = (cp << 6U) | (cc & 0x3FU);
        }
        // Overlong forms, surrogates and out-of-range code points are invalid.
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

namespace {

// Printable ASCII, TAB, LF and CR: the same text in every ASCII-based encoding. Other control
// characters may not be (ESC, SO and SI switch character sets in the ISO-2022 family, whose
// escape sequences are otherwise ASCII).
bool plain_ascii(std::string_view s) noexcept
{
    return std::all_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u >= 0x20 && u < 0x7f) || c == '\t' || c == '\n' || c == '\r';
    });
}

} // namespace

std::string normalise_encoding(const std::string& name)
{
    std::string up;
    for (char c : name) {
        if (!std::isspace(static_cast<unsigned char>(c))) {
            up.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
        }
    }
    if (up == "UTF8" || up == "UTF-8" || up == "65001") {
        return "UTF-8";
    }
    if (!up.empty() && std::all_of(up.begin(), up.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        return "CP" + up;
    }
    if (up == "GB2312" || up == "EUC-CN") {
        return "GBK"; // GBK is a superset; departments label GBK files GB2312 often
    }
    return up;
}

text_decoder::text_decoder(const std::string& encoding)
    : m_encoding(normalise_encoding(encoding)), m_utf8(m_encoding == "UTF-8")
{
    // Encoding names are short printable ASCII (GBK, CP936, ISO-8859-1, UTF-16LE…); glibc's
    // iconv_open drops other characters, which turned names with junk in them into encodings.
    const bool printable = !encoding.empty() && encoding.size() <= 64 &&
                           std::all_of(encoding.begin(), encoding.end(), [](char c) {
                               const auto u = static_cast<unsigned char>(c);
                               return u >= 0x20 && u < 0x7f;
                           });
    if (!printable) {
        throw input_error("encoding", "unknown text encoding '" + encoding + "'");
    }
    if (!m_utf8) {
        open_descriptor();
        // EBCDIC, UTF-16 or UTF-7 give printable ASCII bytes other meanings (or make them part
        // of longer sequences): text in them always goes through iconv.
        std::string ascii = "\t\n\r";
        for (char c = 0x20; c < 0x7f; ++c) {
            ascii.push_back(c);
        }
        m_ascii_based = convert(ascii) == ascii;
    }
}

text_decoder::~text_decoder() = default;

void text_decoder::open_descriptor()
{
    iconv_t cd = iconv_open("UTF-8", m_encoding.c_str());
    // iconv_open reports failure as (iconv_t)-1, not as a null pointer.
    if (reinterpret_cast<std::intptr_t>(cd) == -1) {
        throw input_error("encoding", "unknown text encoding '" + m_encoding + "'");
    }
    m_cd.reset(cd);
}

void text_decoder::start_text()
{
    if (m_ascii_based) {
        iconv(m_cd.get(), nullptr, nullptr, nullptr, nullptr); // back to the initial shift state
    } else {
        // glibc's reset keeps the byte order a UTF-16 or UTF-32 byte-order mark taught the
        // descriptor: the next text without a mark was read in that order, not the default. Each
        // text is its own, so these encodings (rare in attribute data) get a new descriptor.
        open_descriptor();
    }
}

std::optional<std::string> text_decoder::decode(std::string_view bytes)
{
    if (m_ascii_based && plain_ascii(bytes)) {
        return std::string(bytes);
    }
    if (m_utf8) {
        return is_valid_utf8(bytes) ? std::optional<std::string>(bytes) : std::nullopt;
    }
    return convert(bytes);
}

std::optional<std::string> text_decoder::convert(std::string_view bytes)
{
    // One byte can become more than four of UTF-8 (TSCII 0x82 is four code points): on E2BIG
    // the conversion starts over with twice the room (glibc's TSCII converter does not resume in
    // order after E2BIG). The final call without input writes what a stateful converter still
    // holds (CP1255 and CP1258 keep the last character back in case a combining mark follows).
    for (std::size_t room = bytes.size() * 4 + 16;; room *= 2) {
        start_text();
        std::string out(room, '\0');
        char* in_ptr = const_cast<char*>(bytes.data());
        std::size_t in_left = bytes.size();
        char* out_ptr = out.data();
        std::size_t out_left = out.size();
        if (iconv(m_cd.get(), &in_ptr, &in_left, &out_ptr, &out_left) != static_cast<std::size_t>(-1) &&
            iconv(m_cd.get(), nullptr, nullptr, &out_ptr, &out_left) != static_cast<std::size_t>(-1)) {
            out.resize(room - out_left);
            // glibc reads some aliases of UTF-8 (a fuzzed "UTF8\xff\xff'") with its own UTF-8
            // decoder, which passes code points past U+10FFFF: the promise is valid UTF-8 out.
            if (!is_valid_utf8(out)) {
                return std::nullopt;
            }
            return out;
        }
        if (errno != E2BIG) {
            return std::nullopt; // EILSEQ or EINVAL: not text in this encoding
        }
    }
}

} // namespace onemap::importers
