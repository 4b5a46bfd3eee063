#include "onemap/tileserver/tile_store.hpp"

#include "onemap/core/log.hpp"

#include <boost/geometry.hpp>
#include <boost/geometry/index/rtree.hpp>
#include <boost/iterator/function_output_iterator.hpp>

#include <algorithm>

namespace onemap::tileserver {

namespace bg = boost::geometry;
namespace bgi = boost::geometry::index;

namespace {
using bpoint = bg::model::point<double, 2, bg::cs::cartesian>;
using bbox = bg::model::box<bpoint>;
using rtree_value = std::pair<bbox, std::uint32_t>;
constexpr std::size_t FIRST_BLOCK_BYTES = 64U << 10; // doubling up to the last size
constexpr std::size_t BLOCK_BYTES = 16U << 20;
constexpr std::size_t FETCH_ROWS = 20000;
constexpr auto RETRY_AFTER = std::chrono::minutes(1);

bbox to_bbox(const core::box& b)
{
    return bbox(bpoint(b.min_x, b.min_y), bpoint(b.max_x, b.max_y));
}
} // namespace

struct held_layer::index {
    bgi::rtree<rtree_value, bgi::rstar<16>> tree;
};

// ---- records ------------------------------------------------------------------------------
// [fid: int64][wkb bytes: u32][wkb][per attribute: length u32 (NULL_VALUE: NULL), bytes]

std::int64_t held_layer::record::fid() const noexcept
{
    std::int64_t v = 0;
    std::memcpy(&v, m_at, sizeof v);
    return v;
}

std::string_view held_layer::record::wkb() const noexcept
{
    std::uint32_t n = 0;
    std::memcpy(&n, m_at + sizeof(std::int64_t), sizeof n);
    return {m_at + sizeof(std::int64_t) + sizeof n, n};
}

const char* held_layer::record::values_begin() const noexcept
{
    const std::string_view w = wkb();
    return w.data() + w.size();
}

held_layer::held_layer(std::size_t columns) : m_columns(columns) {}
held_layer::~held_layer() = default;

char* held_layer::reserve(std::size_t n)
{
    if (m_blocks.empty() || m_block_used + n > m_block_bytes) {
        // Small layers take little; large ones grow by blocks of 16 MB (no copying).
        const std::size_t size = std::max(m_blocks.empty() ? FIRST_BLOCK_BYTES : std::min(m_block_bytes * 2, BLOCK_BYTES), n);
        m_blocks.push_back(std::make_unique<char[]>(size));
        m_allocated += size;
        m_block_bytes = size;
        m_block_used = 0;
    }
    char* at = m_blocks.back().get() + m_block_used;
    m_block_used += n;
    return at;
}

void held_layer::add(std::int64_t fid, const core::box& box,
                     const std::vector<std::optional<std::string_view>>& values, std::string_view wkb)
{
    std::size_t n = sizeof fid + sizeof(std::uint32_t) + wkb.size();
    for (const auto& v : values) {
        n += sizeof(std::uint32_t) + (v ? v->size() : 0);
    }
    char* p = reserve(n);
    m_records.push_back(p);
    m_boxes.push_back(box);
    auto put_u32 = [&p](std::uint32_t v) {
        std::memcpy(p, &v, sizeof v);
        p += sizeof v;
    };
    std::memcpy(p, &fid, sizeof fid);
    p += sizeof fid;
    put_u32(static_cast<std::uint32_t>(wkb.size()));
    std::memcpy(p, wkb.data(), wkb.size());
    p += wkb.size();
    for (const auto& v : values) {
        if (!v) {
            put_u32(record::NULL_VALUE);
            continue;
        }
        put_u32(static_cast<std::uint32_t>(v->size()));
        std::memcpy(p, v->data(), v->size());
        p += v->size();
    }
}

void held_layer::build()
{
    std::vector<rtree_value> values;
    values.reserve(m_boxes.size());
    for (std::size_t i = 0; i < m_boxes.size(); ++i) {
        values.emplace_back(to_bbox(m_boxes[i]), static_cast<std::uint32_t>(i));
    }
    // The range constructor packs the tree (STR bulk loading): neighbours sit together.
    m_index = std::make_unique<index>(index{bgi::rtree<rtree_value, bgi::rstar<16>>(values)});
    m_boxes.clear();
    m_boxes.shrink_to_fit();
    m_records.shrink_to_fit();
}

void held_layer::for_each_in(const core::box& b, const std::function<void(std::size_t, const core::box&)>& f) const
{
    if (!m_index) {
        return;
    }
    // query() with an output iterator: the query iterators (qbegin) allocate.
    m_index->tree.query(bgi::intersects(to_bbox(b)), boost::make_function_output_iterator([&](const rtree_value& v) {
                            const auto& lo = v.first.min_corner();
                            const auto& hi = v.first.max_corner();
                            f(v.second, core::box{lo.get<0>(), lo.get<1>(), hi.get<0>(), hi.get<1>()});
                        }));
}

std::size_t held_layer::bytes() const noexcept
{
    const std::size_t blocks = m_allocated;
    // The R-tree: each value (40 bytes) and its share of nodes (~1/3 more).
    const std::size_t tree = m_records.size() * sizeof(rtree_value) * 4 / 3;
    return blocks + m_records.capacity() * sizeof(const char*) + m_boxes.capacity() * sizeof(core::box) + tree;
}

// ---- the store -----------------------------------------------------------------------------

tile_store::tile_store(core::connection_pool& pool, std::size_t max_bytes)
    : m_pool(pool), m_max_bytes(max_bytes), m_held(max_bytes)
{
}

tile_store::~tile_store()
{
    {
        const std::lock_guard<std::mutex> lock(m_mutex);
        m_stop = true;
    }
    m_stopping = true; // a load in progress gives up at its next batch
    m_wake.notify_all();
    if (m_loader.joinable()) {
        m_loader.join();
    }
}

std::string tile_store::key_of(const core::layer_version& v, const std::string& table)
{
    return table + "|" + v.source_hash + "|" + v.valid_from;
}

held_layer_ptr tile_store::find(const core::layer_version& v, const std::string& table)
{
    if (m_max_bytes == 0) {
        return nullptr;
    }
    std::string key = key_of(v, table);
    const std::lock_guard<std::mutex> lock(m_mutex);
    if (const auto* hit = m_held.get(key)) {
        ++m_hits;
        return *hit;
    }
    ++m_misses;
    if (m_refused.count(key) != 0 || m_queued.count(key) != 0) {
        return nullptr;
    }
    const auto now = std::chrono::steady_clock::now();
    m_failed.erase(std::remove_if(m_failed.begin(), m_failed.end(),
                                  [&](const auto& f) { return now - f.second > RETRY_AFTER; }),
                   m_failed.end());
    if (std::any_of(m_failed.begin(), m_failed.end(), [&](const auto& f) { return f.first == key; })) {
        return nullptr;
    }
    m_queued.insert(std::move(key));
    m_queue.push_back(wanted{v, table});
    if (!m_loader.joinable()) {
        m_loader = std::thread([this] { run_loader(); });
    }
    m_wake.notify_one();
    return nullptr;
}

held_layer_ptr tile_store::hold(const core::layer_version& v, const std::string& table)
{
    const std::string key = key_of(v, table);
    {
        const std::lock_guard<std::mutex> lock(m_mutex);
        if (const auto* hit = m_held.get(key)) {
            return *hit;
        }
    }
    held_layer_ptr got = load(v, table);
    const std::lock_guard<std::mutex> lock(m_mutex);
    keep(key, got);
    return got;
}

void tile_store::keep(const std::string& key, const held_layer_ptr& got)
{
    if (!got) {
        m_refused.insert(key);
        return;
    }
    ++m_loads;
    m_held.put(key, got, got->bytes());
}

void tile_store::run_loader()
{
    std::unique_lock<std::mutex> lock(m_mutex);
    for (;;) {
        m_wake.wait(lock, [this] { return m_stop || !m_queue.empty(); });
        if (m_stop) {
            return;
        }
        const wanted w = std::move(m_queue.front());
        m_queue.pop_front();
        const std::string key = key_of(w.version, w.table);
        m_loading = true;
        lock.unlock();
        held_layer_ptr got;
        bool ok = true;
        try {
            got = load(w.version, w.table);
        } catch (const std::exception& e) {
            log().warn("tile store: reading {} failed, its tiles come from PostGIS (again in a minute): {}", w.table,
                       e.what());
            ok = false;
        }
        lock.lock();
        m_loading = false;
        m_queued.erase(key);
        if (!ok) {
            ++m_failures;
            m_failed.emplace_back(key, std::chrono::steady_clock::now());
        } else {
            keep(key, got);
        }
    }
}

held_layer_ptr tile_store::load(const core::layer_version& v, const std::string& table)
{
    const auto started = std::chrono::steady_clock::now();
    auto data = std::make_shared<held_layer>(v.attributes.size());
    auto conn = m_pool.acquire();
    pqxx::work txn(*conn);
    // Identifiers come from the catalog, quoted.
    std::string sql = "SELECT fid";
    for (const auto& a : v.attributes) {
        sql += ", " + core::quote_ident(a.name) + "::text";
    }
    // The box PostGIS keeps with each geometry (rounded outward to float): the one its && of the
    // query path tests, so both find the same candidates.
    sql += ", ST_AsBinary(geom), ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM " +
           core::qualified(core::DATA_SCHEMA, table) + " WHERE geom IS NOT NULL";
    const auto geom_col = static_cast<pqxx::row::size_type>(v.attributes.size() + 1);
    std::vector<std::optional<std::string_view>> values(v.attributes.size());
    bool whole = true;
    core::for_each_batch(txn, "onemap_tile_store", sql, FETCH_ROWS, [&](const pqxx::result& r) {
        for (const auto& row : r) {
            for (std::size_t c = 0; c < values.size(); ++c) {
                const auto& f = row[static_cast<pqxx::row::size_type>(c + 1)];
                values[c] = f.is_null() ? std::optional<std::string_view>()
                                        : std::optional<std::string_view>(std::string_view(f.c_str(), f.size()));
            }
            const pqxx::binarystring wkb(row[geom_col]);
            const core::box box{row[geom_col + 1].as<double>(), row[geom_col + 2].as<double>(),
                                row[geom_col + 3].as<double>(), row[geom_col + 4].as<double>()};
            data->add(row[0].as<std::int64_t>(), box, values, std::string_view(wkb.get(), wkb.size()));
        }
        // Shutting down, or over the budget: stop reading.
        whole = !m_stopping && data->bytes() <= m_max_bytes;
        return whole;
    });
    if (!whole) {
        if (!m_stopping) {
            log().info("tile store: {} is larger than --tile-memory-mb ({} MB); its tiles come from PostGIS", table,
                       m_max_bytes >> 20);
        }
        return nullptr;
    }
    txn.commit();
    data->build();
    if (data->bytes() > m_max_bytes) {
        return nullptr;
    }
    log().info("tile store: {} held ({} features, {} MB) in {} ms", table, data->size(), data->bytes() >> 20,
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
    return data;
}

tile_store::stats tile_store::current() const
{
    const std::lock_guard<std::mutex> lock(m_mutex);
    stats s;
    s.bytes = m_held.bytes();
    s.max_bytes = m_max_bytes;
    s.versions = m_held.size();
    s.loads = m_loads;
    s.refused = m_refused.size();
    s.failed = m_failures;
    s.queued = m_queue.size();
    s.loading = m_loading;
    s.hits = m_hits;
    s.misses = m_misses;
    return s;
}

} // namespace onemap::tileserver
