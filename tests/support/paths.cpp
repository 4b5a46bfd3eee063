#include "tempdb.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <sys/wait.h>

namespace onemap::test {

int run_command(const std::string& command, std::string* output)
{
    std::FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) {
        return -1;
    }
    std::array<char, 4096> buf{};
    std::string out;
    std::size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) {
        out.append(buf.data(), n);
    }
    const int status = pclose(pipe);
    if (const auto report = sanitizer_report(out); !report.empty()) {
        ADD_FAILURE() << "sanitizer report from `" << command << "`:\n" << report;
    }
    if (output != nullptr) {
        *output = std::move(out);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string sanitizer_report(const std::string& output)
{
    // ASan and LSan: "==<pid>==ERROR: AddressSanitizer: …"; UBSan: "<file>:<line>:<col>: runtime error: …".
    auto start = output.find("ERROR: AddressSanitizer");
    start = std::min(start, output.find("ERROR: LeakSanitizer"));
    start = std::min(start, output.find(": runtime error: "));
    if (start == std::string::npos) {
        return {};
    }
    start = output.rfind('\n', start);
    return output.substr(start == std::string::npos ? 0 : start + 1);
}

std::string source_dir() { return ONEMAP_SOURCE_DIR; }
std::string data_samples() { return std::string(ONEMAP_SOURCE_DIR) + "/data-samples"; }
std::string import_exe() { return ONEMAP_IMPORT_EXE; }
std::string server_exe() { return ONEMAP_SERVER_EXE; }

} // namespace onemap::test
