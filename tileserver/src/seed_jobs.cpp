#include "onemap/tileserver/seed_jobs.hpp"

#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/except>

#include <algorithm>
#include <ctime>

namespace onemap::tileserver {

namespace {

using clock_type = std::chrono::steady_clock;

/// Failed tiles in a row after which the job fails: whatever breaks every tile (a database
/// that hangs rather than refusing, a style that cannot be drawn) would otherwise be tried on
/// each of up to 200,000 tiles.
constexpr std::uint64_t MAX_FAILURES_IN_A_ROW = 50;

std::string utc_now()
{
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// Why no further tile can be built now, or nothing when only this tile failed.
std::optional<std::string> job_failure(const std::exception_ptr& error)
{
    try {
        std::rethrow_exception(error);
    } catch (const db_error& e) {
        return std::string("the database cannot be reached: ") + e.what();
    } catch (const not_found& e) { // the tileset went away with a publish
        return std::string(e.what());
    } catch (const pqxx::broken_connection&) {
        return std::string("the database connection was lost");
    } catch (const pqxx::sql_error& e) {
        // Class 08 (connection exception) and 57P (the server shutting down or restarting).
        const std::string& state = e.sqlstate();
        if (state.compare(0, 2, "08") == 0 || state.compare(0, 3, "57P") == 0) {
            return "the database went away (SQLSTATE " + state + ")";
        }
    } catch (...) {
    }
    return std::nullopt;
}

std::string message_of(const std::exception_ptr& error)
{
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "unknown exception";
    }
}

// The tiles of a request, level by level; within a level, aligned blocks column by column,
// and within a block its tiles column by column (with blocks of one, the plain column-major
// order of the tiles).
class tile_walk {
public:
    explicit tile_walk(const seed_request& r) : m_r(r), m_level(r.minzoom - 1) {}

    bool next(int& level, std::uint64_t& col, std::uint64_t& row)
    {
        while (m_next == m_pending.size()) {
            m_pending.clear();
            m_next = 0;
            if (m_block == m_blocks) {
                if (m_level >= m_r.maxzoom) {
                    return false;
                }
                ++m_level;
                m_range = m_r.tms->tile_range(m_level, m_r.bbox);
                const std::uint64_t b = m_r.block;
                m_bcol0 = m_range.min_col / b;
                m_brow0 = m_range.min_row / b;
                m_brows = m_range.max_row / b - m_brow0 + 1;
                m_blocks = (m_range.max_col / b - m_bcol0 + 1) * m_brows;
                m_block = 0;
                continue;
            }
            const std::uint64_t b = m_r.block;
            const std::uint64_t bc = m_bcol0 + m_block / m_brows;
            const std::uint64_t br = m_brow0 + m_block % m_brows;
            ++m_block;
            for (auto c = std::max(bc * b, m_range.min_col); c <= std::min(bc * b + b - 1, m_range.max_col); ++c) {
                for (auto r = std::max(br * b, m_range.min_row); r <= std::min(br * b + b - 1, m_range.max_row); ++r) {
                    m_pending.emplace_back(c, r);
                }
            }
        }
        level = m_level;
        col = m_pending[m_next].first;
        row = m_pending[m_next].second;
        ++m_next;
        return true;
    }

private:
    const seed_request& m_r;
    int m_level;
    core::tile_matrix_set::range m_range{};
    std::uint64_t m_bcol0 = 0;
    std::uint64_t m_brow0 = 0;
    std::uint64_t m_brows = 1;
    std::uint64_t m_blocks = 0;
    std::uint64_t m_block = 0;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> m_pending;
    std::size_t m_next = 0;
};

} // namespace

std::uint64_t seed_tile_count(const seed_request& request)
{
    std::uint64_t n = 0;
    for (int z = request.minzoom; z <= request.maxzoom; ++z) {
        const auto r = request.tms->tile_range(z, request.bbox);
        n += (r.max_col - r.min_col + 1) * (r.max_row - r.min_row + 1);
    }
    return n;
}

const char* to_string(seed_state state) noexcept
{
    switch (state) {
    case seed_state::queued: return "queued";
    case seed_state::running: return "running";
    case seed_state::done: return "done";
    case seed_state::cancelled: return "cancelled";
    case seed_state::failed: return "failed";
    }
    return "unknown";
}

std::string seed_job_status::json() const
{
    const auto& r = request;
    nlohmann::json doc = {
        {"id", id},
        {"state", to_string(state)},
        {"tileset", r.tileset},
        {"tms", r.tms != nullptr ? r.tms->id() : std::string()},
        {"format", r.format},
        {"department", r.department.empty() ? nlohmann::json() : nlohmann::json(r.department)},
        {"bbox", {r.bbox.min_x, r.bbox.min_y, r.bbox.max_x, r.bbox.max_y}},
        {"minzoom", r.minzoom},
        {"maxzoom", r.maxzoom},
        {"datetime", r.date},
        {"total", total},
        {"done", done},
        {"empty", empty},
        {"bytes", bytes},
        {"failed", failed},
        {"seconds", seconds},
        {"created", created},
        {"error", error.empty() ? nlohmann::json() : nlohmann::json(error)},
        {"first_tile_error", first_tile_error.empty() ? nlohmann::json() : nlohmann::json(first_tile_error)},
        {"cancel_requested", cancel_requested},
    };
    return doc.dump();
}

struct seed_jobs::job {
    explicit job(seed_request r) : request(std::move(r)), walk(request) {}
    ~job() = default;
    job(const job&) = delete; // the walk refers to `request`
    job& operator=(const job&) = delete;
    job(job&&) = delete;
    job& operator=(job&&) = delete;

