#include "onemap/importers/shapefile_census.hpp"

#include "onemap/core/error.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace onemap::importers {

namespace {

constexpr std::uint64_t SHP_HEADER = 100;
constexpr std::uint64_t DBF_HEADER = 32;
constexpr std::uint64_t DBF_DESCRIPTOR = 32;

std::uint32_t big_endian_32(const unsigned char* p)
{
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

std::uint32_t little_endian_32(const unsigned char* p)
{
    return (std::uint32_t{p[3]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[1]} << 8) | p[0];
}

std::uint16_t little_endian_16(const unsigned char* p)
{
    return static_cast<std::uint16_t>((p[1] << 8) | p[0]);
}

std::ifstream open_part(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw input_error("source", path + ": cannot be read");
    }
    return in;
}

std::string name_of(const std::string& path)
{
    return fs::path(path).filename().string();
}

// Walks the .shp's record headers; returns each record's offset.
std::vector<std::uint64_t> walk_shp(const std::string& shp, std::vector<std::string>& problems)
{
    std::vector<std::uint64_t> offsets;
    const std::uint64_t size = fs::file_size(shp);
    auto in = open_part(shp);
    std::uint64_t offset = SHP_HEADER;
    std::array<unsigned char, 8> head{};
    while (offset + head.size() <= size) {
        in.seekg(static_cast<std::streamoff>(offset));
        if (!in.read(reinterpret_cast<char*>(head.data()), head.size())) {
            break;
        }
        const std::uint64_t content = 2ULL * big_endian_32(head.data() + 4);
        if (offset + head.size() + content > size) {
            problems.push_back(name_of(shp) + ": record " + std::to_string(offsets.size() + 1) + " at byte " +
                               std::to_string(offset) + " runs past the end of the file (truncated .shp)");
            break;
        }
        offsets.push_back(offset);
        offset += head.size() + content;
    }
    return offsets;
}

void read_shx(const std::string& shx, const std::vector<std::uint64_t>& shp_offsets, shapefile_census& c)
{
    const std::uint64_t size = fs::file_size(shx);
    if (size < SHP_HEADER) {
        c.problems.push_back(name_of(shx) + ": " + std::to_string(size) + " bytes, shorter than its 100-byte header");
        return;
    }
    if ((size - SHP_HEADER) % 8 != 0) {
        c.problems.push_back(name_of(shx) + ": " + std::to_string(size) +
                             " bytes is not a 100-byte header plus 8-byte entries (truncated or corrupt .shx)");
    }
    c.shx_records = static_cast<long long>((size - SHP_HEADER) / 8);
    auto in = open_part(shx);
    in.seekg(static_cast<std::streamoff>(SHP_HEADER));
    std::vector<unsigned char> entries(static_cast<std::size_t>(c.shx_records) * 8);
    in.read(reinterpret_cast<char*>(entries.data()), static_cast<std::streamsize>(entries.size()));
    long long first_misplaced = -1;
    const auto n = std::min<std::size_t>(shp_offsets.size(), static_cast<std::size_t>(c.shx_records));
    for (std::size_t i = 0; i < n; ++i) {
        if (2ULL * big_endian_32(entries.data() + i * 8) != shp_offsets[i]) {
            ++c.shx_misplaced;
            if (first_misplaced < 0) {
                first_misplaced = static_cast<long long>(i);
            }
        }
    }
    if (c.shx_misplaced > 0) {
        c.problems.push_back(name_of(shx) + ": " + std::to_string(c.shx_misplaced) +
                             " entries point elsewhere than the .shp's records (first: record " +
                             std::to_string(first_misplaced + 1) + "); the .shx belongs to another file");
    }
}

void read_dbf(const std::string& dbf, shapefile_census& c)
{
    const std::uint64_t size = fs::file_size(dbf);
    const std::string name = name_of(dbf);
    if (size == 0) {
        c.problems.push_back(name + ": the .dbf is empty (0 bytes): no attributes and no record count");
        return;
    }
    if (size < DBF_HEADER + 1) {
        c.problems.push_back(name + ": " + std::to_string(size) + " bytes, shorter than a .dbf header");
        return;
    }
    auto in = open_part(dbf);
    std::array<unsigned char, DBF_HEADER> head{};
    in.read(reinterpret_cast<char*>(head.data()), head.size());
    c.dbf_records_declared = little_endian_32(head.data() + 4);
    const std::uint64_t header_length = little_endian_16(head.data() + 8);
    const std::uint64_t record_length = little_endian_16(head.data() + 10);

    // Field descriptors up to the 0x0D terminator (or the end of the stated header).
    std::uint64_t fields_length = 1; // the deletion flag
    std::uint64_t offset = DBF_HEADER;
    bool terminated = false;
    bool descriptors_ok = true;
    std::array<unsigned char, DBF_DESCRIPTOR> d{};
    while (offset < size) {
        in.seekg(static_cast<std::streamoff>(offset));
        if (!in.read(reinterpret_cast<char*>(d.data()), 1)) {
            break;
        }
        if (d[0] == 0x0D) {
            terminated = true;
            break;
        }
        if (offset + DBF_DESCRIPTOR > size || !in.read(reinterpret_cast<char*>(d.data() + 1), DBF_DESCRIPTOR - 1)) {
            break;
        }
        const auto* raw = reinterpret_cast<const char*>(d.data());
        const std::string field(raw, strnlen(raw, 11));
        const char type = static_cast<char>(d[11]);
        const bool printable = !field.empty() && std::all_of(field.begin(), field.end(), [](char ch) {
            return static_cast<unsigned char>(ch) >= 0x20;
        });
        if (!printable || std::string("CNFLDMBGPIYT0@O+V").find(type) == std::string::npos || type == '\0') {
            c.problems.push_back(name + ": field descriptor " + std::to_string(c.dbf_fields.size() + 1) + " at byte " +
                                 std::to_string(offset) + " is corrupt (name '" + (printable ? field : "?") +
                                 "', type code " + std::to_string(static_cast<int>(d[11])) + ")");
            descriptors_ok = false;
            break;
        }
        c.dbf_fields.push_back(field);
        fields_length += d[16];
        offset += DBF_DESCRIPTOR;
        if (c.dbf_fields.size() > 2046) { // dBase allows 255, GDAL up to 2046
            break;
        }
    }
    if (descriptors_ok && !terminated) {
        c.problems.push_back(name + ": the field descriptors have no terminator (corrupt .dbf header)");
        descriptors_ok = false;
    }
    const std::uint64_t descriptors_end = offset + 1;
    if (descriptors_ok && header_length < descriptors_end) {
        c.problems.push_back(name + ": header length " + std::to_string(header_length) + " is shorter than its " +
                             std::to_string(c.dbf_fields.size()) + " field descriptors (" +
                             std::to_string(descriptors_end) + " bytes)");
    }
    if (descriptors_ok && record_length != fields_length) {
        c.problems.push_back(name + ": record length " + std::to_string(record_length) +
                             " disagrees with its fields, which add up to " + std::to_string(fields_length));
    }
    if (record_length > 0 && header_length <= size) {
        c.dbf_records_present = static_cast<long long>((size - header_length) / record_length);
    }
    if (c.dbf_records_present != c.dbf_records_declared) {
        c.problems.push_back(name + ": the header declares " + std::to_string(c.dbf_records_declared) +
                             " records but the file holds " + std::to_string(c.dbf_records_present));
    }
    // Records flagged deleted ('*'): GDAL skips them, so they are counted, not lost.
    if (record_length > 0 && header_length <= size) {
        const auto records = static_cast<std::uint64_t>(c.dbf_records_present);
        std::vector<char> chunk(std::max<std::uint64_t>(record_length, 1U << 20) / record_length * record_length);
        in.clear();
        in.seekg(static_cast<std::streamoff>(header_length));
        std::uint64_t seen = 0;
        while (seen < records) {
            in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
            const auto got = static_cast<std::uint64_t>(in.gcount()) / record_length;
            for (std::uint64_t i = 0; i < got && seen < records; ++i, ++seen) {
                c.dbf_records_deleted += chunk[i * record_length] == '*' ? 1 : 0;
            }
            if (got == 0 || !in) {
                break;
            }
        }
    }
}

} // namespace

long long shapefile_census::source_records() const noexcept
{
    return std::max({shp_records, shx_records, dbf_records_declared, dbf_records_present});
}

shapefile_census take_shapefile_census(const std::string& shp, const std::string& shx, const std::string& dbf)
{
    shapefile_census c;
    const auto offsets = walk_shp(shp, c.problems);
    c.shp_records = static_cast<long long>(offsets.size());
    read_shx(shx, offsets, c);
    read_dbf(dbf, c);
    if (c.shp_records != c.shx_records || (fs::file_size(dbf) > 0 && c.dbf_records_declared != c.shp_records)) {
        c.problems.push_back(name_of(shp) + ": its parts disagree: .shp holds " + std::to_string(c.shp_records) +
                             " records, .shx indexes " + std::to_string(c.shx_records) + ", .dbf declares " +
                             std::to_string(c.dbf_records_declared) + " and holds " +
                             std::to_string(c.dbf_records_present));
    }
    return c;
}

} // namespace onemap::importers
