#pragma once
// Strict conversion of attribute text to UTF-8: bytes that do not decode in the declared
// encoding are an error, never silently replaced.
#include <iconv.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace onemap::importers {

class text_decoder {
public:
    /// \throws input_error when iconv does not know `encoding`.
    explicit text_decoder(const std::string& encoding);
    ~text_decoder();
    text_decoder(const text_decoder&) = delete;
    text_decoder& operator=(const text_decoder&) = delete;

    const std::string& encoding() const noexcept { return m_encoding; }

    /// UTF-8 text, or nothing when `bytes` is not valid in the encoding.
    std::optional<std::string> decode(std::string_view bytes);

private:
    struct iconv_closer {
        void operator()(iconv_t cd) const noexcept { iconv_close(cd); }
    };
    void open_descriptor();
    /// The descriptor in its initial state, nothing of the previous text left in it.
    void start_text();
    /// iconv over the whole of `bytes`, with the final flush; nothing when it is not valid.
    std::optional<std::string> convert(std::string_view bytes);

    std::string m_encoding;
    bool m_utf8;
    bool m_ascii_based = true; ///< printable ASCII is itself in this encoding: no iconv for such text
    std::unique_ptr<std::remove_pointer_t<iconv_t>, iconv_closer> m_cd; ///< null for UTF-8
};

bool is_ascii(std::string_view s) noexcept;
bool is_valid_utf8(std::string_view s) noexcept;

/// The iconv name for what users and .cpg files write ("936" → "CP936", "UTF8" → "UTF-8").
std::string normalise_encoding(const std::string& name);

} // namespace onemap::importers
