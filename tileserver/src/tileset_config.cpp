#include "onemap/tileserver/tileset_config.hpp"

#include "onemap/core/error.hpp"

#include "config_yaml.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <set>

namespace onemap::tileserver {

bool tileset_member::keeps(const std::string& attribute) const
{
    return !attributes || std::find(attributes->begin(), attributes->end(), attribute) != attributes->end();
}

std::vector<tileset_config> read_tilesets(const std::string& path)
{
    return read_tilesets(load_config_yaml(path), path);
}

std::vector<tileset_config> read_tilesets(const YAML::Node& doc, const std::string& path)
{
    if (!doc["tilesets"] || !doc["tilesets"].IsSequence()) {
        throw config_error(path + ": needs a 'tilesets:' list");
    }
    std::vector<tileset_config> out;
    std::set<std::string> names;
    for (const auto& t : doc["tilesets"]) {
        tileset_config ts;
        const std::string where = path + ": tileset " + std::to_string(out.size() + 1);
        try {
            ts.name = t["name"].as<std::string>();
            ts.title = t["title"] ? t["title"].as<std::string>() : ts.name;
            ts.description = t["description"] ? t["description"].as<std::string>() : "";
            if (ts.name.empty() || ts.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
                throw config_error(where + ": name '" + ts.name + "' must be lower-case ASCII, digits and _");
            }
            if (!names.insert(ts.name).second) {
                throw config_error(where + ": name '" + ts.name + "' used twice");
            }
            if (!t["layers"] || !t["layers"].IsSequence() || t["layers"].size() == 0) {
                throw config_error(where + ": needs a non-empty 'layers:' list");
            }
            for (const auto& l : t["layers"]) {
                tileset_member m;
                m.layer = l["layer"].as<std::string>();
                m.minzoom = l["minzoom"] ? l["minzoom"].as<int>() : 0;
                m.maxzoom = l["maxzoom"] ? l["maxzoom"].as<int>() : 22;
                if (m.minzoom < 0 || m.maxzoom > 24 || m.minzoom > m.maxzoom) {
                    throw config_error(where + ", layer " + m.layer + ": minzoom/maxzoom out of 0..24 or reversed");
                }
                if (l["attributes"]) {
                    m.attributes = l["attributes"].as<std::vector<std::string>>();
                }
                ts.layers.push_back(std::move(m));
            }
        } catch (const YAML::Exception& e) {
            throw config_error(where + ": " + e.what());
        }
        std::string drawn;
        for (const auto& m : ts.layers) {
            drawn += m.layer + ':' + std::to_string(m.minzoom) + '-' + std::to_string(m.maxzoom) + ':';
            if (m.attributes) {
                for (const auto& a : *m.attributes) {
                    drawn += a + ',';
                }
            } else {
                drawn += '*';
            }
            drawn += ';';
        }
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016zx", std::hash<std::string>{}(drawn));
        ts.revision = hex;
        out.push_back(std::move(ts));
    }
    return out;
}

const tileset_config* find_tileset(const std::vector<tileset_config>& tilesets, const std::string& name) noexcept
{
    for (const auto& t : tilesets) {
        if (t.name == name) {
            return &t;
        }
    }
    return nullptr;
}

std::shared_ptr<const tileset_config> find_tileset(const std::shared_ptr<const std::vector<tileset_config>>& tilesets,
                                                   const std::string& name)
{
    const tileset_config* t = find_tileset(*tilesets, name);
    return t != nullptr ? std::shared_ptr<const tileset_config>(tilesets, t) : nullptr;
}

} // namespace onemap::tileserver
