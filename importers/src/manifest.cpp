#include "onemap/importers/manifest.hpp"

#include "onemap/core/calendar.hpp"
#include "onemap/core/error.hpp"
#include "onemap/importers/datum_shift.hpp"
#include "onemap/importers/dissolve.hpp"
#include "onemap/importers/text_decoder.hpp"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>

namespace onemap::importers {

int parse_epsg(const std::string& text)
{
    std::string digits = text;
    if (digits.size() > 5 && (digits.compare(0, 5, "EPSG:") == 0 || digits.compare(0, 5, "epsg:") == 0)) {
        digits = digits.substr(5);
    }
    if (digits.empty() || digits.size() > 6 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
        throw input_error("srs", "srs '" + text + "' is not of the form EPSG:nnnn");
    }
    return std::stoi(digits);
}

void validate_request(const import_request& r)
{
    const std::string& l = r.layer;
    if (!l.empty() && (l.size() > 48 || l.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos ||
                       std::isalpha(static_cast<unsigned char>(l[0])) == 0)) {
        throw config_error("layer name '" + l + "' must be lower-case ASCII letters, digits and _ (max 48), "
                           "starting with a letter");
    }
    if (r.class_levels) {
        if (!r.class_field) {
            throw config_error("class_levels needs class_field (the field whose classes are dissolved)");
        }
        (void)class_levels::parse(*r.class_levels);
    }
    static const std::set<std::string> THEMES{"grid", "natural-resource", "water", "planning", "other"};
    if (THEMES.count(r.theme) == 0) {
        throw config_error("theme '" + r.theme + "' is not one of grid, natural-resource, water, planning, other");
    }
    if (!r.valid_from.empty() && !core::parse_iso_date(r.valid_from)) {
        throw config_error("valid_from '" + r.valid_from + "' is not a date YYYY-MM-DD");
    }
    try {
        if (r.encoding) {
            text_decoder check(*r.encoding);
        }
        if (r.towgs84) {
            parse_towgs84(*r.towgs84);
        }
    } catch (const input_error& e) {
        throw config_error(e.what());
    }
    if (!(r.lock_timeout >= 0)) {
        throw config_error("lock timeout must be 0 or more seconds");
    }
    if (r.towgs84 && r.accept_ballpark) {
        throw config_error("give either towgs84 or accept_ballpark, not both");
    }
}

std::vector<import_request> read_manifest(const std::string& path)
{
    YAML::Node doc;
    try {
        doc = YAML::LoadFile(path);
    } catch (const YAML::Exception& e) {
        throw config_error(path + ": " + e.what());
    }
    // yaml-cpp throws its own exceptions for a subscript of a scalar or a key that is not one:
    // the document's shape is checked first, so every refusal names the file and the entry.
    if (!doc.IsMap() || !doc["layers"] || !doc["layers"].IsSequence()) {
        throw config_error(path + ": needs a 'layers:' list");
    }
    static const std::set<std::string> KEYS{"file", "source_layer", "layer", "title", "department", "theme",
                                            "encoding", "srs", "valid_from", "id_field", "public", "force",
                                            "accept_loss", "towgs84", "accept_ballpark",
                                            "allow_outside_area", "class_field", "class_levels"};
    const auto base = std::filesystem::path(path).parent_path();
    std::vector<import_request> out;
    std::size_t index = 0;
    for (const auto& entry : doc["layers"]) {
        ++index;
        const std::string where = path + ": layers[" + std::to_string(index) + "]";
        if (!entry.IsMap()) {
            throw config_error(where + ": must be a mapping");
        }
        for (const auto& kv : entry) {
            if (!kv.first.IsScalar()) {
                throw config_error(where + ": keys must be plain words");
            }
            if (KEYS.count(kv.first.Scalar()) == 0) {
                throw config_error(where + ": unknown key '" + kv.first.Scalar() + "'");
            }
        }
        auto text = [&](const char* key) -> std::optional<std::string> {
            if (!entry[key]) {
                return std::nullopt;
            }
            try {
                return entry[key].as<std::string>();
            } catch (const YAML::Exception&) {
                throw config_error(where + ": '" + key + "' must be a scalar");
            }
        };
        import_request r;
        const auto file = text("file");
        if (!file || file->empty()) {
            throw config_error(where + ": 'file' is required");
        }
        r.source = (base / *file).lexically_normal().string();
        r.source_layer = text("source_layer");
        r.layer = text("layer").value_or("");
        r.title = text("title").value_or("");
        r.department = text("department").value_or("");
        r.theme = text("theme").value_or("other");
        r.encoding = text("encoding");
        r.id_field = text("id_field");
        if (const auto srs = text("srs")) {
            try {
                r.srs = parse_epsg(*srs);
            } catch (const input_error& e) {
                throw config_error(where + ": " + e.what());
            }
        }
        r.valid_from = text("valid_from").value_or("");
        auto flag = [&](const char* key, bool fallback) {
            const auto v = text(key);
            if (!v) {
                return fallback;
            }
            if (*v != "true" && *v != "false") {
                throw config_error(where + ": '" + key + "' must be true or false, not '" + *v + "'");
            }
            return *v == "true";
        };
        r.is_public = flag("public", true);
        r.force = flag("force", false);
        r.accept_loss = flag("accept_loss", false);
        r.accept_ballpark = flag("accept_ballpark", false);
        r.allow_outside_area = flag("allow_outside_area", false);
        r.towgs84 = text("towgs84");
        r.class_field = text("class_field");
        r.class_levels = text("class_levels");
        try {
            validate_request(r);
        } catch (const config_error& e) {
            throw config_error(where + ": " + e.what());
        }
        out.push_back(std::move(r));
    }
    return out;
}

std::string summary_json(const std::vector<import_result>& results)
{
    nlohmann::json layers = nlohmann::json::array();
    bool ok = true;
    for (const auto& r : results) {
        ok = ok && r.status != "failed";
        nlohmann::json notes = nlohmann::json::array();
        auto add = [](nlohmann::json& arr, const std::vector<feature_note>& list) {
            for (const auto& n : list) {
                arr.push_back({{"feature", n.feature}, {"kind", n.kind}, {"detail", n.detail}});
            }
        };
        nlohmann::json repairs = nlohmann::json::array();
        nlohmann::json rejections = nlohmann::json::array();
        add(repairs, r.repairs);
        add(rejections, r.rejections);
        nlohmann::json item = {{"source", r.source},     {"layer", r.layer},
                               {"status", r.status},     {"version", r.version},
                               {"valid_from", r.valid_from}, {"features", r.features},
                               {"repaired", r.repaired}, {"rejected", r.rejected},
                               {"seconds", r.seconds},   {"source_srid", r.source_srid},
                               {"source_encoding", r.source_encoding}, {"notes", r.notes},
                               {"repairs", repairs},     {"rejections", rejections}};
        item["source_features"] = r.source_features;
        item["read"] = r.read;
        item["not_read"] = r.not_read;
        item["lost"] = r.lost;
        if (!r.transformation.empty()) {
            item["transformation"] = {{"name", r.transformation},
                                      {"accuracy_m", r.transformation_accuracy >= 0 ? nlohmann::json(r.transformation_accuracy)
                                                                                    : nlohmann::json(nullptr)},
                                      {"ballpark", r.ballpark},
                                      {"how", r.transformation_how}};
        }
        if (!r.error.empty()) {
            item["error"] = r.error;
        }
        layers.push_back(std::move(item));
    }
    return nlohmann::json({{"ok", ok}, {"layers", layers}}).dump(2);
}

} // namespace onemap::importers
