#pragma once
// Expression operators whose arguments are plain values (comparisons, logic, conversions,
// strings, colors, math): how many arguments they take, of what type, and what they compute.
#include "expression_nodes.hpp"

#include <optional>
#include <string>

namespace onemap::render::detail {

inline constexpr std::size_t MANY_ARGUMENTS = 1000;

struct operator_spec {
    std::size_t min_args;
    std::size_t max_args;
    value_type arguments; ///< what the arguments are compiled as
    call_fn fn;
};

/// The operator `op` when it is a plain one; nullopt for special forms and unknown names.
std::optional<operator_spec> plain_operator(const std::string& op);

} // namespace onemap::render::detail