    std::uint64_t id = 0;
    seed_request request;
    std::uint64_t total = 0;
    // Under seed_jobs::m_mutex:
    seed_state state = seed_state::queued;
    std::uint64_t done = 0;
    std::uint64_t empty = 0;
    std::uint64_t bytes = 0;
    std::uint64_t failed = 0;
    std::string created;
    bool started = false;
    clock_type::time_point started_at{};
    clock_type::time_point finished_at{};
    std::string error;
    std::string first_tile_error;
    std::string cancel_reason;
    // Read by the running task between tiles.
    std::atomic<bool> cancel{false};
    // Touched only by the job's task (one at a time).
    tile_walk walk;
    std::uint64_t failures_in_a_row = 0;
};

seed_jobs::seed_jobs(tile_function tile, poster post, seed_jobs_config config)
    : m_tile(std::move(tile)), m_post(std::move(post)), m_config(config)
{
    m_config.concurrent = std::max<std::size_t>(m_config.concurrent, 1);
}

seed_jobs::~seed_jobs() = default;

seed_job_status seed_jobs::status_of(const job& j) const
{
    seed_job_status s;
    s.id = j.id;
    s.state = j.state;
    s.request = j.request;
    s.total = j.total;
    s.done = j.done;
    s.empty = j.empty;
    s.bytes = j.bytes;
    s.failed = j.failed;
    if (j.started) {
        const auto end = s.finished() ? j.finished_at : clock_type::now();
        s.seconds = std::chrono::duration<double>(end - j.started_at).count();
    }
    s.created = j.created;
    s.error = j.error;
    s.first_tile_error = j.first_tile_error;
    s.cancel_requested = j.cancel && !s.finished();
    return s;
}

void seed_jobs::start(const job_ptr& j)
{
    j->state = seed_state::running;
    j->started = true;
    j->started_at = clock_type::now();
    ++m_running;
}

std::optional<seed_job_status> seed_jobs::submit(seed_request request)
{
    auto j = std::make_shared<job>(std::move(request));
    j->total = seed_tile_count(j->request);
    j->created = utc_now();
    bool run_now = false;
    seed_job_status status;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_closed || (m_running >= m_config.concurrent && m_queue.size() >= m_config.max_queued)) {
            return std::nullopt;
        }
        j->id = m_next_id++;
        m_jobs.push_back(j);
        if (m_running < m_config.concurrent) {
            start(j);
            run_now = true;
        } else {
            m_queue.push_back(j);
        }
        prune();
        status = status_of(*j);
    }
    log().info("seed job {}: {} {} tiles of {} on {}, z{}-{}{}", j->id, j->total, j->request.format,
               j->request.tileset, j->request.tms->id(), j->request.minzoom, j->request.maxzoom,
               run_now ? "" : " (queued)");
    if (run_now) {
        m_post([this, j] { run_slice(j); });
    }
    return status;
}

