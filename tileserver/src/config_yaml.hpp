#pragma once
// Reading onemap.yaml: loaded once per read, and errors that name the file, the line and the
// key ("onemap.yaml:42: access.layers.grid: …").
#include "onemap/core/error.hpp"

#include <yaml-cpp/yaml.h>

#include <string>

namespace onemap::tileserver {

/// \throws config_error naming the file when it cannot be read or parsed.
inline YAML::Node load_config_yaml(const std::string& path)
{
    try {
        return YAML::LoadFile(path);
    } catch (const YAML::Exception& e) {
        throw config_error(path + ": " + e.what());
    }
}

[[noreturn]] inline void config_fail(const std::string& path, const YAML::Node& node, const std::string& key,
                                     const std::string& message)
{
    const int line = node.Mark().line;
    throw config_error(path + (line >= 0 ? ":" + std::to_string(line + 1) : std::string()) + ": " + key + ": " +
                       message);
}

} // namespace onemap::tileserver
