// OGC API – Features requests below /ogc/collections/: collection and feature ids, bbox (four
// finite numbers, min <= max, area limit), bbox-crs, datetime (a date, an RFC 3339 instant or an
// interval a/b with open ends), limit, offset, crs, and property filters (unknown names
// refused, values bound). A request whose versions exist stops where it would query PostGIS;
// one before any version is answered in full (FeatureCollection, next/self links).
// Input: the part of the target after "/ogc/collections/", e.g. "dltb/items?bbox=…".
#include "route_table.hpp"

#include "onemap/core/log.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    onemap::set_log_level("error");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    if (!onemap::fuzz::valid_target(in)) {
        return -1;
    }
    onemap::tileserver::http_request req;
    if (!onemap::fuzz::read_request("GET /ogc/collections/" + std::string(in) + " HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
                                    req)) {
        return -1;
    }
    onemap::fuzz::answer(req);
    return 0;
}
