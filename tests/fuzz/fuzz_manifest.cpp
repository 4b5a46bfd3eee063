// The import manifest (importers::read_manifest): YAML structure, keys, scalars, flags, srs,
// valid_from, encoding (iconv names), towgs84, layer names and themes. Oracles: a manifest is
// either read or refused with a config_error (naming the entry) — any other exception is a
// finding — and every request read passes validate_request again.
// Input: the manifest text.
#include "onemap/core/error.hpp"
#include "onemap/importers/manifest.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>

namespace {

std::string g_path;

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    // read_manifest takes a path (entries are relative to its folder): one file per process.
    char dir[] = "/tmp/onemap-fuzz-manifest-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
        std::perror("mkdtemp");
        std::abort();
    }
    g_path = std::string(dir) + "/manifest.yaml";
    static std::string s_dir = dir;
    std::atexit([] {
        std::remove(g_path.c_str());
        rmdir(s_dir.c_str());
    });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    {
        std::ofstream out(g_path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    std::vector<onemap::importers::import_request> requests;
    try {
        requests = onemap::importers::read_manifest(g_path);
    } catch (const onemap::config_error&) {
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fuzz finding: read_manifest threw something else than config_error: %s\n", e.what());
        std::abort();
    }
    for (const auto& r : requests) {
        if (r.source.empty()) {
            std::fprintf(stderr, "fuzz finding: a request without a source\n");
            std::abort();
        }
        onemap::importers::validate_request(r); // throws (a finding) when read_manifest let it through
    }
    return 0;
}
