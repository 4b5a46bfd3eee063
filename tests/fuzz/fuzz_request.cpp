// Whole requests against the server's route table: method, target (path and query, percent
// decoding, '+' in queries), headers (Host into documents, Accept-Encoding, If-None-Match, CORS
// preflight) and form bodies, through the one router with its typed path parameters, the tile
// address parser, dates, coordinates, flags, the seed parameters, the error mapping and the
// content-coding policy. Input: raw request text as a client sends it.
#include "route_table.hpp"

#include "onemap/core/log.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    onemap::set_log_level("error");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    onemap::tileserver::http_request req;
    if (!onemap::fuzz::read_request(std::string_view(reinterpret_cast<const char*>(data), size), req)) {
        return -1; // refused by the HTTP parser before any route: not worth keeping
    }
    onemap::fuzz::answer(req);
    return 0;
}
