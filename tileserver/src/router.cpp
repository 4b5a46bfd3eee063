#include "onemap/tileserver/router.hpp"

#include "onemap/core/error.hpp"
#include "onemap/core/event_loop.hpp"
#include "onemap/tileserver/http_encoding.hpp"
#include "onemap/tileserver/http_errors.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace onemap::tileserver {

namespace {

enum class piece_kind { literal, text, uint, choice };

struct piece {
    piece_kind kind = piece_kind::literal;
    std::string text;                 ///< the literal, or the parameter's name
    std::vector<std::string> choices; ///< words of a choice parameter
};

using segment = std::vector<piece>;

struct route {
    http_method method;
    std::string pattern;
    std::vector<segment> segments;
    bool rest = false; ///< the pattern ends in "/*"
    route_handler handler;
    route_options options;
    std::vector<std::size_t> layer_captures; ///< captures that name a layer (request_hook)
    std::optional<std::size_t> zoom_capture; ///< the capture called `z` or `matrix`, if any
};

bool names_layer(const std::string& capture)
{
    return capture == "tileset" || capture == "layer" || capture == "collectionId";
}

// Request text reaches SQL parameters, JSON and XML: what is not UTF-8 is refused here, for
// every route, naming the parameter.
void check_utf8(const http_request& req)
{
    if (!is_utf8(req.path)) {
        throw input_error("path", "the path is not valid UTF-8 (percent-encode UTF-8 bytes only)");
    }
    for (const auto& [name, value] : req.params) {
        if (!is_utf8(name)) {
            throw input_error("query", "a query parameter name is not valid UTF-8");
        }
        if (!is_utf8(value)) {
            throw input_error(name, name + " is not valid UTF-8 (percent-encode UTF-8 bytes only)");
        }
    }
}

std::vector<std::string_view> split_path(std::string_view path)
{
    std::vector<std::string_view> out;
    if (path.empty() || path.front() != '/') {
        return out;
    }
    path.remove_prefix(1);
    while (true) {
        const auto slash = path.find('/');
        out.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) {
            break;
        }
        path.remove_prefix(slash + 1);
    }
    return out;
}

segment parse_segment(std::string_view s, const std::string& pattern)
{
    segment out;
    while (!s.empty()) {
        if (s.front() == '{') {
            const auto close = s.find('}');
            if (close == std::string_view::npos) {
                throw std::logic_error("route pattern " + pattern + ": unclosed '{'");
            }
            const std::string_view spec = s.substr(1, close - 1);
            const auto colon = spec.find(':');
            piece p;
            p.text = std::string(spec.substr(0, colon));
            if (colon == std::string_view::npos) {
                p.kind = piece_kind::text;
            } else if (spec.substr(colon + 1) == "uint") {
                p.kind = piece_kind::uint;
            } else {
                p.kind = piece_kind::choice;
                std::string_view words = spec.substr(colon + 1);
                while (!words.empty()) {
                    const auto bar = words.find('|');
                    p.choices.emplace_back(words.substr(0, bar));
                    words = bar == std::string_view::npos ? std::string_view{} : words.substr(bar + 1);
                }
            }
            if (!out.empty() && out.back().kind != piece_kind::literal) {
                throw std::logic_error("route pattern " + pattern + ": two parameters need a literal between them");
            }
            out.push_back(std::move(p));
            s.remove_prefix(close + 1);
        } else {
            const auto open = s.find('{');
            out.push_back(piece{piece_kind::literal, std::string(s.substr(0, open)), {}});
            s = open == std::string_view::npos ? std::string_view{} : s.substr(open);
        }
    }
    return out;
}

// How one path segment fares against a pattern segment.
enum class fit { no, yes, bad_value };

fit match_segment(const segment& pattern, std::string_view s, std::vector<std::string>& captures,
                  std::optional<input_error>& bad)
{
    std::size_t pos = 0;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const piece& p = pattern[i];
        if (p.kind == piece_kind::literal) {
            if (s.compare(pos, p.text.size(), p.text) != 0) {
                return fit::no;
            }
            pos += p.text.size();
            continue;
        }
        // A parameter runs to the next literal (the last literal of a segment is its suffix).
        std::size_t end = s.size();
        if (i + 1 < pattern.size()) {
            const std::string& next = pattern[i + 1].text;
            if (i + 2 == pattern.size()) {
                if (s.size() < pos + next.size() || s.compare(s.size() - next.size(), next.size(), next) != 0) {
                    return fit::no;
                }
                end = s.size() - next.size();
            } else {
                end = s.find(next, pos);
                if (end == std::string_view::npos) {
                    return fit::no;
                }
            }
        }
        if (end <= pos) {
            return fit::no;
        }
        const std::string_view value = s.substr(pos, end - pos);
        if (p.kind == piece_kind::choice &&
            std::find(p.choices.begin(), p.choices.end(), value) == p.choices.end()) {
            return fit::no;
        }
        if (p.kind == piece_kind::uint && !bad &&
            !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            bad.emplace(p.text, p.text + " must be a non-negative integer, got '" + std::string(value) + "'");
        }
        captures.emplace_back(value);
        pos = end;
    }
    return pos == s.size() ? fit::yes : fit::no;
}

