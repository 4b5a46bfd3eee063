// Boost.Beast parses requests; answers are written by hand as one gather write (the header
// text and the body, which for a cached tile is the cache's own buffer: no copy).
#include "onemap/tileserver/http_frontend.hpp"

#include "onemap/core/error.hpp"
#include "onemap/core/event_loop.hpp"
#include "onemap/core/log.hpp"
#include "onemap/tileserver/http_errors.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <ctime>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include <sys/resource.h>

namespace onemap::tileserver {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

class session;

// One event loop: an io_context run by one thread, and the connections it owns.
struct event_loop {
    std::unordered_set<session*> sessions; // touched only on this loop's thread; outlives ioc
    asio::io_context ioc{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard{ioc.get_executor()};
    /// Closes the connections whose deadline has passed, four times a second: one timer per
    /// loop instead of a timer started and cancelled around every read and write.
    std::optional<asio::steady_timer> sweep;
};

using clock_type = std::chrono::steady_clock;
constexpr auto SWEEP_INTERVAL = std::chrono::milliseconds(250);

// The Date header, formatted once a second per thread.
std::string_view http_date()
{
    thread_local char buf[64] = {};
    thread_local std::time_t last = 0;
    const std::time_t now = std::time(nullptr);
    if (now != last) {
        last = now;
        std::tm tm{};
        gmtime_r(&now, &tm);
        static const char* const DAYS[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char* const MONTHS[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", DAYS[tm.tm_wday], tm.tm_mday,
                      MONTHS[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    return buf;
}

void append_number(std::string& out, std::size_t v)
{
    char num[24];
    const auto r = std::to_chars(num, num + sizeof num, v);
    out.append(num, r.ptr);
}

http_method method_of(bhttp::verb v)
{
    switch (v) {
    case bhttp::verb::get: return http_method::get;
    case bhttp::verb::head: return http_method::head;
    case bhttp::verb::post: return http_method::post;
    case bhttp::verb::put: return http_method::put;
    case bhttp::verb::delete_: return http_method::del;
    case bhttp::verb::options: return http_method::options;
    case bhttp::verb::patch: return http_method::patch;
    default: return http_method::other;
    }
}

// Repeated failures (accept on a full file table) logged at most once a second, with a count.
class rate_limited_log {
public:
    void warn(const std::string& what)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        const auto now = std::chrono::steady_clock::now();
        ++m_suppressed;
        if (now - m_last >= std::chrono::seconds(1)) {
            log().warn("{} ({} times in the last second or more)", what, m_suppressed);
            m_last = now;
            m_suppressed = 0;
        }
    }

private:
    std::mutex m_mutex;
    std::chrono::steady_clock::time_point m_last{};
    std::uint64_t m_suppressed = 0;
};

} // namespace

struct http_frontend::impl {
    impl(frontend_config c, const router& r) : config(std::move(c)), routes(r), workers(config.worker_threads != 0 ? config.worker_threads : std::max(1u, std::thread::hardware_concurrency()))
    {
        std::size_t n = config.io_threads;
        if (n == 0) {
            n = std::max(1u, std::thread::hardware_concurrency());
        }
        for (std::size_t i = 0; i < n; ++i) {
            loops.push_back(std::make_unique<event_loop>());
        }
        acceptor.emplace(loops[0]->ioc);
    }

    void do_accept();
    void arm_sweep(event_loop& loop);
    void hand_over(event_loop& target, tcp::socket socket);
    void reject(tcp::socket socket);
    void session_closed();
    void begin_shutdown();

    // Counters and flags first: connections still open when the loops are destroyed (after a
    // shutdown grace ran out) end during that destruction and still count themselves out.
    std::atomic<bool> stopping{false};
    std::atomic<bool> destroying{false};
    std::atomic<std::size_t> open{0};
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> rejected{0};
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> on_workers{0};
    frontend_config config;
    const router& routes;
    std::vector<std::unique_ptr<event_loop>> loops;
    asio::thread_pool workers;
    std::optional<tcp::acceptor> acceptor;
    std::optional<asio::signal_set> signals;
    std::optional<asio::steady_timer> grace;
    std::optional<asio::steady_timer> accept_retry;
    std::size_t next_loop = 0;
    rate_limited_log accept_errors;
    std::function<void()> on_stop;
    std::function<void()> on_reload;
    std::optional<asio::signal_set> hangups;
    std::function<void(error_code, int)> on_hangup;
};

namespace {

// Lingering close: after the last answer, stop sending, read and drop what the client still
// sends (up to a limit, for a short time), then close, so that a reset never destroys the
// answer in the client's receive buffer.
void linger_and_close(const std::shared_ptr<beast::tcp_stream>& stream)
{
    error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream->expires_after(std::chrono::seconds(2));
    auto drain = std::make_shared<std::array<char, 4096>>();
    auto remaining = std::make_shared<std::size_t>(64 << 10);
    auto step = std::make_shared<std::function<void(error_code, std::size_t)>>();
    *step = [stream, drain, remaining, step](error_code ec, std::size_t n) mutable {
        if (ec || n >= *remaining) {
            error_code ignore;
            stream->socket().close(ignore);
            *step = nullptr; // breaks the cycle
            return;
        }
        *remaining -= n;
        stream->async_read_some(asio::buffer(*drain), [step](error_code e, std::size_t k) { (*step)(e, k); });
    };
    stream->async_read_some(asio::buffer(*drain), [step](error_code e, std::size_t k) { (*step)(e, k); });
}

class session : public std::enable_shared_from_this<session> {
public:
    session(http_frontend::impl& fe, event_loop& loop, tcp::socket socket)
        : m_fe(fe), m_loop(loop), m_socket(std::move(socket))
    {
        error_code ec;
        m_socket.set_option(tcp::no_delay(true), ec);
        // A worker's first write must never wait for a slow reader (see handle()).
        m_socket.non_blocking(true, ec);
        const auto remote = m_socket.remote_endpoint(ec);
        if (!ec) {
            m_remote = remote.address().to_string();
        }
        m_loop.sessions.insert(this);
    }
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    ~session()
    {
        m_loop.sessions.erase(this);
        if (m_socket.is_open()) {
            error_code ignored;
            m_socket.close(ignored);
        }
        m_fe.session_closed();
    }

    void start() { read_request(); }

    // stop(): idle connections close now; the others after their answer.
    void on_shutdown()
    {
        m_keep_alive = false;
        if (m_state == state::idle) {
            error_code ignored;
            m_socket.cancel(ignored);
        }
    }

    // Called by the loop's sweep: a read or write ran past its deadline. Closing the socket
    // ends the pending operation, and with it the session.
    void expire_if_late(clock_type::time_point now)
    {
        if (now >= m_deadline && m_socket.is_open()) {
            error_code ignored;
            m_socket.close(ignored);
        }
    }

private:
    enum class state { idle, reading, working, writing };

    // Hands the socket to a lingering close that outlives the session.
    void close_lingering()
    {
        m_deadline = clock_type::time_point::max();
        linger_and_close(std::make_shared<beast::tcp_stream>(std::move(m_socket)));
    }

    void read_request()
    {
        if (m_fe.stopping) {
            close_lingering();
            return;
        }
        if (m_buffer.size() > 0) { // pipelined: the next request is already here
            read_header();
            return;
        }
        m_state = state::idle;
        // An idle connection holds no buffer: thousands of them cost little more than their
        // sockets (nginx frees its buffers on keep-alive the same way).
        m_buffer.shrink_to_fit();
        m_deadline = clock_type::now() + m_fe.config.idle_timeout;
        m_socket.async_read_some(m_buffer.prepare(4096), [self = shared_from_this()](error_code ec, std::size_t n) {
            self->m_buffer.commit(n);
            if (ec || n == 0) {
                return; // closed, idle timeout, or shutdown: the session ends here
            }
            self->read_header();
        });
    }

    void read_header()
    {
        m_state = state::reading;
        m_parser.emplace();
        m_parser->header_limit(static_cast<std::uint32_t>(m_fe.config.max_header_bytes + m_fe.config.max_url_bytes));
        m_parser->body_limit(m_fe.config.max_body_bytes);
        m_deadline = clock_type::now() + m_fe.config.header_timeout;
        bhttp::async_read_header(m_socket, m_buffer, *m_parser,
                                 [self = shared_from_this()](error_code ec, std::size_t n) { self->on_header(ec, n); });
    }

    // The length of the request line in the buffer (all of it when no line end came).
    std::size_t request_line_length() const
    {
        const auto data = m_buffer.data();
        const std::string_view text(static_cast<const char*>(data.data()), data.size());
        const auto eol = text.find("\r\n");
        return eol == std::string_view::npos ? text.size() : eol;
    }

    void on_header(error_code ec, std::size_t header_bytes)
    {
        if (ec == bhttp::error::body_limit) { // a Content-Length past the limit
            fail(413, "the request body is larger than " + std::to_string(m_fe.config.max_body_bytes) + " bytes");
            return;
        }
        if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
            // Which limit: the URL (414) or the header fields (431).
            fail(request_line_length() > m_fe.config.max_url_bytes + 16 ? 414 : 431,
                 request_line_length() > m_fe.config.max_url_bytes + 16 ? "the request URL is too long"
                                                                        : "the request header is too large");
            return;
        }
        if (ec) {
            if (ec == beast::error::timeout || ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
                ec == bhttp::error::partial_message) {
                return; // a slow or vanished client: closed without an answer
            }
            fail(400, "malformed request: " + ec.message());
            return;
        }
        const auto& msg = m_parser->get();
        const std::size_t line = msg.target().size();
        if (line > m_fe.config.max_url_bytes) {
            fail(414, "the request URL is longer than " + std::to_string(m_fe.config.max_url_bytes) + " bytes");
            return;
        }
        if (header_bytes > request_line_length_of(msg) + m_fe.config.max_header_bytes) {
            fail(431, "the request header is larger than " + std::to_string(m_fe.config.max_header_bytes) + " bytes");
            return;
        }
        if (msg.version() != 11 && msg.version() != 10) {
            fail(505, "only HTTP/1.0 and HTTP/1.1 are served");
            return;
        }
        if (m_parser->is_done()) {
            handle();
            return;
        }
        if (beast::iequals(msg[bhttp::field::expect], "100-continue")) {
            static const std::string CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n";
            m_deadline = clock_type::now() + m_fe.config.write_timeout;
            asio::async_write(m_socket, asio::buffer(CONTINUE), [self = shared_from_this()](error_code e, std::size_t) {
                if (!e) {
                    self->read_body();
                }
            });
            return;
        }
        read_body();
    }

    static std::size_t request_line_length_of(const bhttp::request<bhttp::string_body>& msg)
    {
        return msg.method_string().size() + msg.target().size() + 12; // "M T HTTP/1.1\r\n"
    }

    void read_body()
    {
        m_deadline = clock_type::now() + m_fe.config.body_timeout;
        bhttp::async_read(m_socket, m_buffer, *m_parser, [self = shared_from_this()](error_code ec, std::size_t) {
            if (ec == bhttp::error::body_limit) {
                self->fail(413, "the request body is larger than " + std::to_string(self->m_fe.config.max_body_bytes) +
                                    " bytes");
                return;
            }
            if (ec == beast::error::timeout || ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
                return;
            }
            if (ec) {
                self->fail(400, "malformed request body: " + ec.message());
                return;
            }
            self->handle();
        });
    }

    void handle()
    {
        auto& msg = m_parser->get();
        m_request.method = method_of(msg.method());
        m_request.set_target(std::string_view(msg.target().data(), msg.target().size()));
        m_request.headers.clear();
        for (const auto& field : msg) {
            m_request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
        }
        m_request.body = std::move(msg.body());
        if (m_request.method == http_method::post &&
            beast::iequals(msg[bhttp::field::content_type].substr(0, 33), "application/x-www-form-urlencoded")) {
            m_request.add_params(m_request.body);
        }
        m_request.remote_addr = m_remote;
        m_request.path_params.clear();
        m_request.caller = {};
        m_request.received = std::chrono::steady_clock::now();
        m_request.route = {};
        m_request.layer.clear();
        m_request.zoom.clear();
        m_keep_alive = m_keep_alive && msg.keep_alive() && !m_fe.stopping;
        m_http10 = msg.version() == 10;
        m_response.reset();
        m_state = state::working;
        m_deadline = clock_type::time_point::max(); // workers have their own limits
        ++m_fe.requests;
        if (dispatch(false) == dispatch_result::done) {
            write();
            return;
        }
        ++m_fe.on_workers;
        // The guard keeps this loop running while the worker has the request. The worker sends
        // what the socket takes at once (nearly always the whole answer), so the client does
        // not wait for this loop to wake; the loop then sends the rest, if any, and reads on.
        // Meanwhile the loop leaves the socket alone: no operation is pending on it, and its
        // deadline is unset, so the sweep passes it by.
        asio::post(m_fe.workers, [self = shared_from_this(), guard = asio::make_work_guard(m_loop.ioc)]() mutable {
            self->dispatch(true);
            self->write_now();
            auto& ioc = self->m_loop.ioc;
            asio::post(ioc, [self = std::move(self), guard = std::move(guard)] { self->write(); });
        });
    }

    dispatch_result dispatch(bool on_worker)
    {
        try {
            return m_fe.routes.dispatch(m_request, m_response, on_worker);
        } catch (const std::exception& e) {
            log().error("answering {}: {}", m_request.target, e.what());
        } catch (...) {
            log().error("answering {}: unknown exception", m_request.target);
        }
        m_response.reset();
        send_problem(m_response, 500, "Internal Server Error", "internal error; see the server log");
        return dispatch_result::done;
    }

    // A bad request: answer it and close the connection.
    void fail(int status, const std::string& detail)
    {
        m_keep_alive = false;
        m_request = http_request{};
        m_response.reset();
        send_problem(m_response, status, std::string(reason_phrase(status)), detail);
        write();
    }

    // On a worker: the answer's head, and as much of the answer as the socket takes now.
    void write_now()
    {
        compose();
        m_sent = m_socket.write_some(m_buffers, m_send_error);
        if (m_send_error == asio::error::would_block || m_send_error == asio::error::try_again) {
            m_send_error = {}; // a full socket buffer: the loop sends it all
            m_sent = 0;
        }
    }

    // On the loop: the rest of the answer (all of it when no worker sent any), then the next
    // request.
    void write()
    {
        m_state = state::writing;
        if (!m_composed) {
            compose();
        }
        m_composed = false;
        if (m_send_error) {
            m_send_error = {};
            m_response.reset();
            return; // the client is gone: the session ends here
        }
        const std::size_t sent = std::exchange(m_sent, 0);
        const std::size_t head = m_buffers[0].size();
        const std::array<asio::const_buffer, 2> rest{m_buffers[0] + std::min(sent, head),
                                                     m_buffers[1] + (sent > head ? sent - head : 0)};
        m_deadline = clock_type::now() + m_fe.config.write_timeout;
        asio::async_write(m_socket, rest, [self = shared_from_this()](error_code ec, std::size_t) {
            self->m_response.reset(); // lets go of a shared tile body
            if (ec) {
                return;
            }
            if (!self->m_keep_alive) {
                self->close_lingering();
                return;
            }
            self->m_parser.reset();
            self->read_request();
        });
    }

    // The head of the answer in m_head, and the buffers of head and body.
    void compose()
    {
        m_composed = true;
        if (m_fe.stopping) {
            m_keep_alive = false;
        }
        const bool head_only = m_request.method == http_method::head;
        const std::string_view body = m_response.content();
        std::string& h = m_head;
        h.clear();
        h += m_http10 ? "HTTP/1.0 " : "HTTP/1.1 ";
        append_number(h, static_cast<std::size_t>(m_response.status));
        h += ' ';
        h += reason_phrase(m_response.status);
        h += "\r\nServer: onemap\r\nDate: ";
        h += http_date();
        h += "\r\n";
        for (const auto& [name, value] : m_response.headers) {
            h += name;
            h += ": ";
            h += value;
            h += "\r\n";
        }
        const bool no_body_allowed = m_response.status == 204 || m_response.status == 304 || m_response.status < 200;
        if (!no_body_allowed) {
            h += "Content-Length: ";
            append_number(h, body.size());
            h += "\r\n";
        }
        if (!m_keep_alive) {
            h += "Connection: close\r\n";
        } else if (m_http10) {
            h += "Connection: keep-alive\r\n";
        }
        h += "\r\n";
        m_buffers = {asio::buffer(h),
                     head_only || no_body_allowed ? asio::const_buffer() : asio::buffer(body.data(), body.size())};
    }

    http_frontend::impl& m_fe;
    event_loop& m_loop;
    tcp::socket m_socket;
    clock_type::time_point m_deadline = clock_type::time_point::max(); ///< of the pending read or write
    beast::flat_buffer m_buffer; // unbounded: the parser's header and body limits bound it
    std::optional<bhttp::request_parser<bhttp::string_body>> m_parser;
    http_request m_request;
    http_response m_response;
    std::string m_head;
    std::array<asio::const_buffer, 2> m_buffers; ///< head and body of the answer being sent
    bool m_composed = false;                     ///< m_head and m_buffers hold the answer
    std::size_t m_sent = 0;                      ///< bytes a worker sent
    error_code m_send_error;                     ///< the worker's send failed
    std::string m_remote;
    state m_state = state::idle;
    std::atomic<bool> m_keep_alive{true}; // on_shutdown() may clear it while a worker composes
    bool m_http10 = false;
};

} // namespace

void http_frontend::impl::hand_over(event_loop& target, tcp::socket socket)
{
    ++accepted;
    if (open.load() >= config.max_connections) {
        ++rejected;
        asio::post(target.ioc, [this, s = std::move(socket)]() mutable { reject(std::move(s)); });
        return;
    }
    ++open;
    asio::post(target.ioc, [this, &target, s = std::move(socket)]() mutable {
        std::make_shared<session>(*this, target, std::move(s))->start();
    });
}

void http_frontend::impl::do_accept()
{
    event_loop& first = *loops[next_loop++ % loops.size()];
    acceptor->async_accept(first.ioc, [this, &first](error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || stopping) {
            return;
        }
        if (ec) {
            accept_errors.warn("cannot accept a connection: " + ec.message());
            // Out of file descriptors: wait a little rather than spin.
            accept_retry->expires_after(std::chrono::milliseconds(50));
            accept_retry->async_wait([this](error_code e) {
                if (!e && !stopping) {
                    do_accept();
                }
            });
            return;
        }
        hand_over(first, std::move(socket));
        // Drain the backlog now (nginx's multi_accept): loop 0 also serves requests, and one
        // accept per turn of a busy loop would leave a burst of new clients waiting in the
        // kernel's queue for seconds.
        for (int i = 0; i < 1024 && !stopping; ++i) {
            event_loop& target = *loops[next_loop % loops.size()];
            error_code e;
            tcp::socket more = acceptor->accept(target.ioc, e);
            if (e) {
                break; // would block: the queue is empty (or an error the next async_accept reports)
            }
            ++next_loop;
            hand_over(target, std::move(more));
        }
        do_accept();
    });
}

void http_frontend::impl::arm_sweep(event_loop& loop)
{
    loop.sweep->expires_after(SWEEP_INTERVAL);
    loop.sweep->async_wait([this, &loop](error_code ec) {
        if (ec) {
            return;
        }
        const auto now = clock_type::now();
        // Copy: an expired session may end (and leave the set) before the loop moves on.
        const std::vector<session*> sessions(loop.sessions.begin(), loop.sessions.end());
        for (auto* s : sessions) {
            s->expire_if_late(now);
        }
        if (!(stopping && loop.sessions.empty())) {
            arm_sweep(loop);
        }
    });
}

// Over the connection cap: a 503 and a lingering close, never a stall.
void http_frontend::impl::reject(tcp::socket socket)
{
    static const std::string BODY =
        R"({"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the server has too many open connections; retry shortly"})";
    static const std::string ANSWER = "HTTP/1.1 503 Service Unavailable\r\nServer: onemap\r\n"
                                      "Content-Type: application/problem+json\r\nRetry-After: 1\r\n"
                                      "Connection: close\r\nContent-Length: " +
                                      std::to_string(BODY.size()) + "\r\n\r\n" + BODY;
    auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
    stream->expires_after(config.write_timeout);
    asio::async_write(*stream, asio::buffer(ANSWER), [stream](error_code ec, std::size_t) {
        if (ec) {
            return;
        }
        linger_and_close(stream);
    });
}

void http_frontend::impl::session_closed()
{
    if (--open == 0 && stopping && !destroying) {
        asio::post(loops[0]->ioc, [this] {
            if (grace) {
                grace->cancel();
            }
        });
    }
}

void http_frontend::impl::begin_shutdown()
{
    error_code ignored;
    acceptor->close(ignored);
    if (signals) {
        signals->cancel(ignored);
        if (hangups) {
            hangups->cancel(ignored);
        }
    }
    accept_retry->cancel();
    if (open.load() > 0) {
        grace->expires_after(config.shutdown_grace);
        grace->async_wait([this](error_code ec) {
            if (!ec && open.load() > 0) {
                log().warn("{} connections still busy after the shutdown grace; closing them", open.load());
                for (auto& l : loops) {
                    l->ioc.stop();
                }
            }
        });
    }
}

http_frontend::http_frontend(frontend_config config, const router& routes)
    : m_impl(std::make_unique<impl>(std::move(config), routes))
{
}

http_frontend::~http_frontend()
{
    m_impl->destroying = true;
    m_impl->workers.join();
    // Timers and sockets of loop 0 go before the loops; then each loop with its connections.
    m_impl->accept_retry.reset();
    m_impl->grace.reset();
    m_impl->signals.reset();
    m_impl->hangups.reset();
    m_impl->acceptor.reset();
    for (auto& l : m_impl->loops) {
        l->sweep.reset();
    }
    while (!m_impl->loops.empty()) {
        m_impl->loops.pop_back();
    }
}

int http_frontend::bind()
{
    auto& cfg = m_impl->config;
    // Every connection is a descriptor: take all the process may have (nginx's
    // worker_rlimit_nofile, without a setting).
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    error_code ec;
    const auto address = asio::ip::make_address(cfg.host, ec);
    if (ec) {
        throw config_error("cannot listen on '" + cfg.host + "': not an IP address");
    }
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(cfg.port));
    auto& acceptor = *m_impl->acceptor;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) {
        acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        acceptor.bind(endpoint, ec);
    }
    if (!ec) {
        acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (!ec) {
        acceptor.non_blocking(true, ec); // the accept loop drains the queue until it would block
    }
    if (ec) {
        throw config_error("cannot listen on " + cfg.host + ":" + std::to_string(cfg.port) + ": " + ec.message());
    }
    cfg.port = acceptor.local_endpoint().port();
    return cfg.port;
}

void http_frontend::run()
{
    auto& fe = *m_impl;
    auto& loop0 = fe.loops[0]->ioc;
    fe.grace.emplace(loop0);
    fe.accept_retry.emplace(loop0);
    if (fe.config.handle_signals) {
        fe.signals.emplace(loop0, SIGINT, SIGTERM);
        std::function<void(error_code, int)> on_signal;
        on_signal = [this](error_code ec, int sig) {
            if (ec) {
                return;
            }
            log().info("signal {}: finishing requests in flight, then stopping", sig);
            stop();
        };
        fe.signals->async_wait(on_signal);
        if (fe.on_reload) {
            fe.hangups.emplace(loop0, SIGHUP);
            fe.on_hangup = [this](error_code ec, int) {
                if (ec) {
                    return;
                }
                log().info("SIGHUP: reloading the configuration");
                post(m_impl->on_reload);
                m_impl->hangups->async_wait(m_impl->on_hangup); // the next one
            };
            fe.hangups->async_wait(fe.on_hangup);
        }
    }
    asio::post(loop0, [&fe] { fe.do_accept(); });
    for (auto& l : fe.loops) {
        l->sweep.emplace(l->ioc);
        fe.arm_sweep(*l);
    }
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < fe.loops.size(); ++i) {
        threads.emplace_back([&loop = *fe.loops[i]] {
            core::set_event_loop_thread(true);
            loop.ioc.run();
        });
    }
    core::set_event_loop_thread(true);
    loop0.run();
    core::set_event_loop_thread(false);
    for (auto& t : threads) {
        t.join();
    }
    fe.workers.join();
}

