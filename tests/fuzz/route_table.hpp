#pragma once
// The server's routes, exactly as onemap-server registers them, over a catalog made up here and
// without a database: requests are answered as the front end answers them on an I/O thread
// (core::set_event_loop_thread), so a route that reaches for the database, a tile computation
// or a render throws core::would_block and stops there — everything before it (the router,
// percent decoding, typed parameters, tile addresses, dates, bbox, filters, KVP, error mapping,
// content coding) runs for real. Shared by fuzz_request, fuzz_wmts and fuzz_features.
#include "onemap/tileserver/http_message.hpp"

#include <optional>
#include <string_view>

namespace onemap::fuzz {

/// Whether Beast's parser takes `target` as a request target (no control characters, spaces or
/// DEL; not empty).
bool valid_target(std::string_view target);

/// Splits raw request text — "METHOD target HTTP/1.1", header lines "Name: value", an empty
/// line, the body — into `req` as the front end does (form bodies of POST become parameters;
/// the peer is loopback). False for what Beast's parser refuses before any route sees it
/// (control characters or spaces in the target, header lines without a name).
bool read_request(std::string_view raw, tileserver::http_request& req);

/// The answer of the server's router to `req`; nullopt when the route needs the database (or
/// another slow resource) to go on. Aborts — a finding — when the answer is one the server
/// must never give: a 5xx other than a deliberate 501/503, a header value with CR, LF or NUL,
/// a JSON body that does not parse, an XML body that is not well-formed, a 204/304 with a
/// body, a gzip body that does not inflate. Exceptions out of the router propagate (the
/// front end would answer 500): libFuzzer reports them.
std::optional<tileserver::http_response> answer(tileserver::http_request& req);

} // namespace onemap::fuzz
