#include "onemap/core/log.hpp"

#include "onemap/core/error.hpp"

#include <cpl_error.h>
#include <spdlog/sinks/dup_filter_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace onemap {

spdlog::logger& log()
{
    static std::shared_ptr<spdlog::logger> logger = [] {
        // Repeated lines are written once a second at most, then "Skipped N duplicate
        // messages": while PostgreSQL was down under load the server wrote 191,011 identical
        // "cannot connect" lines (52 MB) in 25 s.
        auto dedup = std::make_shared<spdlog::sinks::dup_filter_sink_mt>(std::chrono::seconds(1));
        dedup->add_sink(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
        auto l = std::make_shared<spdlog::logger>("onemap", dedup);
        l->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
        spdlog::register_logger(l);
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
