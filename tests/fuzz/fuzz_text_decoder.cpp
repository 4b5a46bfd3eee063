// Shapefile attribute text to UTF-8 (importers::text_decoder) in the encodings .cpg files and
// manifests name, and the encoding names themselves (normalise_encoding, iconv_open). Oracles:
// a decoder answers exactly what iconv answers for the whole text converted at once (with its
// final flush), a decoded text is valid UTF-8, a decoder reused row after row (as the importer
// reuses it) carries no state from one text to the next, and the importer's and the server's
// UTF-8 validators agree. Input: one byte picking the encoding, then the attribute bytes; or
// '=' then an encoding name, a newline and the bytes.
#include "onemap/core/error.hpp"
#include "onemap/importers/text_decoder.hpp"
#include "onemap/tileserver/http_errors.hpp"

#include <iconv.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace {

using onemap::importers::text_decoder;

// What .cpg files and departments write (and a few iconv knows that are not ASCII-based).
// The order of tests/fuzz/make_corpus.py (seeds pick an encoding by its index).
const char* const ENCODINGS[] = {"UTF-8", "GBK", "GB18030", "936", "CP936", "GB2312", "BIG5", "BIG5-HKSCS",
                                 "1252", "ISO-8859-1", "ISO-8859-5", "CP1251", "KOI8-R", "CP932", "EUC-JP",
                                 "EUC-KR", "CP949", "CP1255", "CP1258", "TSCII", "UTF8", "65001", "utf-8",
                                 "UTF-16", "UTF-16LE", "UCS-2", "UTF-32", "ISO-2022-JP", "UTF-7", "CP037"};

[[noreturn]] void finding(const std::string& what, const std::string& encoding, std::string_view bytes)
{
    std::fprintf(stderr, "fuzz finding: %s (encoding '%s', %zu bytes:", what.c_str(), encoding.c_str(), bytes.size());
    for (const char c : bytes) {
        std::fprintf(stderr, " %02x", static_cast<unsigned char>(c));
    }
    std::fprintf(stderr, ")\n");
    std::abort();
}

// iconv over the whole text with room to spare and the final flush: the reference answer.
std::optional<std::string> iconv_all(const std::string& iconv_name, std::string_view bytes)
{
    iconv_t cd = iconv_open("UTF-8", iconv_name.c_str());
    if (cd == reinterpret_cast<iconv_t>(-1)) {
        return std::nullopt;
    }
    const std::unique_ptr<void, int (*)(iconv_t)> owned(cd, iconv_close);
    std::string out(bytes.size() * 16 + 64, '\0');
    char* in_ptr = const_cast<char*>(bytes.data());
    std::size_t in_left = bytes.size();
    char* out_ptr = out.data();
    std::size_t out_left = out.size();
    if (iconv(cd, &in_ptr, &in_left, &out_ptr, &out_left) == static_cast<std::size_t>(-1) ||
        iconv(cd, nullptr, nullptr, &out_ptr, &out_left) == static_cast<std::size_t>(-1)) {
        return std::nullopt;
    }
    out.resize(out.size() - out_left);
    return out;
}

// One decoder per encoding name, reused across inputs like the importer reuses one per layer.
text_decoder* decoder_for(const std::string& name)
{
    static std::map<std::string, std::unique_ptr<text_decoder>> decoders;
    auto it = decoders.find(name);
    if (it == decoders.end()) {
        std::unique_ptr<text_decoder> d;
        try {
            d = std::make_unique<text_decoder>(name);
        } catch (const onemap::input_error&) {
            // unknown to iconv: refused at construction, as the contract says
        }
        if (decoders.size() > 64) {
            decoders.clear(); // fuzzed names: bounded
        }
        it = decoders.emplace(name, std::move(d)).first;
    }
    return it->second.get();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) {
        return -1;
    }
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::string name;
    if (in.front() == '=') {
        const auto nl = in.find('\n');
        if (nl == std::string_view::npos || nl > 40) {
            return -1;
        }
        name = std::string(in.substr(1, nl - 1));
        in.remove_prefix(nl + 1);
    } else {
        name = ENCODINGS[static_cast<unsigned char>(in.front()) % std::size(ENCODINGS)];
        in.remove_prefix(1);
    }

    if (onemap::importers::is_valid_utf8(in) != onemap::tileserver::is_utf8(in)) {
        finding("is_valid_utf8 and is_utf8 disagree", name, in);
    }
    text_decoder* d = decoder_for(name);
    if (d == nullptr) {
        return 0;
    }
    const auto got = d->decode(in);
    if (got && !onemap::importers::is_valid_utf8(*got)) {
        finding("decoded text is not UTF-8", name, in);
    }
    const auto want = d->encoding() == "UTF-8"
                          ? (onemap::importers::is_valid_utf8(in) ? std::optional<std::string>(in) : std::nullopt)
                          : iconv_all(d->encoding(), in);
    if (got != want) {
        finding(got ? (want ? "decoded differently from iconv" : "decoded text iconv refuses")
                    : "refused text iconv decodes",
                name, in);
    }
    return 0;
}
