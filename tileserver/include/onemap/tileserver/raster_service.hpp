#pragma once
// PNG tiles of a MapLibre style, drawn by onemap::render in the canvas of their metatile (up to
// 4 × 4 tiles): labels are placed over the whole metatile, so one is never cut at a tile edge,
// while only the tiles asked for are drawn — a viewer's request draws its tile alone (with the
// features that reach it, and those of the metatile's labels), seeding draws whole metatiles.
// Features come from the versions held in memory (tile_store.hpp), else from PostGIS.
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/single_flight.hpp"
#include "onemap/core/tile_matrix_set.hpp"
#include "onemap/render/renderer.hpp"
#include "onemap/tileserver/tile_service.hpp"
#include "onemap/tileserver/tile_store.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace onemap::tileserver {

/// A parsed style plus what the data fetch needs to know about it.
struct drawable_style {
    std::string id; ///< "basemap" (a file of the styles directory) or "layer:<name>"
    std::string revision; ///< of the file it came from (mtime and size): part of tile keys
    std::shared_ptr<const render::style> style;
    struct label_use {
        std::string source_layer;
        double minzoom = 0;
        double maxzoom = 24;
        bool at_points = true; ///< symbol-placement "point" (not along lines)
    };
    std::vector<label_use> labels; ///< symbol layers: their features get a label anchor

    bool labels_at(const std::string& source_layer, double zoom) const;
    /// Every label of the source layer at that zoom is placed at a point: a polygon away from
    /// the drawn window needs only its anchor.
    bool labels_at_points(const std::string& source_layer, double zoom) const;
};

/// A block of tiles of one level drawn together.
struct metatile {
    int level = 0;
    std::uint64_t col0 = 0;
    std::uint64_t row0 = 0;
    std::uint64_t cols = 1;
    std::uint64_t rows = 1;
};

/// How much of a metatile a request for one of its tiles draws.
enum class draw_extent {
    tile,    ///< the tile alone (labels still placed over the whole metatile): a viewer's request
    metatile ///< every tile of it, stored together: seeding, where all of them are wanted
};

class raster_service {
public:
    /// `render_threads` metatiles are drawn at a time (0 = one per hardware thread): however
    /// many HTTP threads ask, CPU, canvases and per-thread font maps stay bounded. `store`:
    /// versions held in memory (tile_store.hpp) read without a query; nullptr: every feature
    /// from PostGIS.
    raster_service(core::connection_pool& pool, std::string styles_dir, unsigned render_threads = 0,
                   tile_store* store = nullptr);
    ~raster_service();
    raster_service(const raster_service&) = delete;
    raster_service& operator=(const raster_service&) = delete;

    /// The style file `<styles_dir>/<name>.json`, parsed again whenever the file changes;
    /// nullptr when there is none. An edit that cannot be drawn keeps the previous style (and
    /// is logged). \throws render::style_error when the file never could be drawn.
    std::shared_ptr<const drawable_style> named_style(const std::string& name);
    /// A style for one layer alone: the layers of `base` (a style file) that read it, without
    /// their zoom limits except for labels, or a plain one for its geometry type.
    std::shared_ptr<const drawable_style> layer_style(const core::layer& layer, const std::string& base);

    /// The metatile (at most `size` × `size`, aligned) holding a tile.
    static metatile metatile_of(const core::tile_matrix_set& tms, int level, std::uint64_t col, std::uint64_t row,
                                std::uint64_t size = 4);
    /// MapLibre zoom whose resolution (512-px world) equals this level's 256-px resolution.
    static double style_zoom(const core::tile_matrix_set& tms, int level);
    /// What a rendered tile of this level draws, bottom first: the composite's members shown at
    /// the level's style zoom, or the layer alone, each in its version valid on `date`.
    /// Exactly one of `composite` and `layer` is set.
    static std::vector<layer_pick> picks_at(const std::vector<core::layer>& catalog, const tileset_config* composite,
                                            const core::layer* layer, const core::tile_matrix_set& tms, int level,
                                            const std::string& date);
    /// The style zoom whose layers a tile of this level draws (members shown, labels).
    static int drawn_zoom(const core::tile_matrix_set& tms, int level);
    /// The lon/lat box of a metatile.
    static core::box bounds_lonlat(const core::tile_matrix_set& tms, const metatile& m);
    /// The lon/lat box whose data a metatile shows: its bounds and the buffer drawn around them.
    static core::box reach_lonlat(const core::tile_matrix_set& tms, const metatile& m, double pixel_ratio);

