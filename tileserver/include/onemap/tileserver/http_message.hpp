#pragma once
// A request and its answer as routes see them: plain strings, no Beast or Asio type (those stay
// in http_frontend.cpp). The front end fills an http_request from the parsed message, a route
// fills the http_response, and the front end writes it.
#include <cstddef>
#include <memory>
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace onemap::tileserver {

enum class http_method { get, head, post, put, del, options, patch, other };

/// "GET", "HEAD", "POST", … ("OTHER" for a method the server does not know).
const char* method_name(http_method m) noexcept;

/// Case-insensitive ASCII comparison (header names, tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;

struct http_request {
    http_method method = http_method::get;
    std::string target;  ///< as sent: path and query, percent-encoded
    std::string path;    ///< percent-decoded path, without the query
    std::vector<std::pair<std::string, std::string>> params;  ///< decoded query, in order
    std::vector<std::pair<std::string, std::string>> headers; ///< as sent
    std::string body;
    std::string remote_addr;
    std::vector<std::string> path_params; ///< captures of the matched route, in pattern order
    /// Who is asking (issue 15), set by the router's request hook before the handler runs.
    struct caller_info {
        bool resolved = false;   ///< the key (if any) has been checked
        std::string api_key;     ///< as presented (X-Onemap-Key, or the `key` parameter)
        bool key_in_query = false; ///< it came as `?key=`: links written for this caller carry it
        std::string department;  ///< the key's department; "" without a key
    } caller;
    // For the access log and metrics.
    std::chrono::steady_clock::time_point received{}; ///< when its header was read
    std::string_view route;                           ///< the matched route's pattern ("" = none)
    std::string layer;                                ///< the first layer it names ("" = none)
    std::string zoom;                                 ///< its zoom or tile matrix ("" = none)

    bool has_param(std::string_view name) const noexcept;
    /// The first value of a query parameter; "" when absent.
    const std::string& get_param_value(std::string_view name) const noexcept;
    bool has_header(std::string_view name) const noexcept;
    /// The first value of a header (name case-insensitive); "" when absent.
    const std::string& get_header_value(std::string_view name) const noexcept;
    /// A capture of the matched route by position.
    const std::string& path_param(std::size_t i) const { return path_params.at(i); }

    /// Splits a request target into `path` and `params`, percent-decoding both ('+' is a space
    /// in the query only). Malformed escapes are kept as they are.
    void set_target(std::string_view raw_target);
    /// Appends the parameters of a query string or an application/x-www-form-urlencoded body.
    void add_params(std::string_view query);
};

struct http_response {
    int status = 200;
    /// Header names are literals (they must outlive the response); values are copied.
    std::vector<std::pair<std::string_view, std::string>> headers;
    std::string body;

    /// Replaces a header (or adds it).
    void set_header(std::string_view name, std::string value);
    bool has_header(std::string_view name) const noexcept;
    /// The value of a header; "" when absent.
    const std::string& get_header_value(std::string_view name) const noexcept;
    void remove_header(std::string_view name);

    /// Sets the body (owned) and its Content-Type.
    void set_content(std::string content, std::string_view content_type);
    /// Sets a body that stays owned by `owner` (a cached tile): written without a copy.
    void set_shared_content(std::shared_ptr<const void> owner, std::string_view content, std::string_view content_type);

    /// The bytes to send: the shared body if set, else `body`.
    std::string_view content() const noexcept { return m_shared_owner ? m_shared : std::string_view(body); }
    bool has_shared_content() const noexcept { return static_cast<bool>(m_shared_owner); }
    /// Replaces a shared body by an owned one (the content-coding policy rewrites bodies).
    void own_content();
    /// Back to the state of a new response (a route started again on a worker).
    void reset();

private:
    std::shared_ptr<const void> m_shared_owner;
    std::string_view m_shared;
};

/// Percent-encodes a query parameter value (everything but letters, digits and -_.!~*'()).
std::string encode_query_param(std::string_view value);

/// The reason phrase of a status code ("Not Found").
std::string_view reason_phrase(int status) noexcept;

} // namespace onemap::tileserver
