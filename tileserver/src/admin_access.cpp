#include "onemap/tileserver/admin_access.hpp"

#include "onemap/core/error.hpp"

namespace onemap::tileserver {

namespace {

// RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool is_b64token(std::string_view s)
{
    std::size_t i = 0;
    for (; i < s.size(); ++i) {
        const char c = s[i];
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
        if (!ok) {
            break;
        }
    }
    if (i == 0) {
        return false;
    }
    for (; i < s.size(); ++i) {
        if (s[i] != '=') {
            return false;
        }
    }
    return true;
}

} // namespace

bool constant_time_equal(std::string_view presented, std::string_view secret) noexcept
{
    // Every byte of the secret is compared, whatever was presented and wherever it differs.
    unsigned char diff = presented.size() == secret.size() ? 0 : 1;
    for (std::size_t i = 0; i < secret.size(); ++i) {
        const unsigned char p = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
        diff = static_cast<unsigned char>(diff | (p ^ static_cast<unsigned char>(secret[i])));
    }
    return diff == 0;
}

admin_access::admin_access(std::string token) : m_token(std::move(token))
{
    if (m_token.empty()) {
        return;
    }
    if (m_token.size() < MIN_TOKEN_CHARS) {
        throw config_error("the admin token must have at least " + std::to_string(MIN_TOKEN_CHARS) +
                           " characters (e.g. openssl rand -hex 32)");
    }
    if (!is_b64token(m_token)) {
        throw config_error("the admin token may hold only letters, digits and -._~+/ (then '=' padding)");
    }
}

void admin_access::require_admin(const http_request& req) const
{
    if (m_token.empty()) {
        throw forbidden("the admin API is disabled: start the server with ONEMAP_ADMIN_TOKEN set or with "
                        "--admin-token-file, then send 'Authorization: Bearer <token>'");
    }
    const std::string& header = req.get_header_value("Authorization");
    const std::string_view value(header);
    const auto space = value.find(' ');
    if (space == std::string_view::npos || !iequals(value.substr(0, space), "Bearer")) {
        throw unauthorized("the admin API needs 'Authorization: Bearer <token>'");
    }
    std::string_view credential = value.substr(space);
    while (!credential.empty() && credential.front() == ' ') {
        credential.remove_prefix(1);
    }
    while (!credential.empty() && (credential.back() == ' ' || credential.back() == '\t')) {
        credential.remove_suffix(1);
    }
    if (credential.empty()) {
        throw unauthorized("the admin API needs 'Authorization: Bearer <token>'");
    }
    if (!constant_time_equal(credential, m_token)) {
        throw forbidden("the admin token is not valid");
    }
}

} // namespace onemap::tileserver
