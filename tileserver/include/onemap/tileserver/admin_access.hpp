#pragma once
// Who may use /admin/*: one bearer token from the configuration (ONEMAP_ADMIN_TOKEN or
// --admin-token-file), compared in constant time. Every admin route asks require_admin(), the
// one place that will grow into departments with their own API keys (issue 15).
#include "onemap/tileserver/http_message.hpp"

#include <string>
#include <string_view>

namespace onemap::tileserver {

class admin_access {
public:
    /// "" disables the admin routes (they answer 403 saying how to enable them).
    /// \throws config_error when the token is shorter than MIN_TOKEN_CHARS or holds characters
    /// a Bearer credential cannot carry (RFC 6750 b64token).
    explicit admin_access(std::string token);

    static constexpr std::size_t MIN_TOKEN_CHARS = 16;

    bool enabled() const noexcept { return !m_token.empty(); }
    /// Returns when `req` carries `Authorization: Bearer <the token>`.
    /// \throws unauthorized (401) when it carries no Bearer credential, forbidden (403) when the
    /// credential is wrong or no token is configured.
    void require_admin(const http_request& req) const;

private:
    std::string m_token;
};

/// Whether `presented` equals `secret`, in time that depends on the length of `secret` only.
bool constant_time_equal(std::string_view presented, std::string_view secret) noexcept;

} // namespace onemap::tileserver
