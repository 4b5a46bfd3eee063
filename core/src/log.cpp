#include "onemap/core/log.hpp"

#include "onemap/core/error.hpp"

#include <cpl_error.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace onemap {

spdlog::logger& log()
{
    static std::shared_ptr<spdlog::logger> logger = [] {
        auto l = spdlog::stderr_color_mt("onemap");
        l->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
        return l;
    }();
    return *logger;
}

namespace {

void CPL_STDCALL gdal_to_log(CPLErr level, CPLErrorNum number, const char* message)
{
    switch (level) {
    case CE_Debug:
        log().debug("GDAL: {}", message);
        break;
    case CE_Warning:
        log().warn("GDAL: {}", message);
        break;
    case CE_None:
        break;
    default:
        log().debug("GDAL error {}: {}", number, message);
        break;
    }
}

} // namespace

void route_gdal_messages()
{
    static std::once_flag once;
    std::call_once(once, [] { CPLSetErrorHandler(gdal_to_log); });
}

void set_log_level(const std::string& level)
{
    if (level == "debug") {
        log().set_level(spdlog::level::debug);
    } else if (level == "info") {
        log().set_level(spdlog::level::info);
    } else if (level == "warn") {
        log().set_level(spdlog::level::warn);
    } else if (level == "error") {
        log().set_level(spdlog::level::err);
    } else {
        throw config_error("unknown log level '" + level + "' (debug, info, warn, error)");
    }
}

} // namespace onemap
