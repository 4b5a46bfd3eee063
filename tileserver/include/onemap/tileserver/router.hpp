#pragma once
// The server's one router: routes registered by each capability with typed path parameters,
// matched segment by segment (no regular expression is tried per request), one error mapping
// per route family, one content-coding policy, HEAD for every GET, 405 with Allow for other
// methods, and CORS (preflight and Access-Control-Allow-Origin) on every answer.
#include "onemap/tileserver/http_message.hpp"

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace onemap::tileserver {

using route_handler = std::function<void(const http_request&, http_response&)>;
/// Turns what a handler threw into an answer (RFC 7807 problems, OWS exception reports).
using error_mapper = void (*)(http_response&, std::exception_ptr);

/// Where a route runs. `io_first`: on the I/O thread, moving to a worker if it calls
/// core::may_block() (needs the database, a render, another's computation). `worker`: always
/// on a worker (CPU-heavy answers such as glyph ranges or capabilities documents).
enum class run_on { io_first, worker };

struct route_options {
    error_mapper on_error = nullptr; ///< nullptr: send_exception (RFC 7807)
    run_on where = run_on::io_first;
};

enum class dispatch_result { done, needs_worker };

/// Runs before every route's handler, inside its error mapping (what it throws is answered as
/// the route answers errors; core::would_block moves the request to a worker and runs it again
/// there): who is asking, and may they see the layers the request names — the captures called
/// `tileset`, `layer` or `collectionId` and a `layer` query parameter in any case (WMTS KVP).
using request_hook = std::function<void(http_request&, const std::vector<std::string>& named_layers)>;
/// Runs on every answer (errors, 404 and 405 included; not OPTIONS), after CORS and content
/// coding: the access log, metrics, and headers that depend on the caller.
using response_hook = std::function<void(const http_request&, http_response&)>;

class router {
public:
    router();
    ~router();
    router(router&&) noexcept;
    router& operator=(router&&) noexcept;
    router(const router&) = delete;
    router& operator=(const router&) = delete;

    /// Pattern syntax, segment by segment: literals, `{name}` (any non-empty text without '/'),
    /// `{name:uint}` (digits; anything else answers 400 naming `name`), `{name:a|b}` (one of
    /// the words, else the route does not match), mixed with literals inside a segment
    /// (`{y:uint}@2x.png`, `{start:uint}-{end:uint}.pbf`); a last segment `*` matches any rest.
    /// Routes are tried in the order registered; the first that matches answers.
    void get(std::string_view pattern, route_handler handler, route_options options = {});
    void post(std::string_view pattern, route_handler handler, route_options options = {});
    void del(std::string_view pattern, route_handler handler, route_options options = {});

    void set_hooks(request_hook before, response_hook after);

    /// Access-Control-Allow-Origin on every answer; "" sends no CORS headers.
    void set_cors_origin(std::string origin);

    /// Answers `req` into `res`. On an I/O thread (`on_worker` false) it returns needs_worker,
    /// with `res` untouched, when the route must run on a worker; call it again there.
    dispatch_result dispatch(http_request& req, http_response& res, bool on_worker) const;

private:
    struct impl;
    std::unique_ptr<impl> m_impl;
};

} // namespace onemap::tileserver
