#include "row_pipeline.hpp"

#include "onemap/core/error.hpp"
#include "onemap/importers/text_decoder.hpp"

#include <cpl_error.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_set>

namespace onemap::importers::detail {

namespace {

using core::attribute_type;

constexpr std::size_t BATCH = 1024;

struct feature_batch {
    std::uint64_t seq = 0;
    std::vector<std::unique_ptr<OGRFeature>> features;
};

struct prepared_row {
    long long id;
    long long source_fid;
    std::size_t begin;
    std::size_t end;
    std::size_t polygon; // index in prepared_batch::polygons (with ctx.collect_polygons)
};

struct prepared_batch {
    std::string text;
    std::vector<prepared_row> rows;
    polygon_set polygons;
    row_totals totals; // read, repaired, rejected, notes, bbox, encoding counters of this batch
    std::optional<std::string> fatal;
};

void add_note(std::vector<feature_note>& notes, long long fid, std::string kind, std::string detail)
{
    if (notes.size() < MAX_NOTES) {
        notes.push_back(feature_note{fid, std::move(kind), std::move(detail)});
    }
}

// COPY text format: backslash, tab, newline and carriage return are escaped.
void append_copy_text(std::string& buf, std::string_view s)
{
    for (char c : s) {
        switch (c) {
        case '\\':
            buf += "\\\\";
            break;
        case '\t':
            buf += "\\t";
            break;
        case '\n':
            buf += "\\n";
            break;
        case '\r':
            buf += "\\r";
            break;
        default:
            buf.push_back(c);
        }
    }
}

std::optional<long long> parse_id(const char* text)
{
    std::string s(text);
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t") + 1);
    if (s.empty() || s.size() > 18 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        return std::nullopt;
    }
    return std::stoll(s);
}

void append_datetime(std::string& buf, OGRFeature& feat, int index, bool date_only)
{
    int y, mo, d, h, mi, tz;
    float s;
    feat.GetFieldAsDateTime(index, &y, &mo, &d, &h, &mi, &s, &tz);
    char when[64];
    if (date_only) {
        std::snprintf(when, sizeof when, "%04d-%02d-%02d", y, mo, d);
    } else if (tz >= 100) {
        const int offset = (tz - 100) * 15;
        std::snprintf(when, sizeof when, "%04d-%02d-%02d %02d:%02d:%06.3f%+03d:%02d", y, mo, d, h, mi,
                      static_cast<double>(s), offset / 60, std::abs(offset % 60));
    } else {
        std::snprintf(when, sizeof when, "%04d-%02d-%02d %02d:%02d:%06.3f", y, mo, d, h, mi, static_cast<double>(s));
    }
    buf += when;
}

// One worker's tools: not shareable between threads.
struct worker_tools {
    explicit worker_tools(const row_context& ctx) : preparer(ctx.family, ctx.transform_pipeline, ctx.shapefile)
    {
        preparer.keep_geometry(ctx.collect_polygons);
        if (ctx.encoding) {
            decoder.emplace(*ctx.encoding);
        }
    }
    geometry_preparer preparer;
    std::optional<text_decoder> decoder;
};

// Appends one feature's COPY row to out.text; false when the feature is rejected or the
// batch hit a fatal error (out.fatal set).
bool prepare_row(OGRFeature& feat, long long fid_offset, const row_context& ctx, worker_tools& tools,
                 prepared_batch& out)
{
    row_totals& t = out.totals;
    const long long source_fid = feat.GetFID();
    long long id = source_fid + fid_offset;
    if (ctx.id_index >= 0) {
        const auto parsed =
            feat.IsFieldSetAndNotNull(ctx.id_index) ? parse_id(feat.GetFieldAsString(ctx.id_index)) : std::nullopt;
        if (!parsed) {
            add_note(t.rejections, source_fid, "bad_id",
                     "field " + ctx.id_field + " = '" + feat.GetFieldAsString(ctx.id_index) +
                         "' is not a non-negative integer id");
            ++t.rejected;
            return false;
        }
        id = *parsed;
    }

    prepared_geometry geom = tools.preparer.prepare(feat.GetGeometryRef());
    if (!geom.ewkb_hex) {
        add_note(t.rejections, source_fid, geom.reject_kind, geom.reject_detail);
        ++t.rejected;
        return false;
    }
    if (geom.outside_area_of_use && !ctx.allow_outside_area) {
        add_note(t.rejections, source_fid, "outside_area_of_use",
                 "lies outside EPSG:4490's area of use (China) after transformation: is the CRS right? "
                 "--allow-outside-area keeps such features");
        ++t.rejected;
        return false;
    }

    std::string& buf = out.text;
    const std::size_t begin = buf.size();
    buf += std::to_string(id);
    std::size_t class_begin = 0;
    std::size_t class_end = 0;
    for (std::size_t fi = 0; fi < ctx.fields.size(); ++fi) {
        const auto& f = ctx.fields[fi];
        buf.push_back('\t');
        if (!feat.IsFieldSetAndNotNull(f.index)) {
            buf += "\\N";
            continue;
        }
        if (static_cast<int>(fi) == ctx.class_field) {
            class_begin = buf.size(); // the value's COPY text, appended below
        }
        switch (f.attr.type) {
        case attribute_type::integer:
            buf += std::to_string(feat.GetFieldAsInteger(f.index));
            break;
        case attribute_type::bigint:
            buf += std::to_string(feat.GetFieldAsInteger64(f.index));
            break;
        case attribute_type::boolean:
            buf += feat.GetFieldAsInteger(f.index) != 0 ? "t" : "f";
            break;
        case attribute_type::real: {
            const double d = feat.GetFieldAsDouble(f.index);
            if (!std::isfinite(d)) {
                buf += "\\N";
            } else {
                char num[32];
                std::snprintf(num, sizeof num, "%.17g", d);
                buf += num;
            }
            break;
        }
        case attribute_type::date:
        case attribute_type::timestamp:
            append_datetime(buf, feat, f.index, f.attr.type == attribute_type::date);
            break;
        case attribute_type::text: {
            const std::string_view bytes(feat.GetFieldAsString(f.index));
            if (is_ascii(bytes)) {
                append_copy_text(buf, bytes);
                break;
            }
            if (!tools.decoder) {
                out.fatal = ctx.label + ": feature " + std::to_string(source_fid) + ", field " + f.attr.source_name +
                            ": non-ASCII text but the file declares no encoding (no .cpg, DBF LDID 0); pass "
                            "--encoding (e.g. GBK)";
                return false;
            }
            auto text = tools.decoder->decode(bytes);
            if (!text) {
                out.fatal = ctx.label + ": feature " + std::to_string(source_fid) + ", field " + f.attr.source_name +
                            ": bytes are not valid " + tools.decoder->encoding() + " text; pass the right --encoding";
                return false;
            }
            ++t.non_ascii;
            t.all_non_ascii_is_utf8 = t.all_non_ascii_is_utf8 && is_valid_utf8(bytes);
            append_copy_text(buf, *text);
            break;
        }
        }
        if (static_cast<int>(fi) == ctx.class_field) {
            class_end = buf.size();
        }
    }
    const std::size_t prefix_end = buf.size();
    buf.push_back('\t');
    buf += *geom.ewkb_hex;
    buf.push_back('\n');
    std::size_t polygon = 0;
    if (ctx.collect_polygons && geom.geometry) {
        polygon = out.polygons.size();
        const std::string_view text(buf);
        out.polygons.add(id, text.substr(class_begin, class_end - class_begin), text.substr(begin, prefix_end - begin),
                         *geom.geometry);
    }

    t.dimensions_dropped += geom.dimensions_dropped ? 1 : 0;
    t.outside_area_of_use += geom.outside_area_of_use ? 1 : 0;
    if (!geom.repairs.empty()) {
        ++t.repaired;
        for (auto& [kind, detail] : geom.repairs) {
            add_note(t.repairs, source_fid, kind, detail);
        }
    }
    if (t.any_geometry) {
        t.bbox.Merge(geom.envelope);
    } else {
        t.bbox = geom.envelope;
        t.any_geometry = true;
    }
    out.rows.push_back(prepared_row{id, source_fid, begin, buf.size(), polygon});
    return true;
}

class pipeline {
public:
    pipeline(OGRLayer& layer, const row_context& ctx, unsigned workers) : m_layer(layer), m_ctx(ctx)
    {
        m_threads.emplace_back([this] { read_loop(); });
        for (unsigned i = 0; i < std::max(1U, workers); ++i) {
            m_threads.emplace_back([this] { work_loop(); });
        }
    }
    ~pipeline()
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_cancel = true;
        }
        m_changed.notify_all();
        for (auto& t : m_threads) {
            t.join();
        }
    }
    pipeline(const pipeline&) = delete;
    pipeline& operator=(const pipeline&) = delete;

