#include "onemap/tileserver/http_encoding.hpp"

#include "onemap/tileserver/tile_cache.hpp"

#include <httplib.h>

#include <cctype>
#include <charconv>
#include <memory>
#include <string>

namespace onemap::tileserver {

namespace {

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

bool iequals(std::string_view a, std::string_view b)
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

bool starts_with(std::string_view s, std::string_view prefix)
{
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// The q-value of one Accept-Encoding element ("gzip;q=0.5"); 1 when absent, 0 when malformed.
double q_value(std::string_view params)
{
    while (!params.empty()) {
        const auto semi = params.find(';');
        const std::string_view p = trim(params.substr(0, semi));
        params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
        if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            const std::string_view value = trim(p.substr(2));
            double q = 0;
            const auto r = std::from_chars(value.data(), value.data() + value.size(), q); // no locale
            return r.ec == std::errc() && r.ptr == value.data() + value.size() && q >= 0 && q <= 1 ? q : 0;
        }
    }
    return 1;
}

bool ends_with(std::string_view s, std::string_view suffix)
{
    return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

// Media types worth compressing: JSON in all its forms, XML, HTML and other text.
bool textual(std::string_view type)
{
    type = trim(type.substr(0, type.find(';')));
    return starts_with(type, "text/") ||
           (starts_with(type, "application/") &&
            (iequals(type, "application/json") || iequals(type, "application/xml") || ends_with(type, "+json") ||
             ends_with(type, "+xml")));
}

// cpp-httplib compresses by itself when the media type is exactly "application/json",
// "application/xml", "application/javascript", "image/svg+xml" or "application/xhtml+xml", or
// starts with "text/". The first five with their charset named mean the same to every client
// and keep it from doing so (text/ bodies are handed over differently, in encode_response()).
void keep_library_compression_off(std::string& type)
{
    if (type == "application/json" || type == "application/xml" || type == "application/javascript" ||
        type == "image/svg+xml" || type == "application/xhtml+xml") {
        type += "; charset=utf-8";
    }
}

} // namespace

bool accepts_gzip(std::string_view header)
{
    double gzip_q = -1;
    double any_q = -1;
    while (!header.empty()) {
        const auto comma = header.find(',');
        const std::string_view element = trim(header.substr(0, comma));
        header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
        const auto semi = element.find(';');
        const std::string_view coding = trim(element.substr(0, semi));
        const double q = semi == std::string_view::npos ? 1.0 : q_value(element.substr(semi + 1));
        if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) {
            gzip_q = std::max(gzip_q, q);
        } else if (coding == "*") {
            any_q = q;
        }
    }
    return gzip_q >= 0 ? gzip_q > 0 : any_q > 0;
}

void encode_response(const httplib::Request& req, httplib::Response& res)
{
    const auto type = res.headers.find("Content-Type");
    if (type == res.headers.end()) {
        return;
    }
    if (res.body.size() >= GZIP_MIN_BYTES && textual(type->second) && !res.has_header("Content-Encoding")) {
        res.set_header("Vary", "Accept-Encoding");
        if (accepts_gzip(req.get_header_value("Accept-Encoding"))) {
            std::string packed = gzip(res.body, 3);
            if (!packed.empty()) {
                res.body = std::move(packed);
                res.set_header("Content-Encoding", "gzip");
            }
        }
    }
    if (starts_with(type->second, "text/") && !res.body.empty()) {
        // cpp-httplib compresses every text/ body by itself, whatever the spelling of the
        // charset, but never a fixed-length content provider: hand the bytes over as one.
        const std::string media_type = type->second;
        res.headers.erase(type);
        auto bytes = std::make_shared<const std::string>(std::move(res.body));
        res.body.clear();
        res.set_content_provider(bytes->size(), media_type.c_str(),
                                 [bytes](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                                     return sink.write(bytes->data() + offset, length);
                                 });
        return;
    }
    keep_library_compression_off(type->second);
}

} // namespace onemap::tileserver
