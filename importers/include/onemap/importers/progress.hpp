#pragma once
// Import progress: a live bar (features/s, ETA) on a terminal, a plain line every few
// seconds otherwise.
#include <chrono>
#include <cstdio>
#include <string>

namespace onemap::importers {

/// Also the importer's observer: a library user (a GUI, a test) derives from it to follow an
/// import; update() is called on the thread writing COPY, after each buffer sent.
class progress {
public:
    /// `out` nullptr = silent.
    explicit progress(std::FILE* out);
    progress(const progress&) = delete;
    progress& operator=(const progress&) = delete;
    progress(progress&&) = delete;
    progress& operator=(progress&&) = delete;
    virtual ~progress() = default;

    virtual void start(const std::string& layer, long long total);
    virtual void update(long long done);
    virtual void finish(long long done, const std::string& status);

private:
    void draw(long long done, bool final);

    std::FILE* m_out;
    bool m_tty;
    std::string m_layer;
    long long m_total = -1;
    std::chrono::steady_clock::time_point m_started;
    std::chrono::steady_clock::time_point m_last_draw;
};

} // namespace onemap::importers