    /// The next batch in source order; nothing at the end. \throws input_error on a read failure.
    std::optional<prepared_batch> next()
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_changed.wait(lock, [this] {
            return m_results.count(m_next) != 0 || (m_reader_done && m_next == m_batches_read) || m_worker_error;
        });
        if (m_worker_error) {
            std::rethrow_exception(m_worker_error);
        }
        auto it = m_results.find(m_next);
        if (it == m_results.end()) {
            if (m_read_error) {
                throw input_error("source", *m_read_error);
            }
            return std::nullopt;
        }
        prepared_batch b = std::move(it->second);
        m_results.erase(it);
        ++m_next;
        m_changed.notify_all(); // room for the reader again
        return b;
    }

    long long fid_offset() const noexcept { return m_fid_offset; }
    /// After the last batch: features GDAL could not read (tolerated), and the first message.
    std::pair<long long, std::string> unreadable()
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return {m_unreadable, m_first_unreadable};
    }

private:
    void read_loop()
    {
        feature_batch batch;
        long long read = 0;
        m_layer.ResetReading();
        for (;;) {
            CPLErrorReset();
            std::unique_ptr<OGRFeature> feat{m_layer.GetNextFeature()};
            if (CPLGetLastErrorType() == CE_Failure) {
                std::lock_guard<std::mutex> lock(m_mutex);
                const std::string why = m_ctx.label + ": feature " + std::to_string(read) + " cannot be read: " +
                                        CPLGetLastErrorMsg();
                if (!m_ctx.tolerate_unreadable) {
                    m_read_error = why;
                    break;
                }
                if (m_unreadable++ == 0) {
                    m_first_unreadable = why;
                }
                if (feat) {
                    ++read; // its position is used up; the feature itself is not kept
                    continue;
                }
                break; // the reader cannot get past it: the rest counts as not read
            }
            if (!feat) {
                break;
            }
            if (read == 0 && feat->GetFID() == 0) {
                m_fid_offset = 1; // 0-based FIDs (shapefile, GeoJSON): ids start at 1
            }
            ++read;
            batch.features.push_back(std::move(feat));
            if (batch.features.size() == BATCH && !push(batch)) {
                return;
            }
        }
        if (!batch.features.empty()) {
            push(batch);
        }
        std::lock_guard<std::mutex> lock(m_mutex);
        m_reader_done = true;
        m_changed.notify_all();
    }

    // Hands a full batch to the workers, waiting while too many are in flight.
    bool push(feature_batch& batch)
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_changed.wait(lock, [this] { return m_cancel || m_batches_read - m_next < MAX_IN_FLIGHT; });
        if (m_cancel) {
            return false;
        }
        batch.seq = m_batches_read++;
        m_input.push_back(std::move(batch));
        batch = feature_batch{};
        m_changed.notify_all();
        return true;
    }

    void work_loop()
    {
        try {
            worker_tools tools(m_ctx);
            for (;;) {
                feature_batch batch;
                {
                    std::unique_lock<std::mutex> lock(m_mutex);
                    m_changed.wait(lock, [this] { return m_cancel || !m_input.empty() || m_reader_done; });
                    if (m_cancel || m_input.empty()) {
                        return;
                    }
                    batch = std::move(m_input.front());
                    m_input.pop_front();
                }
                prepared_batch out;
                out.text.reserve(batch.features.size() * 512);
                for (auto& f : batch.features) {
                    ++out.totals.read;
                    prepare_row(*f, m_fid_offset, m_ctx, tools, out);
                    if (out.fatal) {
                        break;
                    }
                }
                batch.features.clear(); // free GDAL features on this thread
                std::lock_guard<std::mutex> lock(m_mutex);
                m_results.emplace(batch.seq, std::move(out));
                m_changed.notify_all();
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_worker_error = std::current_exception();
            m_changed.notify_all();
        }
    }

    static constexpr std::uint64_t MAX_IN_FLIGHT = 8;

    OGRLayer& m_layer;
    const row_context& m_ctx;
    std::vector<std::thread> m_threads;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<feature_batch> m_input;
    std::map<std::uint64_t, prepared_batch> m_results;
    std::uint64_t m_batches_read = 0;
    std::uint64_t m_next = 0;
    bool m_reader_done = false;
    bool m_cancel = false;
    std::optional<std::string> m_read_error;
    long long m_unreadable = 0;
    std::string m_first_unreadable;
    std::exception_ptr m_worker_error;
    long long m_fid_offset = 0; // written by the reader before its first push
};

