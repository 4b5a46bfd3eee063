#pragma once
// The server's one content-coding policy. Debian's cpp-httplib compresses every JSON, XML or
// text answer by itself, with Brotli at quality 11 whenever the client accepts "br" (every
// browser does): that made /locate 11 times slower for web apps (3,146 against 35,960 req/s).
// Instead, handlers' answers pass through encode_response(): large textual bodies are gzipped
// at a fast level, small ones go as they are, and cpp-httplib's own compression never runs.
#include <cstddef>
#include <string_view>

namespace httplib {
struct Request;
struct Response;
} // namespace httplib

namespace onemap::tileserver {

/// Whether an Accept-Encoding value admits gzip (RFC 9110 §12.5.3: "gzip", "x-gzip" or "*"
/// with a q-value above 0; an explicit "gzip;q=0" refuses it even when "*" is accepted).
bool accepts_gzip(std::string_view accept_encoding);

/// Bodies of at least this many bytes are gzipped when the client accepts it; below, a packet
/// carries the answer anyway and compressing costs more than it saves.
inline constexpr std::size_t GZIP_MIN_BYTES = 1400;

/// The JSON media type as the server writes it (the charset keeps cpp-httplib from compressing).
inline constexpr const char* JSON_TYPE = "application/json; charset=utf-8";

/// Applies the policy to a handler's answer: JSON (all +json types), XML and text/ bodies of
/// GZIP_MIN_BYTES or more are gzipped (zlib level 3) for clients that accept it, with
/// `Vary: Accept-Encoding`; bodies already carrying a Content-Encoding are left alone; and the
/// answer is handed to cpp-httplib so that it does not compress again (JSON and XML with the
/// charset named; text/ bodies as a fixed-length content provider, which it never compresses).
void encode_response(const httplib::Request& req, httplib::Response& res);

} // namespace onemap::tileserver
