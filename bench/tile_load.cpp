// Uncached tile load beside the peer: the same tile list fetched from onemap-server over HTTP,
// or built by PostGIS with the single ST_AsMVT query Martin and pg_tileserv issue, through
// libpq, at the same concurrency. Prints per-band tiles/s, latency percentiles and sizes.
//
//   tile_load --tiles FILE --clients N onemap URL            (URL e.g. http://127.0.0.1:8080/tiles/dltb)
//   tile_load --tiles FILE --clients N postgis CONNINFO TABLE (TABLE e.g. onemap_data.dltb__v1)
//   tile_load --tiles FILE --clients N postgis3857 CONNINFO TABLE
//   (either with --columns "fid, a, b": the columns the peer's tile carries)
//
// `postgis` transforms in the query (the table in EPSG:4490, as onemap stores it);
// `postgis3857` is the peer at its best: a table holding the geometry in EPSG:3857 with its own
// GiST index, no transform in the query (what a Martin user who cares about speed sets up).
//
// FILE holds one "z x y" per line. Each band (z0-8, z9-11, z12-16) is timed on its own.
#include <httplib.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct tile_id {
    int z;
    long long x;
    long long y;
};

struct sample {
    double ms;
    std::size_t bytes;
    std::size_t features;
};

// Features in an MVT (uncompressed): Tile.layers (field 3) → Layer.features (field 2), read
// with a bare protobuf walk so both sides are counted the same way. -1 on a malformed tile.
bool read_varint(const unsigned char*& p, const unsigned char* end, std::uint64_t& v)
{
    v = 0;
    for (int shift = 0; p < end && shift < 64; shift += 7) {
        const unsigned char b = *p++;
        v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
        if ((b & 0x80) == 0) {
            return true;
        }
    }
    return false;
}

long count_fields(const unsigned char* p, const unsigned char* end, std::uint64_t field,
                  long (*inner)(const unsigned char*, const unsigned char*))
{
    long n = 0;
    while (p < end) {
        std::uint64_t key = 0;
        if (!read_varint(p, end, key)) {
            return -1;
        }
        std::uint64_t len = 0;
        switch (key & 7) {
        case 0:
            if (!read_varint(p, end, len)) {
                return -1;
            }
            break;
        case 1:
            p += 8;
            break;
        case 5:
            p += 4;
            break;
        case 2:
            if (!read_varint(p, end, len) || len > static_cast<std::uint64_t>(end - p)) {
                return -1;
            }
            if ((key >> 3) == field) {
                const long k = inner != nullptr ? inner(p, p + len) : 1;
                if (k < 0) {
                    return -1;
                }
                n += k;
            }
            p += len;
            break;
        default:
            return -1;
        }
    }
    return p == end ? n : -1;
}

long features_in_layer(const unsigned char* p, const unsigned char* end)
{
    return count_fields(p, end, 2, nullptr);
}

std::size_t features_in(const std::string& mvt)
{
    const auto* p = reinterpret_cast<const unsigned char*>(mvt.data());
    const long n = count_fields(p, p + mvt.size(), 3, features_in_layer);
    return n < 0 ? 0 : static_cast<std::size_t>(n);
}

const char* band_of(int z)
{
    return z <= 8 ? "z0-8" : (z <= 11 ? "z9-11" : "z12-16");
}

// Martin's query for a table stored in EPSG:4490 with columns fid, geom and the attributes of
// --columns (default "fid, dlbm, dlmc, tbmj"; give every column onemap's tile carries to
// compare like with like).
const char* PEER_SQL =
    "SELECT ST_AsMVT(t, 'dltb', 4096, 'geom', 'fid') FROM (SELECT %s, "
    "ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope($1::int, $2::int, $3::int), 4096, 64, true) AS geom "
    "FROM %s WHERE geom && ST_Transform(ST_TileEnvelope($1::int, $2::int, $3::int, margin => 64.0/4096), 4490)) t";

// The same over a table stored in EPSG:3857 with a GiST index on geom.
const char* PEER_3857_SQL =
    "SELECT ST_AsMVT(t, 'dltb', 4096, 'geom', 'fid') FROM (SELECT %s, "
    "ST_AsMVTGeom(geom, ST_TileEnvelope($1::int, $2::int, $3::int), 4096, 64, true) AS geom "
    "FROM %s WHERE geom && ST_TileEnvelope($1::int, $2::int, $3::int, margin => 64.0/4096)) t";

} // namespace

