#include "onemap/tileserver/http_errors.hpp"

#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"

#include <pqxx/except>
#include <charconv>

namespace onemap::tileserver {

namespace {

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i)
{
    const auto at = [&s](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = at(i);
    std::size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (i + n > s.size() || at(i + 1) < lo || at(i + 1) > hi) {
        return 0;
    }
    for (std::size_t k = 2; k < n; ++k) {
        if (at(i + k) < 0x80 || at(i + k) > 0xbf) {
            return 0;
        }
    }
    return n;
}

} // namespace

bool is_utf8(std::string_view s) noexcept
{
    for (std::size_t i = 0; i < s.size();) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
        } else if (const std::size_t n = utf8_sequence(s, i)) {
            i += n;
        } else {
            return false;
        }
    }
    return true;
}

void append_json_string(std::string& out, std::string_view s)
{
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (std::size_t i = 0; i < s.size();) {
        // A run of characters that need no escaping goes in at once.
        std::size_t plain = i;
        while (plain < s.size()) {
            const auto p = static_cast<unsigned char>(s[plain]);
            if (p < 0x20 || p >= 0x80 || p == '"' || p == '\\') {
                break;
            }
            ++plain;
        }
        if (plain > i) {
            out.append(s.data() + i, plain - i);
            i = plain;
            continue;
        }
        const char c = s[i];
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x80) {
            if (const std::size_t n = utf8_sequence(s, i)) {
                out.append(s.data() + i, n);
                i += n;
            } else {
                out += "\\ufffd"; // not UTF-8 (a GBK byte, a cut sequence): never invalid JSON
                ++i;
            }
            continue;
        }
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20) {
            out += "\\u00";
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 0xf]);
        } else {
            out.push_back(c);
        }
        ++i;
    }
    out.push_back('"');
}

void append_fixed(std::string& out, double v, int decimals)
{
    char num[64];
    const auto r = std::to_chars(num, num + sizeof num, v, std::chars_format::fixed, decimals);
    out.append(num, r.ptr);
}

void send_problem(http_response& res, int status, const std::string& title,
                  const std::string& detail, const std::string& parameter)
{
    std::string body;
    body.reserve(96 + title.size() + detail.size() + parameter.size());
    body += "{\"type\":\"about:blank\",\"title\":";
    append_json_string(body, title);
    body += ",\"status\":";
    body += std::to_string(status);
    body += ",\"detail\":";
    append_json_string(body, detail);
    if (!parameter.empty()) {
        body += ",\"parameter\":";
        append_json_string(body, parameter);
    }
    body += '}';
    res.status = status;
    res.set_content(std::move(body), "application/problem+json");
}

error_answer classify_exception(std::exception_ptr error)
{
    error_answer a;
    const auto unavailable = [&a](std::string detail) {
        a.kind = error_kind::unavailable;
        a.status = 503;
        a.detail = std::move(detail);
        a.retry_after_s = 1;
    };
    try {
        std::rethrow_exception(std::move(error));
    } catch (const input_error& e) {
        a.status = 400;
        a.kind = error_kind::bad_value;
        if (dynamic_cast<const missing_parameter*>(&e) != nullptr) {
            a.kind = error_kind::missing_value;
        } else if (dynamic_cast<const out_of_range*>(&e) != nullptr) {
            a.kind = error_kind::out_of_range;
        } else if (dynamic_cast<const version_mismatch*>(&e) != nullptr) {
            a.kind = error_kind::version;
        } else if (dynamic_cast<const not_implemented*>(&e) != nullptr) {
            a.kind = error_kind::not_implemented;
            a.status = 501;
        }
        a.detail = e.what();
        a.parameter = e.parameter();
    } catch (const not_found& e) {
        a.kind = error_kind::not_found;
        a.status = 404;
        a.detail = e.what();
    } catch (const unauthorized& e) {
        a.kind = error_kind::forbidden;
        a.status = 401;
        a.detail = e.what();
        a.www_authenticate = "Bearer realm=\"onemap\"";
    } catch (const forbidden& e) {
        a.kind = error_kind::forbidden;
        a.status = 403;
        a.detail = e.what();
    } catch (const rate_limited& e) {
        a.kind = error_kind::unavailable;
        a.status = 429;
        a.detail = e.what();
        a.retry_after_s = e.retry_after_s();
    } catch (const timeout_error& e) {
        log().warn("{}", e.what());
        unavailable(e.what());
    } catch (const db_error& e) {
        log().error("database: {}", e.what()); // db_error messages are redacted where made
        unavailable("the database cannot be reached");
    } catch (const pqxx::sql_error& e) {
        if (e.sqlstate() == "57014") { // query_canceled: statement_timeout ran out
            unavailable("the query ran longer than the server's limit (--query-timeout-ms) and was cancelled; "
                        "ask for a smaller bbox or a lower limit");
        } else {
            log().error("database: {}", e.what());
            a.detail = "internal error; see the server log";
        }
    } catch (const pqxx::broken_connection& e) {
        log().error("database connection: {}", e.what());
        unavailable("the database cannot be reached");
    } catch (const std::exception& e) {
        log().error("internal error: {}", e.what());
        a.detail = "internal error; see the server log";
    }
    return a;
}

void send_exception(http_response& res, std::exception_ptr error)
{
    const error_answer a = classify_exception(std::move(error));
    send_problem(res, a.status, std::string(reason_phrase(a.status)), a.detail, a.parameter);
    if (a.retry_after_s > 0) {
        res.set_header("Retry-After", std::to_string(a.retry_after_s));
    }
    if (!a.www_authenticate.empty()) {
        res.set_header("WWW-Authenticate", a.www_authenticate);
    }
}

} // namespace onemap::tileserver
