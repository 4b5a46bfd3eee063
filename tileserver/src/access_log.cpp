#include "onemap/tileserver/access_log.hpp"

#include "onemap/core/error.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

namespace onemap::tileserver {

namespace {

constexpr std::size_t MAX_QUEUED = 65536;

} // namespace

access_log::access_log(const std::string& path)
{
    if (path == "-") {
        m_out = stdout;
    } else {
        m_out = std::fopen(path.c_str(), "ae");
        if (m_out == nullptr) {
            throw config_error("cannot open the access log " + path + ": " + std::strerror(errno));
        }
        m_owned = true;
    }
    m_writer = std::thread([this] { run(); });
}

access_log::~access_log()
{
    {
        const std::lock_guard<std::mutex> lock(m_mutex);
        m_stopping = true;
    }
    m_wake.notify_one();
    m_writer.join();
    if (m_owned) {
        std::fclose(m_out);
    }
}

void access_log::write(std::string line)
{
    {
        const std::lock_guard<std::mutex> lock(m_mutex);
        if (m_queue.size() >= MAX_QUEUED) {
            ++m_dropped;
            return;
        }
        m_queue.push_back(std::move(line));
    }
    m_wake.notify_one();
}

void access_log::run()
{
    std::vector<std::string> batch;
    for (;;) {
        std::uint64_t dropped = 0;
        bool stopping = false;
        {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_wake.wait(lock, [this] { return m_stopping || !m_queue.empty(); });
            batch.assign(std::make_move_iterator(m_queue.begin()), std::make_move_iterator(m_queue.end()));
            m_queue.clear();
            dropped = m_dropped;
            m_dropped = 0;
            stopping = m_stopping;
        }
        for (const auto& line : batch) {
            std::fwrite(line.data(), 1, line.size(), m_out);
            std::fputc('\n', m_out);
        }
        if (dropped > 0) {
            std::fprintf(m_out, "{\"dropped\":%llu}\n", static_cast<unsigned long long>(dropped));
        }
        std::fflush(m_out);
        batch.clear();
        if (stopping) {
            return;
        }
    }
}

} // namespace onemap::tileserver