    /// PNG of one tile: the tile alone or its whole metatile (`extent`), drawn once however
    /// many threads ask for it at the same time (`flight_key` names style, layers, date and
    /// scale). Labels are placed over the whole metatile either way, so a tile drawn alone has
    /// the pixels of the metatile drawing. `store` receives every tile drawn, the one asked for
    /// included, before the drawing thread lets the others go; `stored` answers the asked tile
    /// from that store, if there.
    std::string tile_png(const std::string& flight_key, const drawable_style& style, const std::vector<layer_pick>& picks,
                         const core::tile_matrix_set& tms, int level, std::uint64_t col, std::uint64_t row,
                         double pixel_ratio, draw_extent extent,
                         const std::function<void(std::uint64_t col, std::uint64_t row, std::string&& png)>& store,
                         const std::function<std::optional<std::string>()>& stored);

    /// How long a request waits for another's drawing of the same metatile (0: no limit).
    void set_wait_limit(std::chrono::milliseconds limit) noexcept { m_flights.set_wait_limit(limit); }

    /// Whole metatiles drawn since start.
    std::uint64_t metatiles_drawn() const noexcept { return m_metatiles_drawn.load(); }
    /// Tiles drawn alone since start.
    std::uint64_t tiles_drawn() const noexcept { return m_tiles_drawn.load(); }
    /// Layers whose features were read from held memory / by a query, per drawing.
    std::uint64_t layers_from_memory() const noexcept { return m_from_memory.load(); }
    std::uint64_t layers_from_queries() const noexcept { return m_from_queries.load(); }

    /// Draws the tiles of `window` (a block of tiles inside metatile `m`, in the same level and
    /// numbering; no caching), placing labels over all of `m`; PNGs row by row.
    std::vector<std::string> render_window(const drawable_style& style, const std::vector<layer_pick>& picks,
                                           const core::tile_matrix_set& tms, const metatile& m, const metatile& window,
                                           double pixel_ratio);
    /// Draws a whole metatile (no caching); PNGs row by row.
    std::vector<std::string> render_metatile(const drawable_style& style, const std::vector<layer_pick>& picks,
                                             const core::tile_matrix_set& tms, const metatile& m, double pixel_ratio)
    {
        return render_window(style, picks, tms, m, m, pixel_ratio);
    }

private:
    /// One pick's features over `box` (lon/lat) projected by `proj`, in fid order; polygons get
    /// their label anchor when `anchors`. From held memory when the version is held.
    /// `shape_reach` (anchors only): a held polygon outside it is read as its anchor alone.
    render::source_layer read_layer(std::optional<pqxx::read_transaction>& txn,
                                    std::optional<core::connection_pool::lease>& conn, const layer_pick& pick,
                                    const std::string& table, const core::box& box,
                                    const core::mvt::tile_projection& proj, bool anchors,
                                    const core::box* shape_reach);

    static core::mvt::tile_projection metatile_projection(const core::tile_matrix_set& tms, const metatile& m,
                                                          double pixel_ratio);
    std::shared_ptr<const drawable_style> make_style(std::string id, std::string revision,
                                                     const nlohmann::json& doc) const;

    /// Runs `job` on a render thread and waits for it.
    void run_on_render_thread(const std::function<void()>& job);

    std::atomic<std::uint64_t> m_metatiles_drawn{0};
    std::atomic<std::uint64_t> m_tiles_drawn{0};
    std::atomic<std::uint64_t> m_from_memory{0};
    std::atomic<std::uint64_t> m_from_queries{0};
    core::connection_pool& m_pool;
    tile_store* m_store;
    std::mutex m_queue_mutex;
    std::condition_variable m_queue_ready;
    std::deque<std::function<void()>> m_queue;
    bool m_stopping = false;
    std::vector<std::thread> m_render_threads;
    std::string m_styles_dir;
    std::mutex m_styles_mutex;
    std::map<std::string, std::shared_ptr<const drawable_style>> m_styles;
    core::single_flight<std::shared_ptr<const std::vector<std::string>>> m_flights{
        std::chrono::milliseconds(0), "--tile-wait-timeout-ms"};
};

} // namespace onemap::tileserver
