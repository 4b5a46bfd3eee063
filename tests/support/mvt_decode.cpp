#include "mvt_decode.hpp"

#include "vector_tile.pb.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace onemap::test {

namespace {

std::string value_text(const vector_tile::Tile_Value& v)
{
    std::ostringstream out;
    if (v.has_string_value()) {
        return v.string_value();
    }
    if (v.has_double_value()) {
        out << v.double_value();
    } else if (v.has_float_value()) {
        out << v.float_value();
    } else if (v.has_int_value()) {
        out << v.int_value();
    } else if (v.has_uint_value()) {
        out << v.uint_value();
    } else if (v.has_sint_value()) {
        out << v.sint_value();
    } else if (v.has_bool_value()) {
        out << (v.bool_value() ? "true" : "false");
    }
    return out.str();
}

long long unzigzag(std::uint32_t v)
{
    return static_cast<std::int32_t>((v >> 1U) ^ (0U - (v & 1U)));
}

} // namespace

long long doubled_area(const std::vector<decoded_point>& ring)
{
    long long sum = 0;
    for (std::size_t i = 0; i < ring.size(); ++i) {
        const auto& a = ring[i];
        const auto& b = ring[(i + 1) % ring.size()];
        sum += a.x * b.y - b.x * a.y;
    }
    return sum;
}

double polygon_area(const decoded_feature& f)
{
    double a = 0;
    for (const auto& ring : f.parts) {
        a += static_cast<double>(doubled_area(ring)) / 2.0;
    }
    return a;
}

double perimeter(const decoded_feature& f)
{
    double p = 0;
    for (const auto& r : f.parts) {
        for (std::size_t i = 0; i < r.size(); ++i) {
            const auto& a = r[i];
            const auto& b = r[(i + 1) % r.size()];
            p += std::hypot(static_cast<double>(b.x - a.x), static_cast<double>(b.y - a.y));
        }
    }
    return p;
}

std::vector<decoded_layer> decode_tile(const std::string& bytes)
{
    vector_tile::Tile tile;
    if (!tile.ParseFromString(bytes)) {
        throw std::runtime_error("not a vector tile (protobuf parse failed)");
    }
    std::vector<decoded_layer> out;
    for (const auto& l : tile.layers()) {
        decoded_layer dl;
        dl.name = l.name();
        dl.extent = l.extent();
        dl.version = l.version();
        for (const auto& f : l.features()) {
            decoded_feature df;
            df.id = f.id();
            df.type = f.type();
            if (f.tags_size() % 2 != 0) {
                throw std::runtime_error("odd number of tags");
            }
            for (int i = 0; i < f.tags_size(); i += 2) {
                const auto k = f.tags(i);
                const auto v = f.tags(i + 1);
                if (static_cast<int>(k) >= l.keys_size() || static_cast<int>(v) >= l.values_size()) {
                    throw std::runtime_error("tag index out of range");
                }
                df.properties[l.keys(static_cast<int>(k))] = value_text(l.values(static_cast<int>(v)));
            }
            long long x = 0;
            long long y = 0;
            int i = 0;
            while (i < f.geometry_size()) {
                const std::uint32_t cmd = f.geometry(i++);
                const std::uint32_t id = cmd & 7U;
                const std::uint32_t count = cmd >> 3U;
                if (id == 1 || id == 2) {
                    for (std::uint32_t k = 0; k < count; ++k) {
                        if (i + 1 >= f.geometry_size()) {
                            throw std::runtime_error("truncated geometry");
                        }
                        x += unzigzag(f.geometry(i++));
                        y += unzigzag(f.geometry(i++));
                        if (id == 1) {
                            df.parts.emplace_back(); // each MoveTo point starts a part
                        }
                        df.parts.back().push_back({x, y});
                    }
                } else if (id == 7) {
                    if (df.parts.empty()) {
                        throw std::runtime_error("ClosePath without a path");
                    }
                } else {
                    throw std::runtime_error("unknown command " + std::to_string(id));
                }
            }
            dl.features.push_back(std::move(df));
        }
        out.push_back(std::move(dl));
    }
    return out;
}

} // namespace onemap::test
