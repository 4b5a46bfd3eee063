// WMTS requests: the KVP encoding (/wmts?SERVICE=WMTS&REQUEST=GetTile&…, names
// case-insensitive) and the RESTful one (/wmts/1.0.0/{layer}/{style}[/{time}]/{TileMatrixSet}/
// {TileMatrix}/{TileRow}/{TileCol}.{png|mvt}, FeatureInfo …/{J}/{I}.{json|html}): layer, style,
// matrix set, tile address, TIME, FORMAT, INFOFORMAT, I/J, ACCEPTVERSIONS, and the OWS
// exception report of every error (well-formed XML, a 4xx or a deliberate 501/503).
// Input: a query string, or a path below /wmts/1.0.0 when it starts with '/'.
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
    const std::string target = !in.empty() && in.front() == '/' ? "/wmts/1.0.0" + std::string(in)
                                                                 : "/wmts?" + std::string(in);
    onemap::tileserver::http_request req;
    if (!onemap::fuzz::read_request("GET " + target + " HTTP/1.1\r\nHost: tiles.example.org\r\n\r\n", req)) {
        return -1;
    }
    onemap::fuzz::answer(req);
    return 0;
}
