// One MapLibre expression, legacy filter, legacy function or text-field token string
// (render::detail::compile_*), compiled for any expected type and evaluated at many zooms over
// sample features. Oracles: compiling either succeeds or throws style_error; evaluation never
// throws and a zoom-only expression needs no feature.
// Input: one byte choosing what to compile (expression of each value_type, filter, legacy
// function, token string), then JSON (the raw text for a token string).
#include "expression.hpp"
#include "style_probe.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>

namespace {

using namespace onemap::render;
using namespace onemap::render::detail;

constexpr value_type TYPES[] = {value_type::any,   value_type::boolean,      value_type::number,
                                value_type::string, value_type::color,       value_type::number_array,
                                value_type::string_array};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1) {
        return -1;
    }
    const unsigned mode = data[0] % 10;
    node_ptr n;
    try {
        if (mode == 9) {
            n = compile_token_string(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
        } else {
            const auto j = nlohmann::json::parse(data + 1, data + size, nullptr, false);
            if (j.is_discarded()) {
                return -1;
            }
            if (mode < 7) {
                n = compile_expression(j, TYPES[mode], "fuzz");
            } else if (mode == 7) {
                n = compile_filter(j, "fuzz");
            } else if (j.is_object()) { // the style parser hands it objects only
                n = compile_legacy_function(j, TYPES[data[0] / 10 % 7], value(), "fuzz");
            } else {
                return -1;
            }
        }
    } catch (const style_error&) {
        return 0;
    }
    if (n) {
        onemap::fuzz::evaluate_everywhere(*n);
        for (const auto& f : onemap::fuzz::sample_features()) {
            passes(n.get(), eval_context{12, &f});
        }
    }
    return 0;
}
