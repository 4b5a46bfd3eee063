#pragma once
// The one error hierarchy of onemap. The HTTP layer maps these to status codes in one
// place (tileserver/src/http_errors.cpp); mains map them to exit codes.
#include <stdexcept>
#include <string>

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

class db_error : public error {
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

} // namespace onemap
