#pragma once
// The one place where errors become HTTP statuses: RFC 7807 problem documents naming the
// parameter at fault.
#include "onemap/tileserver/http_message.hpp"

#include <exception>
#include <string>
#include <string_view>

namespace onemap::tileserver {

/// Whether `s` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above
/// U+10FFFF).
bool is_utf8(std::string_view s) noexcept;

/// What an error means to a client, whatever the protocol that reports it.
enum class error_kind {
    bad_value,       ///< 400 (OWS InvalidParameterValue)
    missing_value,   ///< 400 (OWS MissingParameterValue)
    out_of_range,    ///< 400 (OWS TileOutOfRange / PointIJOutOfRange)
    version,         ///< 400 (OWS VersionNegotiationFailed)
    not_implemented, ///< 501 (OWS OperationNotSupported)
    not_found,       ///< 404
    forbidden,       ///< 403 (401 when no credential was presented)
    unavailable,     ///< 503 with Retry-After: the database, a time limit
    internal,        ///< 500
};

struct error_answer {
    error_kind kind = error_kind::internal;
    int status = 500;
    std::string detail;
    std::string parameter;   ///< the request parameter at fault, if any
    int retry_after_s = 0;   ///< > 0: send Retry-After
    std::string www_authenticate; ///< a 401's challenge
};

/// The one mapping of the error hierarchy (core/error.hpp) and of database failures onto what
/// a client is told; logs what the operator must see. send_exception (RFC 7807) and the WMTS
/// exception report both render its answer.
error_answer classify_exception(std::exception_ptr error);

/// Appends `s` as a JSON string literal (UTF-8 passes through; quotes, backslashes and
/// control characters are escaped).
void append_json_string(std::string& out, std::string_view s);

/// Appends `v` in fixed notation with `decimals` digits (std::to_chars: no locale).
void append_fixed(std::string& out, double v, int decimals);

void send_problem(http_response& res, int status, const std::string& title,
                  const std::string& detail, const std::string& parameter = {});

/// Maps the onemap error hierarchy (and anything else, as 500) onto `res`.
void send_exception(http_response& res, std::exception_ptr error);

} // namespace onemap::tileserver
