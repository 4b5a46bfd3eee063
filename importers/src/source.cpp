#include "onemap/importers/source.hpp"

#include "onemap/core/error.hpp"

#include <cpl_conv.h>
#include <ogrsf_frmts.h>
#include <cpl_error.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace onemap::importers {

namespace {

std::string lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

std::string upper(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
    return s;
}

// A sibling with the same stem and extension `ext` (".shx"), in lower or upper case.
std::string find_sibling(const fs::path& shp, const std::string& ext)
{
    for (const std::string& e : {ext, upper(ext)}) {
        fs::path p = shp;
        p.replace_extension(e);
        if (fs::exists(p)) {
            return p.string();
        }
    }
    return {};
}

bool is_vector_file(const fs::path& p)
{
    const auto ext = lower(p.extension().string());
    return ext == ".shp" || ext == ".gpkg" || ext == ".geojson" || ext == ".json" ||
           ext == ".zip" || ext == ".gdb" || ext == ".fgb" || ext == ".kml" || ext == ".gml";
}

std::vector<source_layer> layers_of(const std::string& dataset, const std::vector<std::string>& files,
                                    bool shapefile)
{
    dataset_ptr ds = open_vector(dataset);
    std::vector<source_layer> out;
    for (int i = 0; i < ds->GetLayerCount(); ++i) {
        source_layer sl;
        sl.dataset = dataset;
        sl.layer = ds->GetLayer(i)->GetName();
        sl.files = files;
        sl.shapefile = shapefile;
        out.push_back(std::move(sl));
    }
    if (out.empty()) {
        throw input_error("source", dataset + ": contains no vector layer");
    }
    return out;
}

std::vector<std::string> files_under(const fs::path& dir)
{
    std::vector<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        if (e.is_regular_file()) {
            files.push_back(e.path().string());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

} // namespace

dataset_ptr open_vector(const std::string& path, const std::vector<std::string>& open_options)
{
    std::vector<const char*> opts;
    opts.reserve(open_options.size() + 1);
    for (const auto& o : open_options) {
        opts.push_back(o.c_str());
    }
    opts.push_back(nullptr);
    CPLErrorReset();
    auto* ds = static_cast<GDALDataset*>(
        GDALOpenEx(path.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY, nullptr, opts.data(), nullptr));
    if (ds == nullptr) {
        const std::string why = CPLGetLastErrorMsg();
        throw input_error("source", path + ": cannot be opened as vector data" +
                                        (why.empty() ? std::string() : ": " + why));
    }
    return dataset_ptr(ds);
}

std::vector<source_layer> discover_layers(const std::string& path)
{
    const fs::path p(path);
    if (!fs::exists(p)) {
        throw input_error("source", path + ": no such file or folder");
    }
    const auto ext = lower(p.extension().string());
    if (fs::is_directory(p) && ext != ".gdb") {
        std::vector<fs::path> entries;
        for (const auto& e : fs::directory_iterator(p)) {
            if (is_vector_file(e.path())) {
                entries.push_back(e.path());
            }
        }
        std::sort(entries.begin(), entries.end());
        if (entries.empty()) {
            throw input_error("source", path + ": folder holds no vector file");
        }
        std::vector<source_layer> all;
        for (const auto& e : entries) {
            auto more = discover_layers(e.string());
            all.insert(all.end(), more.begin(), more.end());
        }
        return all;
    }
    if (ext == ".gdb") {
        return layers_of(path, files_under(p), false);
    }
    if (ext == ".zip") {
        return layers_of("/vsizip/" + fs::absolute(p).string(), {path}, false);
    }
    if (ext == ".shp") {
        std::vector<std::string> files{path};
        for (const char* required : {".shx", ".dbf"}) {
            const auto sib = find_sibling(p, required);
            if (sib.empty()) {
                throw input_error("source", path + ": the shapefile's " + required +
                                                " part is missing (a shapefile needs .shp, .shx and .dbf)");
            }
            files.push_back(sib);
        }
        for (const char* optional : {".prj", ".cpg"}) {
            const auto sib = find_sibling(p, optional);
            if (!sib.empty()) {
                files.push_back(sib);
            }
        }
        if (fs::file_size(p) < 100) {
            throw input_error("source", path + ": truncated .shp (shorter than its 100-byte header)");
        }
        return layers_of(path, files, true);
    }
    if (fs::is_regular_file(p) && fs::file_size(p) == 0) {
        throw input_error("source", path + ": empty file");
    }
    return layers_of(path, {path}, false);
}

std::string hash_files(const std::vector<std::string>& files, const std::string& extra)
{
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
    std::array<char, 1 << 16> buf{};
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        if (!in) {
            throw input_error("source", f + ": cannot be read");
        }
        while (in) {
            in.read(buf.data(), buf.size());
            EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(in.gcount()));
        }
    }
    EVP_DigestUpdate(ctx.get(), extra.data(), extra.size());
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    static constexpr char HEX[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out.push_back(HEX[md[i] >> 4]);
        out.push_back(HEX[md[i] & 15]);
    }
    return out;
}

} // namespace onemap::importers
