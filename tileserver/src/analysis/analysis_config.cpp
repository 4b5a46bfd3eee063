#include "onemap/tileserver/analysis/analysis_config.hpp"

#include "../config_yaml.hpp"

#include <cstring>
#include <set>

namespace onemap::tileserver::analysis {

namespace {

std::string text(const std::string& path, const YAML::Node& n, const std::string& key)
{
    if (!n.IsScalar() || n.Scalar().empty()) {
        config_fail(path, n, key, "must be a non-empty text");
    }
    return n.Scalar();
}

std::vector<std::string> texts(const std::string& path, const YAML::Node& n, const std::string& key)
{
    if (!n.IsSequence()) {
        config_fail(path, n, key, "must be a list");
    }
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n.size(); ++i) {
        out.push_back(text(path, n[i], key + "[" + std::to_string(i) + "]"));
    }
    return out;
}

double positive(const std::string& path, const YAML::Node& n, const std::string& key)
{
    try {
        const double v = n.as<double>();
        if (v > 0) {
            return v;
        }
    } catch (const YAML::Exception&) {
    }
    config_fail(path, n, key, "must be a positive number");
}

check_config read_check(const std::string& path, const YAML::Node& n, const std::string& key)
{
    if (!n.IsMap()) {
        config_fail(path, n, key, "must be a map with id, layer and rule");
    }
    check_config c;
    for (const auto& entry : n) {
        const std::string name = entry.first.Scalar();
        const std::string k = key + "." + name;
        if (name == "id") {
            c.id = text(path, entry.second, k);
        } else if (name == "title") {
            c.title = text(path, entry.second, k);
        } else if (name == "layer") {
            c.layer = text(path, entry.second, k);
        } else if (name == "rule") {
            const std::string r = text(path, entry.second, k);
            if (r == "avoid") {
                c.rule = check_rule::avoid;
            } else if (r == "within") {
                c.rule = check_rule::within;
            } else if (r == "classes") {
                c.rule = check_rule::classes;
            } else {
                config_fail(path, entry.second, k, "must be avoid, within or classes, not '" + r + "'");
            }
        } else if (name == "class_field") {
            c.class_field = text(path, entry.second, k);
        } else if (name == "name_field") {
            c.name_field = text(path, entry.second, k);
        } else if (name == "conflict_classes") {
            c.conflict_classes = texts(path, entry.second, k);
        } else if (name == "attributes") {
            c.attributes = texts(path, entry.second, k);
        } else {
            config_fail(path, entry.first, k,
                        "unknown key (a check has id, title, layer, rule, class_field, name_field, conflict_classes, "
                        "attributes)");
        }
    }
    if (c.id.empty() || c.layer.empty()) {
        config_fail(path, n, key, "needs an id and a layer");
    }
    if (c.title.empty()) {
        c.title = c.id;
    }
    if (c.rule == check_rule::classes && c.class_field.empty()) {
        config_fail(path, n, key, "rule classes needs a class_field");
    }
    if (c.rule != check_rule::classes && (!c.class_field.empty() || !c.conflict_classes.empty())) {
        config_fail(path, n, key, "class_field and conflict_classes belong to rule classes");
    }
    return c;
}

} // namespace

analysis_config read_analysis_config(const YAML::Node& doc, const std::string& path)
{
    analysis_config cfg;
    const YAML::Node a = doc["analysis"];
    if (!a) {
        return cfg;
    }
    if (!a.IsMap()) {
        config_fail(path, a, "analysis", "must be a map");
    }
    for (const auto& entry : a) {
        const std::string name = entry.first.Scalar();
        const std::string k = "analysis." + name;
        const YAML::Node v = entry.second;
        if (name == "checks") {
            if (!v.IsSequence()) {
                config_fail(path, v, k, "must be a list of checks");
            }
            std::set<std::string> ids;
            for (std::size_t i = 0; i < v.size(); ++i) {
                auto c = read_check(path, v[i], k + "[" + std::to_string(i) + "]");
                if (!ids.insert(c.id).second) {
                    config_fail(path, v[i], k + "[" + std::to_string(i) + "].id", "check '" + c.id + "' is listed twice");
                }
                cfg.checks.push_back(std::move(c));
            }
        } else if (name == "land_use") {
            if (!v.IsMap()) {
                config_fail(path, v, k, "must be {layer, class_field, name_field}");
            }
            for (const auto& f : v) {
                const std::string fn = f.first.Scalar();
                if (fn == "layer") {
                    cfg.land_use_layer = text(path, f.second, k + ".layer");
                } else if (fn == "class_field") {
                    cfg.class_field = text(path, f.second, k + ".class_field");
                } else if (fn == "name_field") {
                    cfg.name_field = text(path, f.second, k + ".name_field");
                } else {
                    config_fail(path, f.first, k + "." + fn, "unknown key (layer, class_field, name_field)");
                }
            }
            if (cfg.land_use_layer.empty() || cfg.class_field.empty()) {
                config_fail(path, v, k, "needs a layer and a class_field");
            }
        } else if (name == "limits") {
            if (!v.IsMap()) {
                config_fail(path, v, k, "must be {max_area_km2, max_vertices}");
            }
            for (const auto& f : v) {
                const std::string fn = f.first.Scalar();
                if (fn == "max_area_km2") {
                    cfg.max_area_km2 = positive(path, f.second, k + "." + fn);
                } else if (fn == "max_vertices") {
                    cfg.max_vertices = static_cast<std::size_t>(positive(path, f.second, k + "." + fn));
                } else {
                    config_fail(path, f.first, k + "." + fn, "unknown key (max_area_km2, max_vertices)");
                }
            }
        } else if (name == "memory_mb") {
            cfg.memory_mb = static_cast<std::size_t>(positive(path, v, k));
        } else if (name == "report_tileset") {
            cfg.report_tileset = text(path, v, k);
        } else {
            config_fail(path, entry.first, k,
                        "unknown key (analysis has checks, land_use, limits, memory_mb, report_tileset)");
        }
    }
    return cfg;
}

const char* land_class_level1_name(const std::string& code) noexcept
{
    static const char* const NAMES[][2] = {
        {"00", "湿地"},           {"01", "耕地"},       {"02", "园地"},     {"03", "林地"},
        {"04", "草地"},           {"05", "商业服务业用地"}, {"06", "工矿用地"}, {"07", "住宅用地"},
        {"08", "公共管理与公共服务用地"}, {"09", "特殊用地"}, {"10", "交通运输用地"},
        {"11", "水域及水利设施用地"}, {"12", "其他土地"}};
    for (const auto& n : NAMES) {
        if (code == n[0]) {
            return n[1];
        }
    }
    return "";
}

} // namespace onemap::tileserver::analysis
