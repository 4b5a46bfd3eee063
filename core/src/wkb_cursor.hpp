#pragma once
// Reading the primitives of WKB (byte order, uint32, double) with bounds checks. Internal to
// onemap_core: the MVT encoder and the boundary index read WKB from PostGIS through it.
#include "onemap/core/error.hpp"

#include <cstdint>
#include <cstring>
#include <string_view>

namespace onemap::core::detail {

class wkb_cursor {
public:
    explicit wkb_cursor(std::string_view data) : m_data(data) {}

    std::uint8_t byte()
    {
        need(1);
        return static_cast<std::uint8_t>(m_data[m_pos++]);
    }
    std::uint32_t u32(bool little)
    {
        need(4);
        std::uint32_t v;
        std::memcpy(&v, m_data.data() + m_pos, 4);
        m_pos += 4;
        return little ? v : __builtin_bswap32(v);
    }
    double f64(bool little)
    {
        need(8);
        std::uint64_t bits;
        std::memcpy(&bits, m_data.data() + m_pos, 8);
        m_pos += 8;
        if (!little) {
            bits = __builtin_bswap64(bits);
        }
        double d;
        std::memcpy(&d, &bits, 8);
        return d;
    }
    /// A count of items of at least `min_bytes_each`, checked against what is left.
    std::uint32_t count(bool little, std::size_t min_bytes_each)
    {
        const std::uint32_t n = u32(little);
        if (static_cast<std::size_t>(n) * min_bytes_each > m_data.size() - m_pos) {
            throw input_error("malformed WKB: count exceeds data");
        }
        return n;
    }

private:
    void need(std::size_t n) const
    {
        if (m_pos + n > m_data.size()) {
            throw input_error("malformed WKB: truncated");
        }
    }

    std::string_view m_data;
    std::size_t m_pos = 0;
};

} // namespace onemap::core::detail