bool path_matches(const route& r, const std::vector<std::string_view>& parts, std::vector<std::string>& captures,
                  std::optional<input_error>& bad)
{
    if (r.rest ? parts.size() < r.segments.size() : parts.size() != r.segments.size()) {
        return false;
    }
    captures.clear();
    bad.reset();
    for (std::size_t i = 0; i < r.segments.size(); ++i) {
        if (match_segment(r.segments[i], parts[i], captures, bad) == fit::no) {
            return false;
        }
    }
    return true;
}

} // namespace

struct router::impl {
    std::vector<route> routes;
    /// Patterns without parameters, by method and path: found without walking the list.
    std::unordered_map<std::string, std::size_t> exact_get;  ///< GET routes without parameters, by path
    std::unordered_map<std::string, std::size_t> exact_post; ///< POST routes without parameters, by path
    std::string cors_origin = "*";
    request_hook before;
    response_hook after;

    // The layers a request names, for the request hook.
    static std::vector<std::string> named_layers(const route& r, const http_request& req)
    {
        std::vector<std::string> out;
        for (const auto i : r.layer_captures) {
            out.push_back(req.path_params.at(i));
        }
        for (const auto& [name, value] : req.params) {
            if (iequals(name, "layer")) {
                out.push_back(value);
            }
        }
        return out;
    }

    void add(http_method method, std::string_view pattern, route_handler handler, route_options options)
    {
        route r;
        r.method = method;
        r.pattern = std::string(pattern);
        auto parts = split_path(pattern);
        if (parts.empty()) {
            throw std::logic_error("route pattern must start with '/': " + r.pattern);
        }
        if (parts.back() == "*") {
            r.rest = true;
            parts.pop_back();
        }
        bool literal = !r.rest;
        std::size_t captures = 0;
        for (const auto& s : parts) {
            r.segments.push_back(parse_segment(s, r.pattern));
            for (const auto& p : r.segments.back()) {
                if (p.kind != piece_kind::literal) {
                    if (names_layer(p.text)) {
                        r.layer_captures.push_back(captures);
                    }
                    if (p.text == "z" || p.text == "matrix") {
                        r.zoom_capture = captures;
                    }
                    ++captures;
                }
            }
            literal = literal && r.segments.back().size() <= 1 &&
                      (r.segments.back().empty() || r.segments.back().front().kind == piece_kind::literal);
        }
        r.handler = std::move(handler);
        r.options = options;
        if (r.options.on_error == nullptr) {
            r.options.on_error = send_exception;
        }
        if (literal && (method == http_method::get || method == http_method::post)) {
            (method == http_method::post ? exact_post : exact_get).emplace(r.pattern, routes.size());
        }
        routes.push_back(std::move(r));
    }

    // The route for `method` at `path`, with its captures (and a typed-parameter error).
    const route* find(http_method method, const std::string& path, const std::vector<std::string_view>& parts,
                      std::vector<std::string>& captures, std::optional<input_error>& bad) const
    {
        if (method == http_method::get || method == http_method::post) {
            const auto& exact = method == http_method::post ? exact_post : exact_get;
            if (const auto it = exact.find(path); it != exact.end()) {
                captures.clear();
                return &routes[it->second];
            }
        }
        // The first route that matches with good values wins; else the first that matched.
        const route* with_bad_value = nullptr;
        std::vector<std::string> bad_captures;
        std::optional<input_error> first_bad;
        for (const auto& r : routes) {
            if (r.method != method || !path_matches(r, parts, captures, bad)) {
                continue;
            }
            if (!bad) {
                return &r;
            }
            if (with_bad_value == nullptr) {
                with_bad_value = &r;
                bad_captures = captures;
                first_bad = bad;
            }
        }
        captures = std::move(bad_captures);
        bad = std::move(first_bad);
        return with_bad_value;
    }

    // Every method some route answers at `path` (GET implies HEAD), for Allow.
    std::string allowed(std::string_view path, const std::vector<std::string_view>& parts) const
    {
        std::vector<std::string> captures;
        std::optional<input_error> bad;
        std::vector<http_method> methods;
        for (const auto& r : routes) {
            if (std::find(methods.begin(), methods.end(), r.method) == methods.end() &&
                (r.pattern == path || path_matches(r, parts, captures, bad))) {
                methods.push_back(r.method);
            }
        }
        std::string allow;
        auto add_name = [&allow](const char* name) { allow += (allow.empty() ? "" : ", ") + std::string(name); };
        for (const auto m : methods) {
            add_name(method_name(m));
            if (m == http_method::get) {
                add_name("HEAD");
            }
        }
        if (!allow.empty()) {
            add_name("OPTIONS");
        }
        return allow;
    }

