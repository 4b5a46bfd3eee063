#include "onemap/importers/crs_resolution.hpp"

#include "onemap/core/error.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>

namespace onemap::importers {

namespace {

// CGCS2000 3-degree Gauss-Krüger: 4513..4533 = zones 25..45 with the zone number prefixed to
// the false easting; 4534..4554 = the same central meridians (75°E..135°E) without it.
constexpr int GK_PREFIXED_FIRST = 4513;
constexpr int GK_PREFIXED_LAST = 4533;
constexpr int GK_CM_FIRST = 4534;
constexpr int GK_CM_LAST = 4554;
constexpr int GK_FIRST_ZONE = 25;

std::string srs_name(const OGRSpatialReference& srs)
{
    const char* name = srs.GetName();
    return name != nullptr ? name : "unnamed CRS";
}

} // namespace

int gauss_kruger_counterpart(int epsg) noexcept
{
    if (epsg >= GK_PREFIXED_FIRST && epsg <= GK_PREFIXED_LAST) {
        return epsg + (GK_CM_FIRST - GK_PREFIXED_FIRST);
    }
    if (epsg >= GK_CM_FIRST && epsg <= GK_CM_LAST) {
        return epsg - (GK_CM_FIRST - GK_PREFIXED_FIRST);
    }
    return 0;
}

resolved_crs resolve_crs(const OGRSpatialReference* layer_srs, std::optional<int> override_epsg,
                         const std::string& source, const std::string& prj_file)
{
    resolved_crs out;
    if (override_epsg) {
        OGRSpatialReference srs;
        if (srs.importFromEPSG(*override_epsg) != OGRERR_NONE) {
            throw input_error("srs", "--srs EPSG:" + std::to_string(*override_epsg) +
                                         " is not a known EPSG code");
        }
        out.epsg = *override_epsg;
        out.name = srs_name(srs);
        out.how = "--srs";
        return out;
    }
    if ((layer_srs == nullptr || layer_srs->IsEmpty()) && !prj_file.empty() &&
        std::filesystem::exists(prj_file) && std::filesystem::file_size(prj_file) > 0) {
        std::ifstream in(prj_file, std::ios::binary);
        std::string head(80, '\0');
        in.read(head.data(), static_cast<std::streamsize>(head.size()));
        head.resize(static_cast<std::size_t>(in.gcount()));
        for (char& c : head) {
            const auto u = static_cast<unsigned char>(c);
            c = u >= 0x20 && u < 0x7f ? c : '?';
        }
        throw input_error("srs", prj_file + ": the .prj is present (" +
                                     std::to_string(std::filesystem::file_size(prj_file)) +
                                     " bytes) but is not a coordinate system GDAL can read (it starts '" + head +
                                     "'); replace it with the department's .prj, or pass --srs EPSG:nnnn");
    }
    if (layer_srs == nullptr || layer_srs->IsEmpty()) {
        throw input_error("srs", source + ": no coordinate system (.prj missing or empty); "
                                          "pass --srs EPSG:nnnn");
    }
    const char* auth = layer_srs->GetAuthorityName(nullptr);
    const char* code = layer_srs->GetAuthorityCode(nullptr);
    if (auth != nullptr && code != nullptr && std::string(auth) == "EPSG") {
        out.epsg = std::atoi(code);
        out.name = srs_name(*layer_srs);
        out.how = "EPSG code in the source";
        return out;
    }
    int count = 0;
    int* confidence = nullptr;
    OGRSpatialReferenceH* matches = layer_srs->FindMatches(nullptr, &count, &confidence);
    std::unique_ptr<OGRSpatialReferenceH, void (*)(OGRSpatialReferenceH*)> guard(
        matches, [](OGRSpatialReferenceH* m) { OSRFreeSRSArray(m); });
    std::unique_ptr<int, void (*)(void*)> conf_guard(confidence, CPLFree);
    for (int i = 0; i < count; ++i) {
        const auto* m = OGRSpatialReference::FromHandle(matches[i]);
        const char* mauth = m->GetAuthorityName(nullptr);
        const char* mcode = m->GetAuthorityCode(nullptr);
        if (confidence[i] >= 90 && mauth != nullptr && mcode != nullptr && std::string(mauth) == "EPSG") {
            out.epsg = std::atoi(mcode);
            out.name = srs_name(*m);
            out.how = "matched to EPSG with " + std::to_string(confidence[i]) + "% confidence";
            return out;
        }
    }
    throw input_error("srs", source + ": the coordinate system '" + srs_name(*layer_srs) +
                                 "' matches no EPSG code; onemap never stores a custom SRID — "
                                 "pass --srs EPSG:nnnn");
}

void check_gauss_kruger_zone(int epsg, const OGREnvelope& extent, const std::string& source)
{
    const bool prefixed = epsg >= GK_PREFIXED_FIRST && epsg <= GK_PREFIXED_LAST;
    const bool cm_form = epsg >= GK_CM_FIRST && epsg <= GK_CM_LAST;
    if (!prefixed && !cm_form) {
        return;
    }
    // A 3° zone spans less than ±400 km of its central meridian.
    if (prefixed && extent.MaxX < 1e6) {
        throw input_error("srs", source + ": eastings (" + std::to_string(std::lround(extent.MinX)) +
                                     "…) have no zone prefix but EPSG:" + std::to_string(epsg) +
                                     " expects one; the data is probably EPSG:" +
                                     std::to_string(gauss_kruger_counterpart(epsg)) +
                                     " (pass --srs EPSG:" +
                                     std::to_string(gauss_kruger_counterpart(epsg)) + ")");
    }
    if (cm_form && extent.MinX > 1e6) {
        const int zone = static_cast<int>(extent.MinX / 1e6);
        std::string hint;
        if (zone >= GK_FIRST_ZONE && zone <= GK_FIRST_ZONE + (GK_PREFIXED_LAST - GK_PREFIXED_FIRST)) {
            const int code = GK_PREFIXED_FIRST + zone - GK_FIRST_ZONE;
            hint = "; the data is probably EPSG:" + std::to_string(code) + " (pass --srs EPSG:" +
                   std::to_string(code) + ")";
        }
        throw input_error("srs", source + ": eastings (" + std::to_string(std::lround(extent.MinX)) +
                                     "…) carry a zone prefix " + std::to_string(zone) +
                                     " but EPSG:" + std::to_string(epsg) + " has none" + hint);
    }
    if (prefixed) {
        const int zone = GK_FIRST_ZONE + (epsg - GK_PREFIXED_FIRST);
        if (static_cast<int>(extent.MinX / 1e6) != zone) {
            throw input_error("srs", source + ": eastings start " +
                                         std::to_string(static_cast<int>(extent.MinX / 1e6)) +
                                         " but EPSG:" + std::to_string(epsg) + " is zone " +
                                         std::to_string(zone));
        }
    }
}

} // namespace onemap::importers
