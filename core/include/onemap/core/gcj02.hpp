#pragma once
// GCJ-02, the obfuscated datum Chinese phone map SDKs (AMap, Tencent) report positions in.
// The forward offset is the published formula; the inverse is its fixed-point iteration, good
// to well under a metre (the formula itself is the whole error budget users quote: 1-2 m).
namespace onemap::core {

struct lonlat {
    double lon;
    double lat;
};

/// WGS84/CGCS2000 → GCJ-02. Outside mainland China's rough box the point is returned as is.
lonlat wgs84_to_gcj02(lonlat p) noexcept;
/// GCJ-02 → WGS84/CGCS2000 (iterative inverse of wgs84_to_gcj02).
lonlat gcj02_to_wgs84(lonlat p) noexcept;

} // namespace onemap::core