int main(int argc, char** argv)
{
    std::string tiles_file;
    int clients = 2;
    std::string columns = "fid, dlbm, dlmc, tbmj";
    std::vector<std::string> rest;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--tiles" && i + 1 < argc) {
            tiles_file = argv[++i];
        } else if (a == "--columns" && i + 1 < argc) {
            columns = argv[++i];
        } else if (a == "--clients" && i + 1 < argc) {
            clients = std::stoi(argv[++i]);
        } else {
            rest.push_back(a);
        }
    }
    if (tiles_file.empty() || rest.size() < 2 || (rest[0] != "onemap" && rest.size() < 3)) {
        std::cerr << "usage: tile_load --tiles FILE --clients N (onemap URL | postgis|postgis3857 CONNINFO TABLE)\n";
        return 2;
    }
    std::vector<tile_id> tiles;
    std::ifstream in(tiles_file);
    for (tile_id t{}; in >> t.z >> t.x >> t.y;) {
        tiles.push_back(t);
    }
    const bool onemap = rest[0] == "onemap";

    std::map<std::string, std::vector<tile_id>> bands;
    for (const auto& t : tiles) {
        bands[band_of(t.z)].push_back(t);
    }
    for (const char* band : {"z0-8", "z9-11", "z12-16"}) {
        const auto& list = bands[band];
        if (list.empty()) {
            continue;
        }
        std::atomic<std::size_t> next{0};
        std::mutex m;
        std::vector<sample> samples;
        std::atomic<int> errors{0};
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> threads;
        threads.reserve(static_cast<std::size_t>(clients));
        for (int c = 0; c < clients; ++c) {
            threads.emplace_back([&] {
                std::unique_ptr<httplib::Client> http;
                PGconn* pg = nullptr;
                std::string sql;
                std::string path_prefix;
                if (onemap) {
                    const std::string url = rest[1];
                    const auto slash = url.find('/', url.find("//") + 2);
                    http = std::make_unique<httplib::Client>(url.substr(0, slash));
                    http->set_read_timeout(600, 0);
                    http->set_keep_alive(true);
                    path_prefix = url.substr(slash);
                } else {
                    pg = PQconnectdb(rest[1].c_str());
                    char buf[1024];
                    std::snprintf(buf, sizeof buf, rest[0] == "postgis3857" ? PEER_3857_SQL : PEER_SQL,
                                  columns.c_str(), rest[2].c_str());
                    sql = buf;
                }
                for (std::size_t i = next++; i < list.size(); i = next++) {
                    const auto& t = list[i];
                    const auto t0 = std::chrono::steady_clock::now();
                    std::size_t bytes = 0;
                    std::size_t features = 0;
                    if (onemap) {
                        auto res = http->Get(path_prefix + "/" + std::to_string(t.z) + "/" + std::to_string(t.x) + "/" +
                                             std::to_string(t.y) + ".mvt");
                        if (!res || (res->status != 200 && res->status != 204)) {
                            ++errors;
                        } else {
                            bytes = res->body.size();
                            features = features_in(res->body);
                        }
                    } else {
                        const std::string z = std::to_string(t.z), x = std::to_string(t.x), y = std::to_string(t.y);
                        const char* params[] = {z.c_str(), x.c_str(), y.c_str()};
                        PGresult* r = PQexecParams(pg, sql.c_str(), 3, nullptr, params, nullptr, nullptr, 1);
                        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                            ++errors;
                            std::cerr << PQresultErrorMessage(r);
                        } else {
                            bytes = static_cast<std::size_t>(PQgetlength(r, 0, 0));
                            features = features_in(std::string(PQgetvalue(r, 0, 0), bytes));
                        }
                        PQclear(r);
                    }
                    const double ms =
                        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
                    std::lock_guard<std::mutex> lock(m);
                    samples.push_back({ms, bytes, features});
                }
                if (pg != nullptr) {
                    PQfinish(pg);
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::vector<double> ms;
        std::size_t max_bytes = 0;
        double total_bytes = 0;
        double total_features = 0;
        for (const auto& s : samples) {
            ms.push_back(s.ms);
            max_bytes = std::max(max_bytes, s.bytes);
            total_bytes += static_cast<double>(s.bytes);
            total_features += static_cast<double>(s.features);
        }
        std::sort(ms.begin(), ms.end());
        auto pct = [&ms](double p) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * static_cast<double>(ms.size())))]; };
        std::printf("%-8s %-6s tiles %4zu  %8.1f tiles/s  p50 %8.1f ms  p95 %8.1f ms  max %8.1f ms  mean %8.1f KB  max %8.1f KB  features/tile %7.1f  errors %d\n",
                    rest[0].c_str(), band, ms.size(), static_cast<double>(ms.size()) / secs, pct(0.5),
                    pct(0.95), ms.back(), total_bytes / static_cast<double>(ms.size()) / 1024,
                    static_cast<double>(max_bytes) / 1024, total_features / static_cast<double>(ms.size()), errors.load());
        std::fflush(stdout);
    }
    return 0;
}
