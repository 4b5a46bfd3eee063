// Styles and glyphs for MapLibre GL: style files with this server's URL filled in, and SDF
// glyph ranges generated from the installed fonts (on a worker: FreeType is slow the first time).
#include "request_params.hpp"
#include "server_state.hpp"

#include "onemap/core/error.hpp"
#include "onemap/tileserver/http_encoding.hpp"
#include "onemap/tileserver/http_errors.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>

namespace onemap::tileserver {

namespace {

// The style as the caller may use it: without the style layers drawing a layer it may not see,
// and with its key in the sources' URLs when it came as ?key= (MapLibre then asks with it).
std::string for_caller(const server_state& s, const http_request& req, std::string text)
{
    const auto rules = s.rules();
    const std::string key = server_state::key_query(req);
    if (!rules->restricts() && key.empty()) {
        return text;
    }
    nlohmann::json style = nlohmann::json::parse(text, nullptr, false);
    if (style.is_discarded() || !style.is_object()) {
        return text; // the renderer reports a broken style file; nothing in it to hide
    }
    if (rules->restricts() && style.contains("layers") && style["layers"].is_array()) {
        const auto all = s.catalog();
        const caller who = server_state::caller_of(req);
        auto& layers = style["layers"];
        nlohmann::json kept = nlohmann::json::array();
        for (auto& l : layers) {
            const auto source_layer = l.is_object() ? l.find("source-layer") : l.end();
            if (source_layer != l.end() && source_layer->is_string()) {
                const std::string name = source_layer->get<std::string>();
                if (core::find_public_layer(*all, name) != nullptr && !rules->visible(name, who)) {
                    continue;
                }
            }
            kept.push_back(std::move(l));
        }
        layers = std::move(kept);
    }
    if (!key.empty() && style.contains("sources") && style["sources"].is_object()) {
        for (auto& [name, source] : style["sources"].items()) {
            if (source.is_object() && source.contains("url") && source["url"].is_string()) {
                std::string url = source["url"].get<std::string>();
                url += (url.find('?') == std::string::npos ? "?" : "&") + key;
                source["url"] = url;
            }
        }
    }
    return style.dump();
}

} // namespace

void register_style_routes(router& routes, server_state& state)
{
    server_state* s = &state;
    // Styles are files; "{server}" in them becomes this server's URL, so web apps and the
    // renderer load the same document.
    routes.get("/styles/{style}.json", [s](const http_request& req, http_response& res) {
        const std::string& name = req.path_param(0);
        const bool safe_name = std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        });
        std::ifstream in;
        if (safe_name) {
            in.open(s->config.styles_dir + "/" + name + ".json", std::ios::binary);
        }
        if (!in) {
            throw not_found("no style named '" + name + "'");
        }
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        // Inside the style's JSON strings: escaped as JSON (a --public-url may hold anything).
        std::string base;
        append_json_string(base, s->base_url(req));
        base = base.substr(1, base.size() - 2);
        for (std::size_t at = text.find("{server}"); at != std::string::npos; at = text.find("{server}", at + base.size())) {
            text.replace(at, 8, base);
        }
        res.set_header("Cache-Control", "public, max-age=60");
        res.set_content(for_caller(*s, req, std::move(text)), JSON_TYPE);
    });
    routes.get("/fonts.json", [s](const http_request&, http_response& res) {
        res.set_header("Cache-Control", "public, max-age=86400");
        res.set_content(nlohmann::json(s->glyphs.fonts()).dump(), JSON_TYPE);
    });
    routes.get(
        "/fonts/{fontstack}/{start:uint}-{end:uint}.pbf",
        [s](const http_request& req, http_response& res) {
            const auto start = parse_index(req.path_param(1), "range");
            const auto end = parse_index(req.path_param(2), "range");
            if (start > 65535 || end > 65535) {
                throw input_error("range", "range " + req.path_param(1) + "-" + req.path_param(2) +
                                               " is outside 0-65535");
            }
            // An unknown fontstack is a not_found, a bad range an input_error (render/glyphs.hpp).
            std::string pbf = s->glyphs.range_pbf(req.path_param(0), static_cast<std::uint32_t>(start),
                                                  static_cast<std::uint32_t>(end));
            res.set_header("Cache-Control", "public, max-age=86400");
            res.set_header("Vary", "Accept-Encoding");
            if (accepts_gzip(req.get_header_value("Accept-Encoding"))) {
                res.set_content(gzip(pbf), "application/x-protobuf");
                res.set_header("Content-Encoding", "gzip");
            } else {
                res.set_content(std::move(pbf), "application/x-protobuf");
            }
        },
        route_options{nullptr, run_on::worker});
}

} // namespace onemap::tileserver
