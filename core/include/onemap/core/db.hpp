#pragma once
// PostgreSQL access helpers shared by the importer, the server and the tests.
#include <pqxx/pqxx>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>
#include <string>
#include <string_view>

extern "C" {
struct pg_conn;
}

namespace onemap::core {

/// Opens a connection; conninfo "" means libpq's defaults (PGHOST, PGDATABASE, …).
/// \throws db_error naming the target and a hint when the server cannot be reached.
std::unique_ptr<pqxx::connection> connect(const std::string& conninfo);

/// `"name"` with embedded quotes doubled. Identifiers come from the catalog, never a request.
std::string quote_ident(std::string_view name);

/// `schema.table`, both parts quoted.
std::string qualified(std::string_view schema, std::string_view table);

/// Reads `select` (its identifiers quoted by the caller, no parameters) through a cursor named
/// `cursor`, handing each batch of at most `rows` rows to `batch` until the rows end or it
/// returns false: a whole layer without holding it all in a result at once.
void for_each_batch(pqxx::dbtransaction& txn, const std::string& cursor, const std::string& select, std::size_t rows,
                    const std::function<bool(const pqxx::result&)>& batch);

/// The libpq handle under a pqxx transaction. pqxx 6.4 offers only tuple-by-tuple text
/// streaming (stream_to); the importer writes whole COPY buffers through libpq directly.
pg_conn* raw_handle(const pqxx::dbtransaction& txn);

} // namespace onemap::core


namespace onemap::core {

/// How long the users of a pool may wait for the database; 0 = no limit. Each limit names the
/// option that sets it, so that a timeout_error tells the operator what to change.
struct pool_limits {
    std::chrono::milliseconds acquire_timeout{0}; ///< for a free connection (--db-wait-timeout-ms)
    int statement_timeout_ms = 0;                 ///< every statement (--query-timeout-ms)
    int connect_timeout_s = 0;                    ///< opening a connection (libpq connect_timeout)
};

/// A fixed-size pool of connections for request threads (pqxx connections are not
/// thread-safe). Broken connections are replaced on their next lease. Every wait is bounded by
/// its pool_limits: a statement past its limit is cancelled by PostgreSQL (SQLSTATE 57014).
class connection_pool {
public:
    connection_pool(std::string conninfo, std::size_t size, pool_limits limits = {});

    class lease {
    public:
        lease(connection_pool& pool, std::unique_ptr<pqxx::connection> conn)
            : m_pool(&pool), m_conn(std::move(conn)) {}
        lease(lease&&) noexcept = default;
        lease& operator=(lease&&) noexcept = default;
        lease(const lease&) = delete;
        lease& operator=(const lease&) = delete;
        ~lease();
        pqxx::connection& operator*() const noexcept { return *m_conn; }
        pqxx::connection* operator->() const noexcept { return m_conn.get(); }

    private:
        connection_pool* m_pool;
        std::unique_ptr<pqxx::connection> m_conn;
    };

    /// Waits for a free connection, at most limits().acquire_timeout. \throws timeout_error
    /// past it; db_error when a new connection cannot be opened; would_block on an event loop.
    lease acquire();
    const pool_limits& limits() const noexcept { return m_limits; }

    struct stats_type {
        std::size_t size = 0;    ///< connections the pool may hold
        std::size_t in_use = 0;  ///< leased now
        std::size_t idle = 0;    ///< open and free
        std::size_t waiting = 0; ///< requests waiting for one
    };
    stats_type stats() const;
    /// Closes the idle connections: after the database came back, they are all broken.
    void drop_idle();
    const std::string& conninfo() const noexcept { return m_conninfo; }

private:
    void give_back(std::unique_ptr<pqxx::connection> conn);

    std::string m_conninfo;
    pool_limits m_limits;
    mutable std::mutex m_mutex;
    std::condition_variable m_available;
    std::size_t m_size;
    std::size_t m_waiting = 0;
    std::vector<std::unique_ptr<pqxx::connection>> m_idle;
    std::size_t m_free_slots;
};

} // namespace onemap::core
