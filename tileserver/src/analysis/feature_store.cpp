#include "onemap/tileserver/analysis/feature_store.hpp"

#include "onemap/core/log.hpp"

#include "onemap/tileserver/analysis/parallel.hpp"

#include <boost/iterator/function_output_iterator.hpp>
#include <boost/geometry.hpp>
#include <boost/geometry/index/rtree.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace onemap::tileserver::analysis {

namespace {
/// Features of more vertices are also held cut into parts of at most this many.
constexpr std::size_t PART_VERTICES = 256;
} // namespace

namespace bg = boost::geometry;
namespace bgi = boost::geometry::index;
using bpoint = bg::model::point<double, 2, bg::cs::cartesian>;
using bbox = bg::model::box<bpoint>;
using rtree_value = std::pair<bbox, std::size_t>;

struct layer_data::rtree {
    bgi::rtree<rtree_value, bgi::rstar<16>> tree;
};

layer_data::layer_data(std::string layer, const core::layer_version& v, std::vector<std::string> columns)
    : m_layer(std::move(layer)), m_version(v.version), m_table(v.table), m_columns(std::move(columns))
{
}

layer_data::~layer_data() = default;

void layer_data::add(std::int64_t fid, std::vector<std::string> values, std::string wkb)
{
    m_boxes.push_back(wkb_bounds(wkb));
    m_fids.push_back(fid);
    for (auto& v : values) {
        m_bytes += v.capacity() > 15 ? v.capacity() : 0;
        m_values.push_back(std::move(v));
    }
    m_bytes += wkb.size() + sizeof(bounds) + sizeof(std::int64_t) + 64;
    m_wkb.push_back(std::move(wkb));
}

void layer_data::build()
{
    std::vector<rtree_value> values;
    values.reserve(m_boxes.size());
    std::vector<rtree_value> part_values;
    m_cut.assign(m_boxes.size(), 0);
    for (std::size_t i = 0; i < m_boxes.size(); ++i) {
        const auto& b = m_boxes[i];
        values.emplace_back(bbox(bpoint(b.min_x, b.min_y), bpoint(b.max_x, b.max_y)), i);
        if (wkb_vertices(m_wkb[i]) <= PART_VERTICES) {
            continue;
        }
        m_cut[i] = 1;
        for (auto& w : subdivide(geometry(i).get(), PART_VERTICES)) {
            const bounds pb = wkb_bounds(w);
            part_values.emplace_back(bbox(bpoint(pb.min_x, pb.min_y), bpoint(pb.max_x, pb.max_y)), m_parts.size());
            m_part_boxes.push_back(pb);
            m_bytes += w.size() + 64;
            m_parts.push_back(part{i, std::move(w)});
        }
    }
    // The range constructor packs the tree (STR bulk loading).
    m_tree = std::make_unique<rtree>(rtree{bgi::rtree<rtree_value, bgi::rstar<16>>(values)});
    m_part_tree = std::make_unique<rtree>(rtree{bgi::rtree<rtree_value, bgi::rstar<16>>(part_values)});
    for (auto& lazy : m_lazy_areas) {
        lazy = std::make_unique<std::atomic<double>[]>(m_boxes.size());
        for (std::size_t i = 0; i < m_boxes.size(); ++i) {
            lazy[i].store(std::nan(""), std::memory_order_relaxed);
        }
    }
    m_bytes += m_boxes.size() * 2 * sizeof(double);
    m_by_fid.reserve(m_fids.size());
    for (std::size_t i = 0; i < m_fids.size(); ++i) {
        m_by_fid.emplace_back(m_fids[i], i);
    }
    std::sort(m_by_fid.begin(), m_by_fid.end());
    m_bytes += m_fids.size() * (sizeof(rtree_value) * 2 + sizeof(std::pair<std::int64_t, std::size_t>)) +
               m_values.size() * sizeof(std::string);
}

