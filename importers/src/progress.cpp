#include "onemap/importers/progress.hpp"

#include <unistd.h>

namespace onemap::importers {

progress::progress(std::FILE* out) : m_out(out), m_tty(out != nullptr && isatty(fileno(out)) != 0) {}

void progress::start(const std::string& layer, long long total)
{
    m_layer = layer;
    m_total = total;
    m_started = m_last_draw = std::chrono::steady_clock::now();
    draw(0, false);
}

void progress::update(long long done)
{
    if (m_out == nullptr || (done & 1023) != 0) {
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    const auto every = m_tty ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
    if (now - m_last_draw >= every) {
        m_last_draw = now;
        draw(done, false);
    }
}

void progress::finish(long long done, const std::string& status)
{
    if (m_out == nullptr) {
        return;
    }
    draw(done, true);
    std::fprintf(m_out, " %s\n", status.c_str());
    std::fflush(m_out);
}

void progress::draw(long long done, bool final)
{
    if (m_out == nullptr) {
        return;
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - m_started).count();
    const double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
    char line[256];
    if (m_total > 0) {
        const double share = static_cast<double>(done) / static_cast<double>(m_total);
        const double eta = rate > 0 ? static_cast<double>(m_total - done) / rate : 0.0;
        const int width = 24;
        const int filled = static_cast<int>(share * width);
        std::string bar(static_cast<std::size_t>(filled), '#');
        bar.resize(width, '.');
        std::snprintf(line, sizeof line, "%-24s [%s] %5.1f%% %lld/%lld %8.0f features/s ETA %4.0fs",
                      m_layer.c_str(), bar.c_str(), share * 100, done, m_total, rate, eta);
    } else {
        std::snprintf(line, sizeof line, "%-24s %lld features %8.0f features/s", m_layer.c_str(),
                      done, rate);
    }
    if (m_tty) {
        std::fprintf(m_out, "\r%s", line);
    } else if (final || done > 0) {
        std::fprintf(m_out, "%s%s", line, final ? "" : "\n");
    }
    std::fflush(m_out);
}

} // namespace onemap::importers
