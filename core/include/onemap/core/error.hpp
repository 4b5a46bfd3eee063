#pragma once
// The one error hierarchy of onemap. The HTTP layer maps these to status codes in one
// place (tileserver/src/http_errors.cpp); mains map them to exit codes.
#include <stdexcept>
#include <string>
#include <utility>

namespace onemap {

class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Configuration files and command-line options that cannot be used.
class config_error : public error {
public:
    using error::error;
};

/// Bad input: a file, a feature, a request parameter. `what()` names which.
class input_error : public error {
public:
    input_error(std::string parameter, const std::string& message)
        : error(message), m_parameter(std::move(parameter)) {}
    explicit input_error(const std::string& message) : error(message) {}
    const std::string& parameter() const noexcept { return m_parameter; }

private:
    std::string m_parameter;
};

/// A required request parameter is absent (400; OWS MissingParameterValue).
class missing_parameter : public input_error {
public:
    explicit missing_parameter(const std::string& parameter) : input_error(parameter, parameter + " is required") {}
};

/// An index outside its range: a tile row or column, a pixel of a tile (400; OWS
/// TileOutOfRange or PointIJOutOfRange).
class out_of_range : public input_error {
public:
    using input_error::input_error;
};

/// A protocol version this server does not speak (400; OWS VersionNegotiationFailed).
class version_mismatch : public input_error {
public:
    using input_error::input_error;
};

/// An operation this server does not offer (501; OWS OperationNotSupported).
class not_implemented : public input_error {
public:
    using input_error::input_error;
};

/// The database cannot be reached or refused a connection (503). Messages never hold a
/// password: connection strings are redacted (core::redact_conninfo).
class db_error : public error {
public:
    using error::error;
};

/// A wait ran past its configured limit (a database connection, a statement, another
/// request's computation of the same tile): 503 with Retry-After. `limit()` names the option.
class timeout_error : public error {
public:
    timeout_error(std::string limit, const std::string& message) : error(message), m_limit(std::move(limit)) {}
    const std::string& limit() const noexcept { return m_limit; }

private:
    std::string m_limit;
};

/// A caller past its request rate (429 with Retry-After).
class rate_limited : public error {
public:
    rate_limited(const std::string& message, int retry_after_s) : error(message), m_retry_after_s(retry_after_s) {}
    int retry_after_s() const noexcept { return m_retry_after_s; }

private:
    int m_retry_after_s;
};

/// A MapLibre style that cannot be drawn: the message names the file, the layer id and the
/// property.
class style_error : public config_error {
public:
    using config_error::config_error;
};

/// The fonts cannot be read or a glyph cannot be drawn (FreeType, fontconfig).
class glyph_error : public error {
public:
    using error::error;
};

class not_found : public error {
public:
    using error::error;
};

class forbidden : public error {
public:
    using error::error;
};

/// No usable credential was presented (401 with WWW-Authenticate); a wrong one is forbidden.
class unauthorized : public forbidden {
public:
    using forbidden::forbidden;
};

} // namespace onemap
