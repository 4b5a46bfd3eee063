#include "onemap/tileserver/http_errors.hpp"

#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"

#include <httplib.h>
#include <pqxx/except>
#include <nlohmann/json.hpp>

namespace onemap::tileserver {

void send_problem(httplib::Response& res, int status, const std::string& title,
                  const std::string& detail, const std::string& parameter)
{
    // nlohmann::json escapes; the object is small and flat, built in one pass.
    std::string body = "{\"type\":\"about:blank\",\"title\":" + nlohmann::json(title).dump() +
                       ",\"status\":" + std::to_string(status) + ",\"detail\":" + nlohmann::json(detail).dump();
    if (!parameter.empty()) {
        body += ",\"parameter\":" + nlohmann::json(parameter).dump();
    }
    body += "}";
    res.status = status;
    res.set_content(std::move(body), "application/problem+json");
}

void send_exception(httplib::Response& res, std::exception_ptr error)
{
    try {
        std::rethrow_exception(error);
    } catch (const input_error& e) {
        send_problem(res, 400, "Bad Request", e.what(), e.parameter());
    } catch (const not_found& e) {
        send_problem(res, 404, "Not Found", e.what());
    } catch (const forbidden& e) {
        send_problem(res, 403, "Forbidden", e.what());
    } catch (const db_error& e) {
        log().error("database: {}", e.what());
        send_problem(res, 503, "Service Unavailable", "the database cannot be reached");
    } catch (const pqxx::broken_connection& e) {
        log().error("database connection: {}", e.what());
        send_problem(res, 503, "Service Unavailable", "the database cannot be reached");
    } catch (const std::exception& e) {
        log().error("internal error: {}", e.what());
        send_problem(res, 500, "Internal Server Error", "internal error; see the server log");
    }
}

} // namespace onemap::tileserver
