#include "onemap/tileserver/access.hpp"

#include "onemap/core/error.hpp"
#include "onemap/tileserver/api_keys.hpp"

#include "config_yaml.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

namespace onemap::tileserver {

namespace {

[[noreturn]] void fail(const std::string& path, const YAML::Node& node, const std::string& key, const std::string& message)
{
    config_fail(path, node, key, message);
}

std::string scalar(const std::string& path, const YAML::Node& node, const std::string& key)
{
    if (!node.IsScalar()) {
        fail(path, node, key, "must be a single value");
    }
    return node.Scalar();
}

std::string known_list(const std::vector<department_info>& departments)
{
    std::string out;
    for (const auto& d : departments) {
        out += (out.empty() ? "" : ", ") + d.id;
    }
    return out.empty() ? "none are listed under departments:" : "listed: " + out;
}

access_rule parse_rule(const std::string& path, const YAML::Node& node, const std::string& key,
                       const std::vector<department_info>& departments, bool allow_departments)
{
    access_rule rule;
    if (node.IsScalar()) {
        const std::string& word = node.Scalar();
        if (word == "public") {
            rule.kind = layer_access::everyone;
        } else if (word == "internal") {
            rule.kind = layer_access::internal;
        } else {
            fail(path, node, key,
                 "'" + word + "' is not a right: use public, internal" +
                     (allow_departments ? " or {departments: [...]}" : ""));
        }
        return rule;
    }
    if (!allow_departments || !node.IsMap()) {
        fail(path, node, key, allow_departments ? "use public, internal or {departments: [...]}" : "use public or internal");
    }
    for (const auto& entry : node) {
        const std::string name = entry.first.Scalar();
        if (name != "departments") {
            fail(path, entry.first, key + "." + name, "unknown key (a layer's right is public, internal or "
                                                      "{departments: [...]})");
        }
    }
    const YAML::Node list = node["departments"];
    if (!list.IsSequence() || list.size() == 0) {
        fail(path, list, key + ".departments", "must be a non-empty list of department ids");
    }
    rule.kind = layer_access::departments;
    for (const auto& d : list) {
        const std::string id = scalar(path, d, key + ".departments");
        if (std::none_of(departments.begin(), departments.end(), [&](const department_info& k) { return k.id == id; })) {
            fail(path, d, key + ".departments", "unknown department '" + id + "' (" + known_list(departments) + ")");
        }
        if (std::find(rule.departments.begin(), rule.departments.end(), id) == rule.departments.end()) {
            rule.departments.push_back(id);
        }
    }
    return rule;
}

rate_limit parse_rate(const std::string& path, const YAML::Node& node, const std::string& key)
{
    if (!node.IsMap()) {
        fail(path, node, key, "must be {per_second: N, burst: M}");
    }
    rate_limit r;
    for (const auto& entry : node) {
        const std::string name = entry.first.Scalar();
        double value = 0;
        try {
            value = entry.second.as<double>();
        } catch (const YAML::Exception&) {
            fail(path, entry.second, key + "." + name, "must be a number");
        }
        if (!(value > 0) || value > 1e9) {
            fail(path, entry.second, key + "." + name, "must be a positive number");
        }
        if (name == "per_second") {
            r.per_second = value;
        } else if (name == "burst") {
            r.burst = value;
        } else {
            fail(path, entry.first, key + "." + name, "unknown key (a rate has per_second and burst)");
        }
    }
    if (r.per_second <= 0) {
        fail(path, node, key + ".per_second", "is required");
    }
    if (r.burst <= 0) {
        r.burst = std::max(1.0, r.per_second);
    }
    return r;
}

} // namespace

const access_rule& access_rules::rule_for(std::string_view layer) const
{
    const auto it = m_layers.find(layer);
    return it != m_layers.end() ? it->second : m_default;
}

bool access_rules::visible(std::string_view layer, const caller& who) const
{
    const access_rule& rule = rule_for(layer);
    switch (rule.kind) {
    case layer_access::everyone:
        return true;
    case layer_access::internal:
        return who.keyed();
    case layer_access::departments:
        return who.keyed() &&
               std::find(rule.departments.begin(), rule.departments.end(), who.department) != rule.departments.end();
    }
    return false;
}

void access_rules::require(const std::string& layer, const caller& who) const
{
    if (visible(layer, who)) {
        return;
    }
    if (!who.keyed()) {
        throw unauthorized("layer '" + layer + "' is not public: send a department's API key in the X-Onemap-Key "
                           "header or the key query parameter");
    }
    throw forbidden("department '" + who.department + "' has no right to layer '" + layer + "'");
}

access_rules access_rules::read(const std::string& path)
{
    return read(load_config_yaml(path), path);
}

access_rules access_rules::read(const YAML::Node& doc, const std::string& path)
{
    access_rules rules;
    if (const YAML::Node list = doc["departments"]) {
        if (!list.IsSequence()) {
            fail(path, list, "departments", "must be a list of {id, name}");
        }
        std::set<std::string> ids;
        for (std::size_t i = 0; i < list.size(); ++i) {
            const YAML::Node d = list[i];
            const std::string key = "departments[" + std::to_string(i) + "]";
            if (!d.IsMap() || !d["id"]) {
                fail(path, d, key, "needs an id (and a name)");
            }
            for (const auto& entry : d) {
                const std::string name = entry.first.Scalar();
                if (name != "id" && name != "name") {
                    fail(path, entry.first, key + "." + name, "unknown key (a department has an id and a name)");
                }
            }
            department_info info;
            info.id = scalar(path, d["id"], key + ".id");
            info.name = d["name"] ? scalar(path, d["name"], key + ".name") : info.id;
            try {
                check_department(info.id);
            } catch (const input_error& e) {
                fail(path, d["id"], key + ".id", e.what());
            }
            if (!ids.insert(info.id).second) {
                fail(path, d["id"], key + ".id", "department '" + info.id + "' is listed twice");
            }
            rules.m_departments.push_back(std::move(info));
        }
    }
    if (const YAML::Node limits = doc["rate_limits"]) {
        if (!limits.IsMap()) {
            fail(path, limits, "rate_limits", "must hold per_key: and per_address:");
        }
        for (const auto& entry : limits) {
            const std::string name = entry.first.Scalar();
            if (name == "per_key") {
                rules.m_per_key = parse_rate(path, entry.second, "rate_limits.per_key");
            } else if (name == "per_address") {
                rules.m_per_address = parse_rate(path, entry.second, "rate_limits.per_address");
            } else {
                fail(path, entry.first, "rate_limits." + name, "unknown key (rate_limits: has per_key: and per_address:)");
            }
        }
    }
    const YAML::Node access = doc["access"];
    if (!access) {
        return rules;
    }
    if (!access.IsMap()) {
        fail(path, access, "access", "must hold default: and layers:");
    }
    for (const auto& entry : access) {
        const std::string name = entry.first.Scalar();
        if (name != "default" && name != "layers") {
            fail(path, entry.first, "access." + name, "unknown key (access: has default: and layers:)");
        }
    }
    if (const YAML::Node d = access["default"]) {
        rules.m_default = parse_rule(path, d, "access.default", rules.m_departments, false);
    }
    rules.m_restricts = rules.m_default.kind != layer_access::everyone;
    if (const YAML::Node layers = access["layers"]) {
        if (!layers.IsMap()) {
            fail(path, layers, "access.layers", "must map layer names to public, internal or {departments: [...]}");
        }
        for (const auto& entry : layers) {
            const std::string layer = entry.first.Scalar();
            const std::string key = "access.layers." + layer;
            if (rules.m_layers.count(layer) != 0) {
                fail(path, entry.first, key, "layer '" + layer + "' is given a right twice");
            }
            access_rule rule = parse_rule(path, entry.second, key, rules.m_departments, true);
            rules.m_restricts = rules.m_restricts || rule.kind != layer_access::everyone;
            rules.m_layers.emplace(layer, std::move(rule));
        }
    }
    return rules;
}

std::shared_ptr<const std::vector<core::layer>> visible_catalog(std::shared_ptr<const std::vector<core::layer>> catalog,
                                                               const access_rules& rules, const caller& who)
{
    if (!rules.restricts()) {
        return catalog;
    }
    const bool hides = std::any_of(catalog->begin(), catalog->end(), [&](const core::layer& l) {
        return l.is_public && !rules.visible(l.name, who);
    });
    if (!hides) {
        return catalog;
    }
    auto view = std::make_shared<std::vector<core::layer>>(*catalog);
    for (auto& l : *view) {
        l.is_public = l.is_public && rules.visible(l.name, who);
    }
    return view;
}

} // namespace onemap::tileserver