int layer_data::column(std::string_view name) const noexcept
{
    for (std::size_t i = 0; i < m_columns.size(); ++i) {
        if (m_columns[i] == name) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

std::vector<std::size_t> layer_data::query(const bounds& b) const
{
    std::vector<std::size_t> out;
    if (!m_tree) {
        return out;
    }
    const bbox q(bpoint(b.min_x, b.min_y), bpoint(b.max_x, b.max_y));
    // query() with an output iterator: the query iterators (qbegin) allocate.
    m_tree->tree.query(bgi::intersects(q), boost::make_function_output_iterator(
                                               [&](const auto& entry) { out.push_back(entry.second); }));
    std::sort(out.begin(), out.end());
    return out;
}

namespace {
constexpr std::size_t PREFETCH_BYTES = 1024; // of each part's WKB: ~60 vertices
constexpr std::size_t PREFETCH_PARTS = 512;   // ~0.5 MB at most
} // namespace

std::vector<layer_data::part_ref> layer_data::parts(const bounds& b) const
{
    std::vector<part_ref> out;
    for (const std::size_t i : query(b)) {
        if (m_cut[i] == 0) {
            out.push_back(part_ref{i, m_wkb[i], m_boxes[i], true});
        }
    }
    const bbox q(bpoint(b.min_x, b.min_y), bpoint(b.max_x, b.max_y));
    m_part_tree->tree.query(bgi::intersects(q), boost::make_function_output_iterator([&](const auto& entry) {
                                const part& p = m_parts[entry.second];
                                out.push_back(part_ref{p.owner, p.wkb, m_part_boxes[entry.second], false});
                            }));
    // The caller reads these next, scattered over the layer's memory: asking for all of them
    // now lets the cache misses overlap (a review's parcels came 40 % sooner). Only as many as
    // the caches hold: a whole village's parcels would push each other out.
    const std::size_t columns = m_columns.size();
    if (out.size() > PREFETCH_PARTS) {
        return out;
    }
    for (const auto& r : out) {
        for (std::size_t at = 0; at < r.wkb.size() && at < PREFETCH_BYTES; at += 64) {
            __builtin_prefetch(r.wkb.data() + at);
        }
        for (const auto& lazy : m_lazy_areas) {
            __builtin_prefetch(&lazy[r.feature]);
        }
        if (columns > 0) {
            __builtin_prefetch(&m_values[r.feature * columns]);
        }
    }
    return out;
}

double layer_data::area(std::size_t i, area_method m) const
{
    std::atomic<double>& slot = m_lazy_areas[static_cast<std::size_t>(m)][i];
    double a = slot.load(std::memory_order_relaxed);
    if (std::isnan(a)) {
        const auto& b = m_boxes[i];
        a = wkb_area(m_wkb[i], m, gk_zone((b.min_x + b.max_x) / 2));
        slot.store(a, std::memory_order_relaxed); // threads racing here store the same value
    }
    return a;
}

long layer_data::find(std::int64_t fid) const
{
    const auto it = std::lower_bound(m_by_fid.begin(), m_by_fid.end(), std::make_pair(fid, std::size_t{0}));
    return it != m_by_fid.end() && it->first == fid ? static_cast<long>(it->second) : -1;
}

void layer_data::compute_areas(area_method m) const
{
    std::call_once(m_area_once[static_cast<std::size_t>(m)], [&] { parallel_for(size(), [&](std::size_t i) { area(i, m); }); });
}

feature_store::feature_store(core::connection_pool& pool, std::size_t max_bytes, std::chrono::milliseconds wait_limit)
    : m_pool(pool), m_cache(max_bytes), m_loads(wait_limit, "--tile-wait-timeout-ms")
{
}

layer_data_ptr feature_store::get(const core::layer& layer, const core::layer_version& v,
                                  std::vector<std::string> columns)
{
    std::sort(columns.begin(), columns.end());
    columns.erase(std::unique(columns.begin(), columns.end()), columns.end());
    std::string key = v.table + "|" + v.source_hash + "|" + v.valid_from;
    for (const auto& c : columns) {
        key += "|" + c;
    }
    {
        const std::lock_guard<std::mutex> lock(m_mutex);
        if (const auto* hit = m_cache.get(key)) {
            return *hit;
        }
    }
    return m_loads.run(key, [&] {
        const auto started = std::chrono::steady_clock::now();
        auto data = std::make_shared<layer_data>(layer.name, v, columns);
        auto conn = m_pool.acquire();
        pqxx::work txn(*conn);
        // Identifiers come from the catalog (the caller checked each column against it), quoted.
        std::string sql = "SELECT fid";
        for (const auto& c : columns) {
            sql += ", " + core::quote_ident(c) + "::text";
        }
        sql += ", ST_AsBinary(geom) FROM " + core::qualified(core::DATA_SCHEMA, v.table) +
               " WHERE geom IS NOT NULL ORDER BY fid";
        core::for_each_batch(txn, "onemap_analysis", sql, 20000, [&](const pqxx::result& r) {
            for (const auto& row : r) {
                std::vector<std::string> values;
                values.reserve(columns.size());
                for (std::size_t c = 0; c < columns.size(); ++c) {
                    values.push_back(row[static_cast<int>(c + 1)].as<std::string>(""));
                }
                const pqxx::binarystring wkb(row[static_cast<int>(columns.size() + 1)]);
                data->add(row[0].as<std::int64_t>(), std::move(values), wkb.str());
            }
            return true;
        });
        txn.commit();
        data->build();
        log().info("analysis: {} version {} ({} features, {} MB) loaded in {} ms", layer.name, v.version, data->size(),
                   data->bytes() >> 20,
                   std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                       .count());
        layer_data_ptr out = data;
        const std::lock_guard<std::mutex> lock(m_mutex);
        m_cache.put(key, out, out->bytes());
        return out;
    });
}

} // namespace onemap::tileserver::analysis
