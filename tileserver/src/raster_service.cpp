#include "onemap/tileserver/raster_service.hpp"

#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"
#include "onemap/core/mvt.hpp"
#include "onemap/tileserver/analysis/geometry.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>

#include <sys/stat.h>

namespace onemap::tileserver {

namespace {

// Canvas pixels drawn beyond the metatile on every side, so strokes and outlines of features
// just outside reach into it.
constexpr double FETCH_BUFFER_PX = 16;
// MapLibre zoom 0 draws the world 512 px wide: metres per pixel at the equator.
constexpr double ZOOM0_METERS_PER_PIXEL = 2 * core::WEB_MERCATOR_HALF / 512;

nlohmann::json read_json(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path);
    }
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw render::style_error(path + ": " + e.what());
    }
}

double number_or(const nlohmann::json& j, const char* key, double fallback)
{
    const auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

// A style for a layer no style file mentions: neutral colours by geometry type.
nlohmann::json plain_layers(const core::layer& layer)
{
    const std::string& t = layer.geometry_type;
    if (t.find("POLYGON") != std::string::npos) {
        return nlohmann::json::array(
            {{{"id", layer.name + "-fill"}, {"type", "fill"}, {"source", "onemap"}, {"source-layer", layer.name},
              {"paint", {{"fill-color", "#7FA7D9"}, {"fill-opacity", 0.35}}}},
             {{"id", layer.name + "-outline"}, {"type", "line"}, {"source", "onemap"}, {"source-layer", layer.name},
              {"paint", {{"line-color", "#2F5597"}, {"line-width", 1}}}}});
    }
    if (t.find("LINE") != std::string::npos) {
        return nlohmann::json::array({{{"id", layer.name + "-line"}, {"type", "line"}, {"source", "onemap"},
                                       {"source-layer", layer.name},
                                       {"paint", {{"line-color", "#2F5597"}, {"line-width", 1.5}}}}});
    }
    return nlohmann::json::array({{{"id", layer.name + "-point"}, {"type", "circle"}, {"source", "onemap"},
                                   {"source-layer", layer.name},
                                   {"paint", {{"circle-color", "#2F5597"}, {"circle-radius", 4},
                                              {"circle-stroke-color", "#FFFFFF"}, {"circle-stroke-width", 1}}}}});
}

// What identifies one content of a style file: its modification time and size; nothing when
// the file is missing.
std::optional<std::string> file_revision(const std::string& path)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return std::nullopt;
    }
    return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "-" +
           std::to_string(st.st_size);
}

render::point to_canvas(const core::mvt::fpoint& p)
{
    return render::point{p.x, p.y};
}