    void add_cors(const http_request& req, http_response& res) const
    {
        if (cors_origin.empty()) {
            return;
        }
        res.set_header("Access-Control-Allow-Origin", cors_origin);
        if (cors_origin != "*") {
            res.set_header("Vary", res.has_header("Vary") ? res.get_header_value("Vary") + ", Origin" : "Origin");
        }
        if (req.method != http_method::options) {
            res.set_header("Access-Control-Expose-Headers", "ETag, Content-Crs, Retry-After, Location, WWW-Authenticate");
        }
    }
};

router::router() : m_impl(std::make_unique<impl>()) {}
router::~router() = default;
router::router(router&&) noexcept = default;
router& router::operator=(router&&) noexcept = default;

void router::get(std::string_view pattern, route_handler handler, route_options options)
{
    m_impl->add(http_method::get, pattern, std::move(handler), options);
}

void router::post(std::string_view pattern, route_handler handler, route_options options)
{
    m_impl->add(http_method::post, pattern, std::move(handler), options);
}

void router::del(std::string_view pattern, route_handler handler, route_options options)
{
    m_impl->add(http_method::del, pattern, std::move(handler), options);
}

void router::set_hooks(request_hook before, response_hook after)
{
    m_impl->before = std::move(before);
    m_impl->after = std::move(after);
}

void router::set_cors_origin(std::string origin)
{
    m_impl->cors_origin = std::move(origin);
}

dispatch_result router::dispatch(http_request& req, http_response& res, bool on_worker) const
{
    const auto parts = split_path(req.path);
    if (req.method == http_method::options) {
        res.reset();
        const std::string allow = m_impl->allowed(req.path, parts);
        if (allow.empty() && req.path != "*") {
            send_problem(res, 404, "Not Found", "no resource at " + req.path);
        } else {
            // CORS preflight (and plain OPTIONS): what may be asked here, for a day.
            res.status = 204;
            res.set_header("Allow", allow.empty() ? "GET, HEAD, POST, OPTIONS" : allow);
            if (!m_impl->cors_origin.empty()) {
                res.set_header("Access-Control-Allow-Methods", allow.empty() ? "GET, HEAD, POST, OPTIONS" : allow);
                const std::string& asked = req.get_header_value("Access-Control-Request-Headers");
                res.set_header("Access-Control-Allow-Headers",
                               asked.empty() ? "X-Onemap-Key, Content-Type, If-None-Match, Accept-Encoding" : asked);
                res.set_header("Access-Control-Max-Age", "86400");
            }
        }
        m_impl->add_cors(req, res);
        return dispatch_result::done;
    }
    const http_method lookup = req.method == http_method::head ? http_method::get : req.method;
    std::optional<input_error> bad;
    const route* r = m_impl->find(lookup, req.path, parts, req.path_params, bad);
    if (r == nullptr) {
        res.reset();
        const std::string allow = m_impl->allowed(req.path, parts);
        if (!allow.empty()) {
            send_problem(res, 405, "Method Not Allowed",
                         std::string(method_name(req.method)) + " is not allowed on " + req.path + "; use " + allow);
            res.set_header("Allow", allow);
        } else {
            send_problem(res, 404, "Not Found", "no resource at " + req.path);
        }
        m_impl->add_cors(req, res);
        encode_response(req, res);
        if (m_impl->after) {
            m_impl->after(req, res);
        }
        return dispatch_result::done;
    }
    if (r->options.where == run_on::worker && !on_worker) {
        return dispatch_result::needs_worker;
    }
    req.route = r->pattern;
    if (r->zoom_capture && *r->zoom_capture < req.path_params.size()) {
        req.zoom = req.path_params[*r->zoom_capture];
    } else {
        for (const auto& [name, value] : req.params) {
            if (iequals(name, "tilematrix")) {
                req.zoom = value;
            }
        }
    }
    try {
        if (bad) {
            throw input_error(std::move(*bad));
        }
        check_utf8(req);
        if (m_impl->before) {
            const auto named = impl::named_layers(*r, req);
            if (!named.empty()) {
                req.layer = named.front();
            }
            m_impl->before(req, named);
        }
        r->handler(req, res);
    } catch (const core::would_block&) {
        res.reset();
        return dispatch_result::needs_worker;
    } catch (...) {
        res.reset();
        r->options.on_error(res, std::current_exception());
    }
    m_impl->add_cors(req, res);
    encode_response(req, res);
    if (m_impl->after) {
        m_impl->after(req, res);
    }
    return dispatch_result::done;
}

} // namespace onemap::tileserver
