#include "onemap/tileserver/http_message.hpp"

#include <algorithm>

namespace onemap::tileserver {

namespace {

const std::string EMPTY;

int hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::string decode(std::string_view s, bool plus_is_space)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '%' && i + 2 < s.size()) {
            const int hi = hex_value(s[i + 1]);
            const int lo = hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(plus_is_space && c == '+' ? ' ' : c);
    }
    return out;
}

// The first header named `name` (case-insensitive) of a request's or a response's list.
template <typename Headers>
auto find_header(Headers& headers, std::string_view name) noexcept
{
    return std::find_if(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); });
}

} // namespace

const char* method_name(http_method m) noexcept
{
    switch (m) {
    case http_method::get: return "GET";
    case http_method::head: return "HEAD";
    case http_method::post: return "POST";
    case http_method::put: return "PUT";
    case http_method::del: return "DELETE";
    case http_method::options: return "OPTIONS";
    case http_method::patch: return "PATCH";
    default: return "OTHER";
    }
}

bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto x = static_cast<unsigned char>(a[i]);
        auto y = static_cast<unsigned char>(b[i]);
        if (x >= 'A' && x <= 'Z') {
            x = static_cast<unsigned char>(x + 32);
        }
        if (y >= 'A' && y <= 'Z') {
            y = static_cast<unsigned char>(y + 32);
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}

bool http_request::has_param(std::string_view name) const noexcept
{
    return std::any_of(params.begin(), params.end(), [&](const auto& p) { return p.first == name; });
}

const std::string& http_request::get_param_value(std::string_view name) const noexcept
{
    for (const auto& p : params) {
        if (p.first == name) {
            return p.second;
        }
    }
    return EMPTY;
}

bool http_request::has_header(std::string_view name) const noexcept
{
    return find_header(headers, name) != headers.end();
}

const std::string& http_request::get_header_value(std::string_view name) const noexcept
{
    const auto it = find_header(headers, name);
    return it == headers.end() ? EMPTY : it->second;
}

void http_request::set_target(std::string_view raw)
{
    target.assign(raw);
    const auto q = raw.find('?');
    path = decode(raw.substr(0, q), false);
    params.clear();
    if (q == std::string_view::npos) {
        return;
    }
    std::string_view query = raw.substr(q + 1);
    if (const auto hash = query.find('#'); hash != std::string_view::npos) {
        query = query.substr(0, hash);
    }
    add_params(query);
}

void http_request::add_params(std::string_view query)
{
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) {
            continue;
        }
        const auto eq = pair.find('=');
        params.emplace_back(decode(pair.substr(0, eq), true),
                            eq == std::string_view::npos ? std::string() : decode(pair.substr(eq + 1), true));
    }
}

void http_response::set_header(std::string_view name, std::string value)
{
    if (const auto it = find_header(headers, name); it != headers.end()) {
        it->second = std::move(value);
    } else {
        headers.emplace_back(name, std::move(value));
    }
}

bool http_response::has_header(std::string_view name) const noexcept
{
    return find_header(headers, name) != headers.end();
}

const std::string& http_response::get_header_value(std::string_view name) const noexcept
{
    const auto it = find_header(headers, name);
    return it == headers.end() ? EMPTY : it->second;
}

void http_response::remove_header(std::string_view name)
{
    headers.erase(std::remove_if(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); }),
                  headers.end());
}

void http_response::set_content(std::string content, std::string_view content_type)
{
    m_shared_owner.reset();
    m_shared = {};
    body = std::move(content);
    set_header("Content-Type", std::string(content_type));
}

void http_response::set_shared_content(std::shared_ptr<const void> owner, std::string_view content,
                                       std::string_view content_type)
{
    body.clear();
    m_shared_owner = std::move(owner);
    m_shared = content;
    set_header("Content-Type", std::string(content_type));
}

void http_response::own_content()
{
    if (m_shared_owner) {
        body.assign(m_shared);
        m_shared_owner.reset();
        m_shared = {};
    }
}

void http_response::reset()
{
    status = 200;
    headers.clear();
    body.clear();
    m_shared_owner.reset();
    m_shared = {};
}

std::string encode_query_param(std::string_view value)
{
    static constexpr char HEX[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '!' || c == '~' || c == '*' || c == '\'' || c == '(' || c == ')') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(HEX[u >> 4]);
            out.push_back(HEX[u & 0xf]);
        }
    }
    return out;
}

std::string_view reason_phrase(int status) noexcept
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

} // namespace onemap::tileserver
