#pragma once
// Seeding the tile cache as background jobs on the server's worker pool. A job visits every
// tile of a tileset over a lon/lat box and a zoom range in slices of about `slice` each; a
// slice posts its continuation behind the requests already waiting for a worker, so a job of
// 200,000 tiles never holds a worker for long. At most `concurrent` jobs run; more wait in a
// bounded queue. A job stops within one tile (a PNG metatile) of being cancelled or of
// shutdown(). A tile that fails is counted (the first error kept) and the job goes on; a
// database that cannot be reached fails the job at once.
#include "onemap/core/tile_matrix_set.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace onemap::tileserver {

struct seed_request {
    std::string tileset;                          ///< a layer or a composite
    const core::tile_matrix_set* tms = nullptr;   ///< never null in a submitted job
    core::box bbox;                               ///< lon/lat degrees
    int minzoom = 0;
    int maxzoom = 0;
    std::string date;                             ///< YYYY-MM-DD the tiles are drawn for
    std::string format = "mvt";                   ///< "mvt" or "png"
    std::string department;                       ///< whose view is drawn ("" = without a key)
    /// Tiles drawn together (a PNG metatile's side): each aligned block is visited whole before
    /// the next, so its other tiles are cache hits however small the cache.
    std::uint64_t block = 1;
};

/// How many tiles a request covers.
std::uint64_t seed_tile_count(const seed_request& request);

enum class seed_state { queued, running, done, cancelled, failed };
const char* to_string(seed_state state) noexcept;

/// A job as GET /admin/jobs/{id} shows it.
struct seed_job_status {
    std::uint64_t id = 0;
    seed_state state = seed_state::queued;
    seed_request request;
    std::uint64_t total = 0;
    std::uint64_t done = 0;   ///< tiles visited: built or found cached, empty, or failed
    std::uint64_t empty = 0;  ///< nothing drawn there
    std::uint64_t bytes = 0;  ///< of the tiles with content
    std::uint64_t failed = 0; ///< tiles whose building threw
    double seconds = 0;       ///< running time so far (0 while queued)
    std::string created;      ///< RFC 3339, UTC
    std::string error;        ///< why the job failed or was cancelled; "" otherwise
    std::string first_tile_error; ///< "z/x/y: message" of the first failed tile
    bool cancel_requested = false;

    bool finished() const noexcept { return state != seed_state::queued && state != seed_state::running; }
    /// The JSON document of the admin API.
    std::string json() const;
};

struct seed_jobs_config {
    std::size_t concurrent = 1;          ///< jobs running at once
    std::size_t max_queued = 16;         ///< waiting jobs; past it submit() refuses
    std::size_t keep_finished = 100;     ///< finished jobs still listed
    std::chrono::seconds keep_for{3600}; ///< … for at most this long
    std::chrono::milliseconds slice{100}; ///< a task runs this long (or one tile) before re-posting
};

class seed_jobs {
public:
    /// Builds (or finds cached) one tile and returns its size, 0 when nothing is drawn there.
    using tile_function = std::function<std::size_t(const seed_request&, int level, std::uint64_t col, std::uint64_t row)>;
    /// Runs a task on the worker pool (http_frontend::post).
    using poster = std::function<void(std::function<void()>)>;

    seed_jobs(tile_function tile, poster post, seed_jobs_config config = {});
    /// \pre no task of it is pending: the pool it posts to was joined (shutdown() first).
    ~seed_jobs();
    seed_jobs(const seed_jobs&) = delete; // posted tasks hold `this`
    seed_jobs& operator=(const seed_jobs&) = delete;

    /// Starts the job, or queues it behind `concurrent` running ones; nothing when the queue
    /// is full or after shutdown(). \pre request.tms set.
    std::optional<seed_job_status> submit(seed_request request);
    /// Running and queued jobs, then the finished ones kept, by id.
    std::vector<seed_job_status> list() const;
    std::optional<seed_job_status> find(std::uint64_t id) const;
    /// A queued job is cancelled at once; a running one stops within a tile (cancel_requested
    /// is set until it has); a finished one is left as it is. Nothing when there is no such job.
    std::optional<seed_job_status> cancel(std::uint64_t id);
    /// Cancels every job and refuses new ones; never waits (safe on an event loop).
    void shutdown();
    bool shutting_down() const;

private:
    struct job;
    using job_ptr = std::shared_ptr<job>;

    void start(const job_ptr& j);
    void run_slice(const job_ptr& j);
    void finish(const job_ptr& j, seed_state state, const std::string& error);
    void prune();
    seed_job_status status_of(const job& j) const;

    tile_function m_tile;
    poster m_post;
    seed_jobs_config m_config;
    mutable std::mutex m_mutex;
    std::vector<job_ptr> m_jobs; ///< by id; finished ones pruned
    std::deque<job_ptr> m_queue;
    std::size_t m_running = 0;
    std::uint64_t m_next_id = 1;
    bool m_closed = false;
};

} // namespace onemap::tileserver
