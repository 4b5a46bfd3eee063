#pragma once
// Composite tilesets (the unified basemap): which catalog layers, in which order, at which
// zooms, with which attributes. Read from YAML (tileserver/onemap.yaml).
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace YAML {
class Node;
} // namespace YAML

namespace onemap::tileserver {

struct tileset_member {
    std::string layer;
    int minzoom = 0;
    int maxzoom = 22;
    std::optional<std::vector<std::string>> attributes; ///< none = all

    bool shown_at(int zoom) const noexcept { return zoom >= minzoom && zoom <= maxzoom; }
    bool keeps(const std::string& attribute) const;
};

struct tileset_config {
    std::string name;
    std::string title;
    std::string description;
    std::vector<tileset_member> layers; ///< bottom first
    /// Names what its tiles draw (members, zooms, attributes): part of their cache keys, so a
    /// reloaded configuration that changes the tileset never serves tiles of the old one.
    std::string revision;
};

/// \throws config_error naming the file, entry and key that cannot be used.
std::vector<tileset_config> read_tilesets(const std::string& path);
/// The same from the file's YAML, loaded once by the caller.
std::vector<tileset_config> read_tilesets(const YAML::Node& doc, const std::string& path);

/// The composite named `name`; nullptr when there is none.
const tileset_config* find_tileset(const std::vector<tileset_config>& tilesets, const std::string& name) noexcept;
/// The same, sharing ownership of `tilesets`: it stays alive while the composite is held
/// (a reload may replace the configuration meanwhile).
std::shared_ptr<const tileset_config> find_tileset(const std::shared_ptr<const std::vector<tileset_config>>& tilesets,
                                                   const std::string& name);

} // namespace onemap::tileserver