void seed_jobs::run_slice(const job_ptr& j)
{
    const auto until = clock_type::now() + m_config.slice;
    int level = 0;
    std::uint64_t col = 0;
    std::uint64_t row = 0;
    do {
        if (j->cancel) {
            finish(j, seed_state::cancelled, {});
            return;
        }
        if (!j->walk.next(level, col, row)) {
            finish(j, seed_state::done, {});
            return;
        }
        std::size_t size = 0;
        std::exception_ptr error;
        try {
            size = m_tile(j->request, level, col, row);
        } catch (...) {
            error = std::current_exception();
        }
        if (error) {
            if (auto why = job_failure(error)) {
                finish(j, seed_state::failed, *why);
                return;
            }
            const std::string tile_error = std::to_string(level) + '/' + std::to_string(col) + '/' +
                                           std::to_string(row) + ": " + message_of(error);
            bool give_up = false;
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                ++j->done;
                ++j->failed;
                if (j->first_tile_error.empty()) {
                    j->first_tile_error = tile_error;
                }
                give_up = ++j->failures_in_a_row >= MAX_FAILURES_IN_A_ROW;
            }
            if (give_up) {
                finish(j, seed_state::failed,
                       std::to_string(MAX_FAILURES_IN_A_ROW) + " tiles in a row failed; the last: " + tile_error);
                return;
            }
            continue;
        }
        j->failures_in_a_row = 0;
        std::lock_guard<std::mutex> lock(m_mutex);
        ++j->done;
        if (size == 0) {
            ++j->empty;
        } else {
            j->bytes += size;
        }
    } while (clock_type::now() < until);
    // Behind the requests that came meanwhile.
    m_post([this, j] { run_slice(j); });
}

void seed_jobs::finish(const job_ptr& j, seed_state state, const std::string& error)
{
    std::vector<job_ptr> next;
    seed_job_status status;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        j->state = state;
        j->finished_at = clock_type::now();
        j->error = state == seed_state::cancelled ? j->cancel_reason : error;
        --m_running;
        while (!m_closed && m_running < m_config.concurrent && !m_queue.empty()) {
            next.push_back(m_queue.front());
            m_queue.pop_front();
            start(next.back());
        }
        status = status_of(*j);
        prune();
    }
    if (state == seed_state::failed) {
        log().warn("seed job {} failed after {} of {} tiles: {}", status.id, status.done, status.total, status.error);
    } else {
        log().info("seed job {} {}: {} of {} tiles ({} empty, {} failed, {} bytes) in {:.1f} s", status.id,
                   to_string(state), status.done, status.total, status.empty, status.failed, status.bytes,
                   status.seconds);
    }
    for (auto& n : next) {
        m_post([this, n] { run_slice(n); });
    }
}

void seed_jobs::prune()
{
    const auto now = clock_type::now();
    const auto active = [](const job& j) { return j.state == seed_state::queued || j.state == seed_state::running; };
    const auto finished_now = std::count_if(m_jobs.begin(), m_jobs.end(), [&](const job_ptr& j) { return !active(*j); });
    auto finished = static_cast<std::size_t>(finished_now);
    m_jobs.erase(std::remove_if(m_jobs.begin(), m_jobs.end(),
                                [&](const job_ptr& j) {
                                    if (active(*j)) {
                                        return false;
                                    }
                                    // Oldest first: m_jobs is in id order.
                                    if (finished > m_config.keep_finished || now - j->finished_at > m_config.keep_for) {
                                        --finished;
                                        return true;
                                    }
                                    return false;
                                }),
                 m_jobs.end());
}

std::vector<seed_job_status> seed_jobs::list() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    std::vector<seed_job_status> out;
    out.reserve(m_jobs.size());
    for (const auto& j : m_jobs) {
        out.push_back(status_of(*j));
    }
    return out;
}

std::optional<seed_job_status> seed_jobs::find(std::uint64_t id) const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    for (const auto& j : m_jobs) {
        if (j->id == id) {
            return status_of(*j);
        }
    }
    return std::nullopt;
}

std::optional<seed_job_status> seed_jobs::cancel(std::uint64_t id)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    for (const auto& j : m_jobs) {
        if (j->id != id) {
            continue;
        }
        if (j->state == seed_state::queued) {
            m_queue.erase(std::remove(m_queue.begin(), m_queue.end(), j), m_queue.end());
            j->state = seed_state::cancelled;
            j->finished_at = clock_type::now();
            j->error = "cancelled before it started";
            log().info("seed job {} cancelled before it started", id);
        } else if (j->state == seed_state::running && !j->cancel) {
            j->cancel_reason = "cancelled on request";
            j->cancel = true;
        }
        return status_of(*j);
    }
    return std::nullopt;
}

void seed_jobs::shutdown()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_closed = true;
    for (auto& j : m_queue) {
        j->state = seed_state::cancelled;
        j->finished_at = clock_type::now();
        j->error = "cancelled at shutdown";
    }
    m_queue.clear();
    for (auto& j : m_jobs) {
        if (j->state == seed_state::running && !j->cancel) {
            j->cancel_reason = "cancelled at shutdown";
            j->cancel = true;
        }
    }
}

bool seed_jobs::shutting_down() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_closed;
}

} // namespace onemap::tileserver
