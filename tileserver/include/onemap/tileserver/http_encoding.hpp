#pragma once
// The server's one content-coding policy: every answer passes through encode_response() (the
// router calls it): large textual bodies are gzipped at a fast level for clients that accept
// gzip, small ones go as they are, and Brotli is never used (at quality 11, as the previous
// HTTP library chose for browsers, it made /locate 11 times slower for web apps).
#include "onemap/tileserver/http_message.hpp"

#include <cstddef>
#include <string_view>

namespace onemap::tileserver {

/// Whether an Accept-Encoding value admits gzip (RFC 9110 §12.5.3: "gzip", "x-gzip" or "*"
/// with a q-value above 0; an explicit "gzip;q=0" refuses it even when "*" is accepted).
bool accepts_gzip(std::string_view accept_encoding);

/// Bodies of at least this many bytes are gzipped when the client accepts it; below, a packet
/// carries the answer anyway and compressing costs more than it saves.
inline constexpr std::size_t GZIP_MIN_BYTES = 1400;

/// The JSON media type as the server writes it.
inline constexpr const char* JSON_TYPE = "application/json; charset=utf-8";

/// Applies the policy to a handler's answer: JSON (all +json types), XML and text/ bodies of
/// GZIP_MIN_BYTES or more are gzipped (zlib level 3) for clients that accept it, with
/// `Vary: Accept-Encoding`; bodies already carrying a Content-Encoding are left alone.
void encode_response(const http_request& req, http_response& res);

/// Text for XML 1.0 and HTML content and attribute values: & < > " ' escaped; what XML cannot
/// carry at all (C0 controls but TAB, LF, CR; U+FFFE, U+FFFF; bytes that are not UTF-8)
/// becomes U+FFFD, so a document quoting a hostile request still parses.
std::string markup_escape(std::string_view s);

} // namespace onemap::tileserver