void http_frontend::stop()
{
    auto& fe = *m_impl;
    if (fe.stopping.exchange(true)) {
        return;
    }
    if (fe.on_stop) {
        fe.on_stop();
    }
    asio::post(fe.loops[0]->ioc, [&fe] { fe.begin_shutdown(); });
    for (auto& l : fe.loops) {
        asio::post(l->ioc, [loop = l.get()] {
            // Copy: closing a session may end it, which erases it from the set.
            const std::vector<session*> sessions(loop->sessions.begin(), loop->sessions.end());
            for (auto* s : sessions) {
                if (loop->sessions.count(s) > 0) {
                    s->on_shutdown();
                }
            }
            loop->guard.reset();
            if (loop->sessions.empty() && loop->sweep) {
                loop->sweep->cancel();
            }
        });
    }
}

void http_frontend::post(std::function<void()> task)
{
    asio::post(m_impl->workers, [task = std::move(task)] {
        try {
            task();
        } catch (const std::exception& e) {
            log().error("background task: {}", e.what());
        } catch (...) {
            log().error("background task: unknown exception");
        }
    });
}

void http_frontend::set_reload_handler(std::function<void()> on_reload)
{
    m_impl->on_reload = std::move(on_reload);
}

void http_frontend::set_stop_handler(std::function<void()> on_stop)
{
    m_impl->on_stop = std::move(on_stop);
}

frontend_stats http_frontend::stats() const
{
    frontend_stats s;
    s.accepted = m_impl->accepted;
    s.rejected = m_impl->rejected;
    s.requests = m_impl->requests;
    s.on_workers = m_impl->on_workers;
    s.open = m_impl->open;
    return s;
}

} // namespace onemap::tileserver
