#include "onemap/tileserver/http_encoding.hpp"

#include "onemap/tileserver/http_errors.hpp"

#include "onemap/tileserver/tile_cache.hpp"

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

void encode_response(const http_request& req, http_response& res)
{
    std::string type = res.get_header_value("Content-Type");
    if (type.empty()) {
        return;
    }
    // JSON and XML are UTF-8 here; saying so costs nothing and keeps every answer's type the same.
    if (type == "application/json" || type == "application/xml") {
        type += "; charset=utf-8";
        res.set_header("Content-Type", type);
    }
    const std::string_view body = res.content();
    if (body.size() >= GZIP_MIN_BYTES && textual(type) && !res.has_header("Content-Encoding")) {
        res.set_header("Vary", "Accept-Encoding");
        if (accepts_gzip(req.get_header_value("Accept-Encoding"))) {
            std::string packed = gzip(std::string(body), 3);
            if (!packed.empty()) {
                res.set_content(std::move(packed), type);
                res.set_header("Content-Encoding", "gzip");
            }
        }
    }
}

std::string markup_escape(std::string_view s)
{
    static constexpr std::string_view REPLACEMENT = "\xef\xbf\xbd";
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x80) {
            const std::size_t n = u >= 0xf0 ? 4 : u >= 0xe0 ? 3 : 2;
            const std::string_view sequence = std::string_view(s).substr(i, n);
            if (!is_utf8(sequence) || sequence.size() != n || sequence == "\xef\xbf\xbe" ||
                sequence == "\xef\xbf\xbf") {
                out += REPLACEMENT; // and go on with the next byte
                continue;
            }
            out += sequence;
            i += n - 1;
            continue;
        }
        if (u < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            out += REPLACEMENT;
            continue;
        }
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&apos;";
            break;
        default:
            out.push_back(c);
        }
    }
    return out;
}

} // namespace onemap::tileserver