// Where a polygon's label goes, in lon/lat, as the query computes it: its centroid when that
// lies on it, else a point on its surface; nothing when GEOS cannot tell (the renderer picks).
std::optional<std::pair<double, double>> label_point(std::string_view wkb)
{
    try {
        GEOSContextHandle_t h = analysis::geos();
        const analysis::geom_ptr g = analysis::from_wkb(wkb);
        analysis::geom_ptr p = analysis::own(GEOSGetCentroid_r(h, g.get()), "centroid");
        if (GEOSisEmpty_r(h, p.get()) != 0) {
            return std::nullopt;
        }
        if (GEOSIntersects_r(h, g.get(), p.get()) != 1) {
            p = analysis::own(GEOSPointOnSurface_r(h, g.get()), "point on surface");
        }
        double x = 0;
        double y = 0;
        if (GEOSGeomGetX_r(h, p.get(), &x) != 1 || GEOSGeomGetY_r(h, p.get(), &y) != 1) {
            return std::nullopt;
        }
        return std::make_pair(x, y);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

} // namespace

bool drawable_style::labels_at_points(const std::string& source_layer, double zoom) const
{
    for (const auto& l : labels) {
        if (l.source_layer == source_layer && zoom >= l.minzoom && zoom < l.maxzoom && !l.at_points) {
            return false;
        }
    }
    return true;
}

bool drawable_style::labels_at(const std::string& source_layer, double zoom) const
{
    for (const auto& l : labels) {
        if (l.source_layer == source_layer && zoom >= l.minzoom && zoom < l.maxzoom) {
            return true;
        }
    }
    return false;
}

raster_service::raster_service(core::connection_pool& pool, std::string styles_dir, unsigned render_threads,
                               tile_store* store)
    : m_pool(pool), m_store(store), m_styles_dir(std::move(styles_dir))
{
    const unsigned n = render_threads != 0 ? render_threads : std::max(1U, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) {
        m_render_threads.emplace_back([this] {
            for (;;) {
                std::function<void()> job;
                {
                    std::unique_lock<std::mutex> lock(m_queue_mutex);
                    m_queue_ready.wait(lock, [this] { return m_stopping || !m_queue.empty(); });
                    if (m_queue.empty()) {
                        return; // stopping, nothing left
                    }
                    job = std::move(m_queue.front());
                    m_queue.pop_front();
                }
                job();
            }
        });
    }
}

raster_service::~raster_service()
{
    {
        std::lock_guard<std::mutex> lock(m_queue_mutex);
        m_stopping = true;
    }
    m_queue_ready.notify_all();
    for (auto& t : m_render_threads) {
        t.join();
    }
}

void raster_service::run_on_render_thread(const std::function<void()>& job)
{
    std::mutex done_mutex;
    std::condition_variable done_cv;
    bool done = false;
    std::exception_ptr error;
    {
        std::lock_guard<std::mutex> lock(m_queue_mutex);
        m_queue.emplace_back([&] {
            try {
                job();
            } catch (...) {
                error = std::current_exception();
            }
            std::lock_guard<std::mutex> done_lock(done_mutex);
            done = true;
            done_cv.notify_one();
        });
    }
    m_queue_ready.notify_one();
    std::unique_lock<std::mutex> lock(done_mutex);
    done_cv.wait(lock, [&] { return done; });
    if (error) {
        std::rethrow_exception(error);
    }
}

std::shared_ptr<const drawable_style> raster_service::make_style(std::string id, std::string revision,
                                                                 const nlohmann::json& doc) const
{
    auto s = std::make_shared<drawable_style>();
    s->id = std::move(id);
    s->revision = std::move(revision);
    s->style = render::style::parse(doc);
    for (const auto& l : doc.value("layers", nlohmann::json::array())) {
        if (l.value("type", "") == "symbol" && l.contains("source-layer")) {
            // Anything but a literal "point" (an expression too) may place along lines.
            const auto layout = l.find("layout");
            const bool at_points = layout == l.end() || !layout->is_object() || !layout->contains("symbol-placement") ||
                                   (*layout)["symbol-placement"] == "point";
            s->labels.push_back({l["source-layer"].get<std::string>(), number_or(l, "minzoom", 0),
                                 number_or(l, "maxzoom", 24), at_points});
        }
    }
    return s;
}

std::shared_ptr<const drawable_style> raster_service::named_style(const std::string& name)
{
    const std::string path = m_styles_dir + "/" + name + ".json";
    const auto revision = file_revision(path);
    std::lock_guard<std::mutex> lock(m_styles_mutex);
    const auto it = m_styles.find(name);
    if (!revision) {
        if (it != m_styles.end()) {
            m_styles.erase(it);
        }
        return nullptr;
    }
    if (it != m_styles.end() && it->second->revision == *revision) {
        return it->second;
    }
    std::shared_ptr<const drawable_style> s;
    try {
        s = make_style(name, *revision, read_json(path));
    } catch (const std::exception& e) {
        if (it == m_styles.end()) {
            throw;
        }
        // An edit that cannot be drawn keeps the last good style in service (under the new
        // revision, so the file is not parsed again on every request).
        log().error("style {} changed but cannot be drawn, still drawing the previous one: {}", path, e.what());
        auto kept = std::make_shared<drawable_style>(*it->second);
        kept->revision = *revision;
        s = kept;
    }
    m_styles[name] = s;
    return s;
}

std::shared_ptr<const drawable_style> raster_service::layer_style(const core::layer& layer, const std::string& base)
{
    const std::string id = "layer:" + layer.name + ":" + layer.geometry_type;
    const std::string path = m_styles_dir + "/" + base + ".json";
    const std::string revision = file_revision(path).value_or("none");
    {
        std::lock_guard<std::mutex> lock(m_styles_mutex);
        if (auto it = m_styles.find(id); it != m_styles.end() && it->second->revision == revision) {
            return it->second;
        }
    }
    nlohmann::json layers = nlohmann::json::array();
    if (revision != "none") {
        try {
            for (auto l : read_json(path).value("layers", nlohmann::json::array())) {
                if (l.value("source-layer", "") != layer.name) {
                    continue;
                }
                if (l.value("type", "") != "symbol") { // shapes at every zoom; labels keep their range
                    l.erase("minzoom");
                    l.erase("maxzoom");
                }
                layers.push_back(std::move(l));
            }
        } catch (const render::style_error& e) {
            log().error("style {} cannot be read for layer {}: {}; drawing it plainly", path, layer.name, e.what());
            layers.clear();
        }
    }
    if (layers.empty()) {
        layers = plain_layers(layer);
    }
    const nlohmann::json doc = {{"version", 8},
                                {"name", layer.name},
                                {"sources", {{"onemap", {{"type", "vector"}}}}},
                                {"layers", layers}};
    auto s = make_style(id, revision, doc);
    std::lock_guard<std::mutex> lock(m_styles_mutex);
    m_styles[id] = s;
    return s;
}

metatile raster_service::metatile_of(const core::tile_matrix_set& tms, int level, std::uint64_t col,
                                     std::uint64_t row, std::uint64_t size)
{
    const auto* m = tms.matrix(level);
    metatile t;
    t.level = level;
    t.col0 = col / size * size;
    t.row0 = row / size * size;
    t.cols = std::min(size, m->matrix_width - t.col0);
    t.rows = std::min(size, m->matrix_height - t.row0);
    return t;
}

double raster_service::style_zoom(const core::tile_matrix_set& tms, int level)
{
    const auto* m = tms.matrix(level);
    const double meters = tms.geographic() ? m->cell_size * core::METERS_PER_DEGREE : m->cell_size;
    const double z = std::log2(ZOOM0_METERS_PER_PIXEL / meters);
    const double rounded = std::round(z);
    return std::abs(z - rounded) < 1e-6 ? rounded : z;
}

std::vector<layer_pick> raster_service::picks_at(const std::vector<core::layer>& catalog,
                                                 const tileset_config* composite, const core::layer* layer,
                                                 const core::tile_matrix_set& tms, int level, const std::string& date)
{
    return plan_tile(catalog, composite, layer, drawn_zoom(tms, level), date).picks;
}

int raster_service::drawn_zoom(const core::tile_matrix_set& tms, int level)
{
    return std::max(0, static_cast<int>(std::floor(style_zoom(tms, level) + 1e-9)));
}

core::box raster_service::bounds_lonlat(const core::tile_matrix_set& tms, const metatile& m)
{
    const core::box first = tms.tile_bounds_lonlat(m.level, m.col0, m.row0);
    const core::box last = tms.tile_bounds_lonlat(m.level, m.col0 + m.cols - 1, m.row0 + m.rows - 1);
    return core::box{first.min_x, last.min_y, last.max_x, first.max_y};
}

core::box raster_service::reach_lonlat(const core::tile_matrix_set& tms, const metatile& m, double pixel_ratio)
{
    return metatile_projection(tms, m, pixel_ratio).query_bounds_lonlat();
}

core::mvt::tile_projection raster_service::metatile_projection(const core::tile_matrix_set& tms, const metatile& mt,
                                                               double pixel_ratio)
{
    const auto* matrix = tms.matrix(mt.level);
    const core::box first = tms.tile_bounds(mt.level, mt.col0, mt.row0);
    const core::box last = tms.tile_bounds(mt.level, mt.col0 + mt.cols - 1, mt.row0 + mt.rows - 1);
    const core::box bounds{first.min_x, last.min_y, last.max_x, first.max_y};
    const int tile_w = static_cast<int>(std::lround(matrix->tile_width * pixel_ratio));
    const int tile_h = static_cast<int>(std::lround(matrix->tile_height * pixel_ratio));
    return core::mvt::tile_projection(tms, bounds, tile_w * static_cast<int>(mt.cols),
                                      tile_h * static_cast<int>(mt.rows), FETCH_BUFFER_PX * pixel_ratio);
}

render::source_layer raster_service::read_layer(std::optional<pqxx::read_transaction>& txn,
                                                std::optional<core::connection_pool::lease>& conn,
                                                const layer_pick& pick, const std::string& table,
                                                const core::box& box, const core::mvt::tile_projection& proj,
                                                bool anchors, const core::box* shape_reach)
{
    const core::layer_version& version = *pick.version;
    const auto attrs = kept_attributes(pick);
    render::source_layer layer;
    layer.name = pick.layer->name;
    auto add = [&](std::uint64_t fid, std::string_view wkb, const auto& properties_of,
                   std::optional<render::point> anchor) {
        auto geom = core::mvt::clip_wkb(wkb, proj);
        if (!geom) {
            return;
        }
        render::feature f;
        f.type = geom->type;
        f.id = fid;
        f.parts.reserve(geom->parts.size());
        for (const auto& part : geom->parts) {
            std::vector<render::point> pts;
            pts.reserve(part.size());
            for (const auto& p : part) {
                pts.push_back(to_canvas(p));
            }
            f.parts.push_back(std::move(pts));
        }
        properties_of(f.properties);
        f.label_anchor = anchor;
        layer.features.push_back(std::move(f));
    };

    if (held_layer_ptr held = m_store != nullptr ? m_store->find(version, table) : nullptr) {
        ++m_from_memory;
        // The held columns (every attribute, in order) this pick keeps.
        std::vector<const core::attribute*> kept(version.attributes.size(), nullptr);
        for (const auto* a : attrs) {
            kept[static_cast<std::size_t>(a - version.attributes.data())] = a;
        }
        std::vector<std::pair<held_layer::record, bool>> hits; // and whether its shapes reach the window
        held->query_boxed(box, [&](const held_layer::record& r, const core::box& b) {
            hits.emplace_back(r, shape_reach == nullptr || b.intersects(*shape_reach));
        });
        // Labels are placed in data order: the order of a query (by fid) on both paths.
        std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) { return a.first.fid() < b.first.fid(); });
        layer.features.reserve(hits.size());
        auto held_properties = [&](const held_layer::record& r, auto& properties) {
            r.each_value(held->columns(), [&](std::size_t c, std::optional<std::string_view> text) {
                if (kept[c] != nullptr && text) {
                    properties.emplace_back(kept[c]->name, attribute_value(*kept[c], *text));
                }
            });
        };
        const double margin = proj.buffer_units() - 1;
        for (const auto& hit : hits) {
            const held_layer::record& r = hit.first; // (a lambda cannot capture a structured binding)
            const bool shapes = hit.second;
            std::optional<render::point> anchor;
            if (anchors) {
                if (const auto lp = held->label_point(r.fid(), [&] { return label_point(r.wkb()); })) {
                    anchor = render::point{proj.to_tile_x(lp->first), proj.to_tile_y(lp->second)};
                }
            }
            // A polygon whose shapes cannot reach the window is read as its anchor alone when
            // the anchor (a point on its surface) lies clearly inside the clipped canvas: its
            // clipped geometry would have been kept with the same anchor, so every tile of the
            // metatile places the same labels.
            if (!shapes && anchor && anchor->x > -margin && anchor->x < proj.width() + margin &&
                anchor->y > -margin && anchor->y < proj.height() + margin) {
                render::feature f;
                f.type = core::mvt::geom_type::polygon;
                f.id = static_cast<std::uint64_t>(r.fid());
                f.parts.push_back({*anchor});
                held_properties(r, f.properties);
                f.label_anchor = anchor;
                f.label_only = true;
                layer.features.push_back(std::move(f));
                continue;
            }
            add(static_cast<std::uint64_t>(r.fid()), r.wkb(), [&](auto& properties) { held_properties(r, properties); },
                anchor);
        }
        return layer;
    }

    ++m_from_queries;
    if (!txn) {
        conn.emplace(m_pool.acquire());
        txn.emplace(**conn);
    }
    // Identifiers come from the catalog; the box is bound. A polygon's label anchor is computed
    // on its whole geometry (its centroid when inside, else a point on its surface), so every
    // metatile agrees where the label goes; label_point() computes the same from held memory.
    std::string sql = "SELECT fid";
    for (const auto* a : attrs) {
        sql += ", " + core::quote_ident(a->name);
    }
    sql += ", ST_AsBinary(geom)";
    if (anchors) {
        sql += ", ST_X(lp), ST_Y(lp)";
    }
    sql += " FROM " + core::qualified(core::DATA_SCHEMA, table) + " t";
    if (anchors) {
        sql += ", LATERAL (SELECT CASE WHEN ST_Intersects(t.geom, c) THEN c ELSE ST_PointOnSurface(t.geom) "
               "END AS lp FROM ST_Centroid(t.geom) AS cc(c)) a";
    }
    sql += " WHERE geom && ST_MakeEnvelope($1, $2, $3, $4, 4490) ORDER BY fid";
    const pqxx::result rows = txn->exec_params(sql, box.min_x, box.min_y, box.max_x, box.max_y);
    layer.features.reserve(rows.size());
    const auto geom_col = static_cast<pqxx::row::size_type>(attrs.size() + 1);
    for (const auto& r : rows) {
        const pqxx::binarystring wkb(r[geom_col]);
        std::optional<render::point> anchor;
        if (anchors && !r[geom_col + 1].is_null()) {
            anchor = render::point{proj.to_tile_x(r[geom_col + 1].as<double>()),
                                   proj.to_tile_y(r[geom_col + 2].as<double>())};
        }
        add(r[0].as<std::uint64_t>(), std::string_view(wkb.get(), wkb.size()),
            [&](auto& properties) {
                for (std::size_t i = 0; i < attrs.size(); ++i) {
                    const auto& field = r[static_cast<pqxx::row::size_type>(i + 1)];
                    if (!field.is_null()) {
                        properties.emplace_back(attrs[i]->name, attribute_value(*attrs[i], field));
                    }
                }
            },
            anchor);
    }
    return layer;
}

