#pragma once
// One logger for the whole product. Library code logs through it and never prints.
#include <spdlog/spdlog.h>

namespace onemap {

/// The process-wide logger (stderr, thread-safe).
spdlog::logger& log();

/// Routes GDAL/OGR (CPLError) messages into the logger. Idempotent.
void route_gdal_messages();

/// "debug", "info", "warn", "error"; throws config_error for anything else.
void set_log_level(const std::string& level);

} // namespace onemap
