#include "onemap/core/db.hpp"

#include "onemap/core/error.hpp"
#include "onemap/core/event_loop.hpp"

#include <algorithm>


namespace onemap::core {

namespace {

// `text` with every password blanked: key/value `password=…` (quoted or not) and the
// `user:password@` of a postgresql:// URI. Messages and logs name the target, never the secret.
std::string redacted(std::string text)
{
    for (std::size_t at = 0; (at = text.find("password", at)) != std::string::npos;) {
        std::size_t i = at + 8;
        while (i < text.size() && text[i] == ' ') {
            ++i;
        }
        if (i >= text.size() || text[i] != '=') {
            at = i;
            continue;
        }
        ++i;
        while (i < text.size() && text[i] == ' ') {
            ++i;
        }
        std::size_t end = i;
        if (end < text.size() && text[end] == '\'') {
            for (++end; end < text.size() && text[end] != '\''; ++end) {
                if (text[end] == '\\') {
                    ++end;
                }
            }
            end = std::min(end + 1, text.size());
        } else {
            while (end < text.size() && text[end] != ' ' && text[end] != '&') {
                ++end;
            }
        }
        text.replace(i, end - i, "***");
        at = i + 3;
    }
    for (const char* scheme : {"postgresql://", "postgres://"}) {
        for (std::size_t at = 0; (at = text.find(scheme, at)) != std::string::npos;) {
            const std::size_t start = at + std::string_view(scheme).size();
            const std::size_t end = text.find_first_of("/?# '\"", start);
            const std::size_t authority_end = end == std::string::npos ? text.size() : end;
            const std::size_t atsign = text.rfind('@', authority_end);
            if (atsign != std::string::npos && atsign >= start) {
                const std::size_t colon = text.find(':', start);
                if (colon != std::string::npos && colon < atsign) {
                    text.replace(colon + 1, atsign - colon - 1, "***");
                }
            }
            at = start;
        }
    }
    return text;
}

} // namespace

std::unique_ptr<pqxx::connection> connect(const std::string& conninfo)
{
    try {
        return std::make_unique<pqxx::connection>(conninfo);
    } catch (const pqxx::broken_connection& e) {
        // libpq's message may repeat parts of the connection string: both are redacted.
        throw db_error("cannot connect to PostgreSQL (" +
                       (conninfo.empty() ? std::string("libpq defaults: PGHOST/PGPORT/PGDATABASE")
                                         : "'" + redacted(conninfo) + "'") +
                       "): " + redacted(e.what()));
    }
}

std::string quote_ident(std::string_view name)
{
    std::string out;
    out.reserve(name.size() + 2);
    out.push_back('"');
    for (char c : name) {
        if (c == '"') {
            out.push_back('"');
        }
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

std::string qualified(std::string_view schema, std::string_view table)
{
    return quote_ident(schema) + "." + quote_ident(table);
}

namespace {
// pqxx::largeobject exposes the libpq handle to its subclasses; that is the supported door.
struct raw_connection_access : pqxx::largeobject {
    using pqxx::largeobject::raw_connection;
};
} // namespace

pg_conn* raw_handle(const pqxx::dbtransaction& txn)
{
    return raw_connection_access::raw_connection(txn);
}

} // namespace onemap::core

namespace onemap::core {

namespace {

// `conninfo` with libpq's connect_timeout set, unless it sets one itself.
std::string with_connect_timeout(std::string conninfo, int seconds)
{
    if (seconds <= 0 || conninfo.find("connect_timeout") != std::string::npos) {
        return conninfo;
    }
    const std::string param = "connect_timeout=" + std::to_string(seconds);
    if (conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0) {
        return conninfo + (conninfo.find('?') == std::string::npos ? "?" : "&") + param;
    }
    return conninfo.empty() ? param : conninfo + " " + param;
}

} // namespace

connection_pool::connection_pool(std::string conninfo, std::size_t size, pool_limits limits)
    : m_conninfo(with_connect_timeout(std::move(conninfo), limits.connect_timeout_s)), m_limits(limits), m_size(size),
      m_free_slots(size)
{
}

connection_pool::lease::~lease()
{
    if (m_conn) {
        m_pool->give_back(std::move(m_conn));
    }
}

connection_pool::lease connection_pool::acquire()
{
    may_block();
    std::unique_lock<std::mutex> lock(m_mutex);
    const auto available = [this] { return !m_idle.empty() || m_free_slots > 0; };
    ++m_waiting;
    bool got = true;
    if (m_limits.acquire_timeout.count() <= 0) {
        m_available.wait(lock, available);
    } else {
        got = m_available.wait_for(lock, m_limits.acquire_timeout, available);
    }
    --m_waiting;
    if (!got) {
        throw timeout_error("--db-wait-timeout-ms", "no database connection came free within " +
                                                        std::to_string(m_limits.acquire_timeout.count()) +
                                                        " ms (--db-wait-timeout-ms): the server is busy; try again");
    }
    if (!m_idle.empty()) {
        auto conn = std::move(m_idle.back());
        m_idle.pop_back();
        if (conn->is_open()) {
            return lease(*this, std::move(conn));
        }
        ++m_free_slots; // a broken connection frees its slot
    }
    --m_free_slots;
    lock.unlock();
    try {
        auto conn = connect(m_conninfo);
        if (m_limits.statement_timeout_ms > 0) {
            // Kept by pqxx across reconnects of this connection.
            conn->set_variable("statement_timeout", std::to_string(m_limits.statement_timeout_ms));
        }
        return lease(*this, std::move(conn));
    } catch (...) {
        std::lock_guard<std::mutex> relock(m_mutex);
        ++m_free_slots;
        m_available.notify_one();
        throw;
    }
}

connection_pool::stats_type connection_pool::stats() const
{
    const std::lock_guard<std::mutex> lock(m_mutex);
    stats_type s;
    s.size = m_size;
    s.idle = m_idle.size();
    s.in_use = m_size - m_free_slots - m_idle.size();
    s.waiting = m_waiting;
    return s;
}

void connection_pool::drop_idle()
{
    std::vector<std::unique_ptr<pqxx::connection>> dropped;
    {
        const std::lock_guard<std::mutex> lock(m_mutex);
        m_free_slots += m_idle.size();
        dropped.swap(m_idle);
        m_available.notify_all();
    }
    // Closed outside the lock: closing a broken connection may wait for its socket.
}

void connection_pool::give_back(std::unique_ptr<pqxx::connection> conn)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    if (conn->is_open()) {
        m_idle.push_back(std::move(conn));
    } else {
        ++m_free_slots;
    }
    m_available.notify_one();
}

void for_each_batch(pqxx::dbtransaction& txn, const std::string& cursor, const std::string& select, std::size_t rows,
                    const std::function<bool(const pqxx::result&)>& batch)
{
    txn.exec("DECLARE " + quote_ident(cursor) + " NO SCROLL CURSOR FOR " + select);
    const std::string fetch = "FETCH FORWARD " + std::to_string(rows) + " FROM " + quote_ident(cursor);
    for (;;) {
        const pqxx::result r = txn.exec(fetch);
        if (r.empty() || !batch(r)) {
            return;
        }
    }
}

} // namespace onemap::core
