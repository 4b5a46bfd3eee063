#include "onemap/tileserver/locator.hpp"

#include "onemap/core/db.hpp"
#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"
#include "onemap/tileserver/http_errors.hpp"

#include <yaml-cpp/yaml.h>

#include <chrono>

namespace onemap::tileserver {

std::vector<locate_level> read_locate_levels(const std::string& path)
{
    std::vector<locate_level> out;
    try {
        const YAML::Node doc = YAML::LoadFile(path);
        if (!doc["locate"]) {
            return out;
        }
        for (const auto& l : doc["locate"]) {
            out.push_back(locate_level{l["level"].as<std::string>(), l["layer"].as<std::string>(),
                                       l["code"].as<std::string>(), l["name"].as<std::string>()});
        }
    } catch (const YAML::Exception& e) {
        throw config_error(path + ": locate: " + e.what());
    }
    return out;
}

std::string answer_member(const std::string& level, const core::boundary& b, const std::string& layer,
                          const core::layer_version& v)
{
    std::string out;
    append_json_string(out, level);
    out += ":{\"code\":";
    append_json_string(out, b.code);
    out += ",\"name\":";
    append_json_string(out, b.name);
    out += ",\"layer\":";
    append_json_string(out, layer);
    out += ",\"version\":" + std::to_string(v.version) + ",\"valid_from\":";
    append_json_string(out, v.valid_from);
    return out;
}

namespace {

// Everything an index is built from. Versions are immutable once published (a new import is a
// new version and table), so an equal key means an equal index.
std::string index_key(const locate_level& lv, const core::layer_version& v)
{
    return lv.level + '\x1f' + lv.layer + '\x1f' + lv.code_field + '\x1f' + lv.name_field + '\x1f' +
           std::to_string(v.version) + '\x1f' + v.table + '\x1f' + v.valid_from + '\x1f' + v.source_hash;
}

} // namespace

std::shared_ptr<const core::boundary_index> locator::index_for(const std::string& key) const
{
    for (const auto& st : m_state) {
        for (const auto& entry : st.by_version) {
            if (entry.second.key == key) {
                return entry.second.index;
            }
        }
    }
    return nullptr;
}

locator::locator(pqxx::connection_base& conn, const std::vector<core::layer>& catalog, std::vector<locate_level> levels,
                 const locator* previous)
    : m_levels(std::move(levels)), m_catalog(catalog)
{
    pqxx::read_transaction txn(conn);
    for (const auto& lv : m_levels) {
        level_state st;
        st.config = lv;
        for (const auto& l : m_catalog) {
            if (l.name == lv.layer) {
                st.layer = &l;
            }
        }
        if (st.layer == nullptr) {
            log().warn("locate: layer '{}' ({}) is not in the catalog", lv.layer, lv.level);
            m_state.push_back(std::move(st));
            continue;
        }
        for (const auto& v : st.layer->versions) {
            bool has_fields = false;
            int found = 0;
            for (const auto& a : v.attributes) {
                found += (a.name == lv.code_field || a.name == lv.name_field) ? 1 : 0;
            }
            has_fields = found == 2;
            if (!has_fields) {
                log().warn("locate: {} version {} lacks {} or {}", lv.layer, v.version, lv.code_field, lv.name_field);
                continue;
            }
            std::string key = index_key(lv, v);
            if (auto kept = previous != nullptr ? previous->index_for(key) : nullptr) {
                st.by_version.emplace(v.version, version_index{std::move(key), std::move(kept)});
                continue;
            }
            const auto started = std::chrono::steady_clock::now();
            auto index = std::make_shared<core::boundary_index>();
            // Identifiers come from the configuration checked against the catalog; quoted.
            for (const auto& r : txn.exec("SELECT fid, " + core::quote_ident(lv.code_field) + "::text, " +
                                          core::quote_ident(lv.name_field) + "::text, ST_AsBinary(geom) FROM " +
                                          core::qualified(core::DATA_SCHEMA, v.table))) {
                const pqxx::binarystring wkb(r[3]);
                core::boundary b{r[1].as<std::string>(""), r[2].as<std::string>(""), r[0].as<std::uint64_t>(), {}};
                b.payload = answer_member(lv.level, b, st.layer->name, v);
                index->add(std::move(b), std::string_view(wkb.get(), wkb.size()));
            }
            index->build();
            log().info("locate: {} version {}: {} boundaries indexed in {} ms ({:.0f} % of the area from the cell table)",
                       lv.layer, v.version, index->size(),
                       std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                           .count(),
                       100 * index->direct_share());
            st.by_version.emplace(v.version, version_index{std::move(key), std::move(index)});
        }
        m_state.push_back(std::move(st));
    }
}

std::vector<located> locator::locate(double lon, double lat, const std::string& date) const
{
    std::vector<located> out;
    out.reserve(m_state.size());
    for (const auto& st : m_state) {
        if (st.layer == nullptr) {
            continue;
        }
        const core::layer_version* v = st.layer->as_of(date);
        if (v == nullptr) {
            continue;
        }
        const auto it = st.by_version.find(v->version);
        if (it == st.by_version.end()) {
            continue;
        }
        if (const core::boundary* b = it->second.index->locate(lon, lat)) {
            out.push_back(located{st.config.level, st.layer->name, b, v});
        }
    }
    return out;
}

std::optional<located> locator::find(const std::string& code, const std::string& date) const
{
    if (m_state.empty() || m_state.back().layer == nullptr) {
        return std::nullopt;
    }
    const auto& st = m_state.back();
    const core::layer_version* v = st.layer->as_of(date);
    if (v == nullptr) {
        return std::nullopt;
    }
    const auto it = st.by_version.find(v->version);
    if (it == st.by_version.end()) {
        return std::nullopt;
    }
    if (const core::boundary* b = it->second.index->find(code)) {
        return located{st.config.level, st.layer->name, b, v};
    }
    return std::nullopt;
}

std::vector<const core::boundary*> locator::neighbors(const std::string& code, const std::string& date) const
{
    const auto self = find(code, date);
    if (!self) {
        return {};
    }
    return m_state.back().by_version.at(self->version->version).index->neighbors(code);
}

} // namespace onemap::tileserver