void merge_notes(std::vector<feature_note>& into, std::vector<feature_note>& from)
{
    for (auto& n : from) {
        if (into.size() >= MAX_NOTES) {
            break;
        }
        into.push_back(std::move(n));
    }
}

} // namespace

row_totals run_row_pipeline(OGRLayer& layer, const row_context& ctx, unsigned workers,
                            const std::function<void(std::string&, long long)>& sink, polygon_set* polygons)
{
    row_totals total;
    std::unordered_set<long long> ids;
    std::string buf;
    buf.reserve(1 << 21);
    pipeline p(layer, ctx, workers);
    while (auto batch = p.next()) {
        if (batch->fatal) {
            throw input_error("encoding", *batch->fatal);
        }
        row_totals& t = batch->totals;
        for (const auto& row : batch->rows) {
            // Ids are checked in source order, so "the earlier feature" is well defined.
            if (!ids.insert(row.id).second) {
                add_note(total.rejections, row.source_fid, "duplicate_id",
                         "feature id " + std::to_string(row.id) + " already used by an earlier feature");
                ++total.rejected;
                continue;
            }
            buf.append(batch->text, row.begin, row.end - row.begin);
            if (polygons != nullptr && ctx.collect_polygons) {
                polygons->append(batch->polygons, row.polygon);
            }
            ++total.features;
        }
        total.read += t.read;
        total.repaired += t.repaired;
        total.rejected += t.rejected;
        total.dimensions_dropped += t.dimensions_dropped;
        total.outside_area_of_use += t.outside_area_of_use;
        total.non_ascii += t.non_ascii;
        total.all_non_ascii_is_utf8 = total.all_non_ascii_is_utf8 && t.all_non_ascii_is_utf8;
        if (t.any_geometry) {
            if (total.any_geometry) {
                total.bbox.Merge(t.bbox);
            } else {
                total.bbox = t.bbox;
                total.any_geometry = true;
            }
        }
        merge_notes(total.repairs, t.repairs);
        merge_notes(total.rejections, t.rejections);
        sink(buf, total.read);
    }
    std::tie(total.unreadable, total.first_unreadable) = p.unreadable();
    return total;
}

} // namespace onemap::importers::detail