std::vector<std::string> raster_service::render_window(const drawable_style& style,
                                                       const std::vector<layer_pick>& picks,
                                                       const core::tile_matrix_set& tms, const metatile& mt,
                                                       const metatile& window, double pixel_ratio)
{
    const auto* matrix = tms.matrix(mt.level);
    const int tile_w = static_cast<int>(std::lround(matrix->tile_width * pixel_ratio));
    const int tile_h = static_cast<int>(std::lround(matrix->tile_height * pixel_ratio));
    render::frame frame;
    frame.width = tile_w * static_cast<int>(mt.cols);
    frame.height = tile_h * static_cast<int>(mt.rows);
    frame.window_x = tile_w * static_cast<int>(window.col0 - mt.col0);
    frame.window_y = tile_h * static_cast<int>(window.row0 - mt.row0);
    frame.window_width = tile_w * static_cast<int>(window.cols);
    frame.window_height = tile_h * static_cast<int>(window.rows);
    frame.zoom = style_zoom(tms, mt.level);
    frame.pixel_ratio = pixel_ratio;
    // Every feature is projected into the metatile's canvas; a layer read only for its shapes
    // is read where it reaches the window, one with labels over the whole metatile (where
    // its labels are placed).
    const core::mvt::tile_projection proj = metatile_projection(tms, mt, pixel_ratio);
    const core::box metatile_reach = proj.query_bounds_lonlat();
    const core::box window_reach = metatile_projection(tms, window, pixel_ratio).query_bounds_lonlat();
    const double degrees_per_pixel =
        tms.tile_bounds_lonlat(mt.level, mt.col0, mt.row0).width() / matrix->tile_width;

    using clock = std::chrono::steady_clock;
    const auto started = clock::now();
    std::vector<render::source_layer> data;
    std::size_t features = 0;
    {
        std::optional<core::connection_pool::lease> conn; // taken only for a version not held
        std::optional<pqxx::read_transaction> txn;
        for (const auto& pick : picks) {
            if (!style.style->uses(pick.layer->name, frame.zoom)) {
                continue;
            }
            const core::layer_version& version = *pick.version;
            const bool labelled = style.labels_at(pick.layer->name, frame.zoom);
            const core::box& reach = labelled ? metatile_reach : window_reach;
            if (version.bbox && !version.bbox->intersects(reach)) {
                continue;
            }
            const bool anchors = labelled && pick.layer->geometry_type.find("POLYGON") != std::string::npos;
            const bool anchors_alone = anchors && style.labels_at_points(pick.layer->name, frame.zoom);
            data.push_back(read_layer(txn, conn, pick, version.table_for_resolution(degrees_per_pixel), reach, proj,
                                      anchors, anchors_alone ? &window_reach : nullptr));
            features += data.back().features.size();
        }
    }

    const auto fetched = clock::now();
    const render::image img = render::draw(*style.style, frame, data);
    const auto drawn = clock::now();
    std::vector<std::string> pngs;
    pngs.reserve(window.cols * window.rows);
    for (std::uint64_t r = 0; r < window.rows; ++r) {
        for (std::uint64_t c = 0; c < window.cols; ++c) {
            pngs.push_back(img.png(static_cast<int>(c) * tile_w, static_cast<int>(r) * tile_h, tile_w, tile_h));
        }
    }
    auto ms = [](clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
    log().debug("drew {} {}/{}/{} {}x{} of metatile {}/{}: {} features, fetch {:.1f} ms, draw {:.1f} ms, "
                "png {:.1f} ms",
                style.id, window.level, window.col0, window.row0, window.cols, window.rows, mt.col0, mt.row0, features,
                ms(fetched - started), ms(drawn - fetched), ms(clock::now() - drawn));
    return pngs;
}

std::string raster_service::tile_png(const std::string& flight_key, const drawable_style& style,
                                     const std::vector<layer_pick>& picks, const core::tile_matrix_set& tms, int level,
                                     std::uint64_t col, std::uint64_t row, double pixel_ratio, draw_extent extent,
                                     const std::function<void(std::uint64_t, std::uint64_t, std::string&&)>& store,
                                     const std::function<std::optional<std::string>()>& stored)
{
    const metatile mt = metatile_of(tms, level, col, row);
    const bool whole = extent == draw_extent::metatile;
    metatile window = mt;
    if (!whole) {
        window.col0 = col;
        window.row0 = row;
        window.cols = 1;
        window.rows = 1;
    }
    // A whole metatile and a tile alone are different flights: a request waits only for a
    // drawing that makes its tile.
    const std::string key = flight_key + '/' + tms.id() + '/' + std::to_string(level) + '/' +
                            (whole ? "m" + std::to_string(mt.col0) + '/' + std::to_string(mt.row0)
                                   : std::to_string(col) + '/' + std::to_string(row));
    const std::size_t index = (row - window.row0) * window.cols + (col - window.col0);

    for (;;) {
        // A flight that ended between our caller's cache miss and now has stored its tiles
        // before it ended: the leader looks there before drawing again, and a flight that found
        // them stored ends without PNGs (nullptr).
        std::optional<std::string> already;
        bool led = false;
        const auto pngs = m_flights.run(
            key,
            [&]() -> std::shared_ptr<const std::vector<std::string>> {
                already = stored();
                if (already) {
                    return nullptr;
                }
                std::shared_ptr<const std::vector<std::string>> drawn;
                run_on_render_thread([&] {
                    drawn = std::make_shared<const std::vector<std::string>>(
                        render_window(style, picks, tms, mt, window, pixel_ratio));
                });
                ++(whole ? m_metatiles_drawn : m_tiles_drawn);
                for (std::uint64_t r = 0; r < window.rows; ++r) {
                    for (std::uint64_t c = 0; c < window.cols; ++c) {
                        std::string copy = (*drawn)[r * window.cols + c];
                        store(window.col0 + c, window.row0 + r, std::move(copy));
                    }
                }
                return drawn;
            },
            &led);
        if (pngs) {
            return (*pngs)[index];
        }
        if (led) {
            return std::move(*already);
        }
        // That leader found the tiles stored already: so will we, leading the next round.
    }
}

} // namespace onemap::tileserver
