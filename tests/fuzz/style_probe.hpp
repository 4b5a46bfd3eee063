#pragma once
// Sample features and evaluation of compiled style properties for fuzz_style and
// fuzz_expression: every property and filter evaluated at several zooms over features shaped
// like the sample data (CJK names, numeric codes, booleans, missing properties).
#include "expression.hpp"

#include <vector>

namespace onemap::fuzz {

/// A polygon, a line and a point of each sample layer's shape, in a 256-px canvas.
const std::vector<render::feature>& sample_features();

/// The zooms every property is evaluated at (fractions, both ends, beyond the ends).
const std::vector<double>& sample_zooms();

/// Evaluates `n` at every sample zoom without a feature (when it does not read one) and over
/// every sample feature; a throw escapes (evaluation never throws by contract).
void evaluate_everywhere(const render::detail::node& n);

} // namespace onemap::fuzz
