#include "style_probe.hpp"

namespace onemap::fuzz {

namespace {

using render::feature;
using render::point;
using geom = core::mvt::geom_type;
using props = std::vector<std::pair<std::string, core::mvt::value>>;

feature make(geom type, std::vector<std::vector<point>> parts, props p, std::uint64_t id)
{
    feature f;
    f.type = type;
    f.id = id;
    f.parts = std::move(parts);
    f.properties = std::move(p);
    return f;
}

} // namespace

const std::vector<render::feature>& sample_features()
{
    static const std::vector<feature> FEATURES = [] {
        std::vector<feature> v;
        v.push_back(make(geom::polygon, {{{10, 10}, {200, 12}, {190, 220}, {12, 180}, {10, 10}}},
                         {{"dlbm", std::string("0101")}, {"dlmc", std::string("水田")}, {"tbmj", 1234.5},
                          {"bsm", std::int64_t{4113000000123}}, {"sfjz", true}},
                         42));
        v.push_back(make(geom::linestring, {{{0, 128}, {64, 100}, {128, 140}, {256, 120}}},
                         {{"hymc", std::string("汝河")}, {"hldj", std::int64_t{3}}, {"name", std::string("")}}, 7));
        v.push_back(make(geom::point, {{{128, 128}}},
                         {{"xzqmc", std::string("汝南县")}, {"xzqdm", std::string("411727")},
                          {"area", -0.0}, {"big", 1e308}, {"neg", std::int64_t{-9223372036854775807 - 1}}},
                         0));
        v.push_back(make(geom::polygon, {}, {}, 1)); // a feature without parts or properties
        return v;
    }();
    return FEATURES;
}

const std::vector<double>& sample_zooms()
{
    static const std::vector<double> ZOOMS{-1, 0, 5.5, 10, 12.999, 14, 22, 30};
    return ZOOMS;
}

void evaluate_everywhere(const render::detail::node& n)
{
    for (const double z : sample_zooms()) {
        if (!n.feature_dependent()) {
            n.evaluate(render::detail::eval_context{z, nullptr});
        }
        for (const auto& f : sample_features()) {
            n.evaluate(render::detail::eval_context{z, &f});
        }
    }
}

} // namespace onemap::fuzz
