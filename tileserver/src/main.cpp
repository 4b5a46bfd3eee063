// onemap-server: serves the catalog's layers as tiles and APIs.
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"
#include "onemap/tileserver/api_keys.hpp"
#include "onemap/tileserver/malloc_retention.hpp"
#include "onemap/tileserver/server.hpp"

#include "config_yaml.hpp"

#include <CLI/CLI.hpp>
#include <yaml-cpp/yaml.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

namespace {

// The admin token: the first line of --admin-token-file, else ONEMAP_ADMIN_TOKEN. Never an
// argument: `ps` shows arguments to every user of the machine.
std::string admin_token(const std::string& file)
{
    if (file.empty()) {
        const char* env = std::getenv("ONEMAP_ADMIN_TOKEN");
        return env != nullptr ? env : "";
    }
    std::ifstream in(file);
    std::string token;
    if (!in || !std::getline(in, token)) {
        throw onemap::config_error("cannot read the admin token from " + file);
    }
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) {
        token.pop_back();
    }
    if (token.empty()) {
        throw onemap::config_error("the admin token file " + file + " has an empty first line");
    }
    return token;
}

// The `server:` section of the config file: each key is a command-line option's long name
// with _ for - (`cache_mb: 512` is --cache-mb 512, `database:` is --db). Precedence: the command
// line, then the environment (ONEMAP_DATABASE_URL), then the file, then the defaults. Checked
// as the command line is, with errors naming the file, line and key.
void apply_config_file(CLI::App& app, const std::string& path, std::string& db)
{
    std::set<std::string> given;
    for (const CLI::Option* opt : app.get_options()) {
        if (opt->count() > 0) {
            given.insert(opt->get_name());
        }
    }
    const YAML::Node doc = onemap::tileserver::load_config_yaml(path);
    const auto fail = [&path](const YAML::Node& node, const std::string& key, const std::string& message) {
        onemap::tileserver::config_fail(path, node, key, message);
    };
    if (const YAML::Node server = doc["server"]) {
        if (!server.IsMap()) {
            fail(server, "server", "must map settings to values, e.g. cache_mb: 512");
        }
        for (const auto& entry : server) {
            const std::string key = entry.first.Scalar();
            std::string name = key == "database" ? "db" : key;
            std::replace(name.begin(), name.end(), '_', '-');
            CLI::Option* opt = name == "config" || name == "help" ? nullptr : app.get_option_no_throw("--" + name);
            if (opt == nullptr) {
                fail(entry.first, "server." + key,
                     "unknown setting (each is an option of `onemap-server --help`, with _ for -; database: is --db)");
            }
            if (!entry.second.IsScalar()) {
                fail(entry.second, "server." + key, "must be a single value");
            }
            if (given.count(opt->get_name()) != 0 || (key == "database" && std::getenv("ONEMAP_DATABASE_URL") != nullptr)) {
                continue; // the command line (or, for the database, the environment) wins
            }
            try {
                opt->add_result(entry.second.Scalar());
                opt->run_callback();
            } catch (const CLI::Error& e) {
                fail(entry.second, "server." + key, e.what());
            }
        }
    }
    if (given.count("--db") == 0) {
        if (const char* url = std::getenv("ONEMAP_DATABASE_URL")) {
            db = url;
        }
    }
}

volatile std::sig_atomic_t g_interrupted = 0;

// `onemap-server seed`: starts a seed job on a running server and follows it to its end;
// Ctrl-C cancels the job. Exit 0 when every tile was visited.
int run_seed(const std::string& url, const std::string& token, const httplib::Params& params)
{
    httplib::Client client(url);
    client.set_read_timeout(30, 0);
    httplib::Headers auth;
    if (!token.empty()) {
        auth.emplace("Authorization", "Bearer " + token);
    }
    auto res = client.Post("/admin/seed", auth, params);
    if (!res) {
        onemap::log().error("cannot reach {}", url);
        return 1;
    }
    if (res->status != 202) {
        onemap::log().error("{} answered {}: {}", url, res->status, res->body);
        return 1;
    }
    const std::string location = res->get_header_value("Location");
    std::signal(SIGINT, [](int) { g_interrupted = 1; });
    std::signal(SIGTERM, [](int) { g_interrupted = 1; });
    auto job = nlohmann::json::parse(res->body);
    onemap::log().info("seed job {}: {} tiles", job.value("id", 0), job.value("total", 0));
    bool cancelled = false;
    auto reported = std::chrono::steady_clock::now();
    for (;;) {
        const std::string state = job.value("state", "");
        if (state != "queued" && state != "running") {
            std::printf("%s\n", job.dump().c_str());
            return state == "done" ? 0 : cancelled ? 130 : 1;
        }
        if (g_interrupted != 0 && !cancelled) {
            onemap::log().info("cancelling seed job {}", job.value("id", 0));
            client.Delete(location, auth);
            cancelled = true;
        }
        for (int i = 0; i < 10 && (g_interrupted == 0 || cancelled); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        res = client.Get(location, auth);
        if (!res || res->status != 200) {
            onemap::log().error("cannot follow {}{}: {}", url, location, res ? res->body : std::string("no answer"));
            return 1;
        }
        job = nlohmann::json::parse(res->body);
        if (std::chrono::steady_clock::now() - reported > std::chrono::seconds(5)) {
            reported = std::chrono::steady_clock::now();
            onemap::log().info("seed job {}: {} of {} tiles", job.value("id", 0), job.value("done", 0),
                               job.value("total", 0));
        }
    }
}

// `onemap-server keys create|list|revoke`.
int run_keys(const std::string& db, const std::string& action, const std::string& department,
             const std::string& note, std::int64_t id)
{
    namespace ts = onemap::tileserver;
    auto conn = onemap::core::connect(db);
    onemap::core::ensure_catalog(*conn);
    if (action == "create") {
        const auto issued = ts::create_key(*conn, department, note);
        onemap::log().info("key {} for department {} ({}…): shown this once, store it now", issued.id,
                           issued.department, issued.key.substr(0, ts::KEY_SHOWN_CHARS));
        std::printf("%s\n", issued.key.c_str());
    } else if (action == "list") {
        for (const auto& k : ts::list_keys(*conn)) {
            nlohmann::json j{{"id", k.id},         {"department", k.department}, {"key", k.shown + "…"},
                             {"note", k.note},     {"created_at", k.created_at},
                             {"revoked_at", k.revoked_at ? nlohmann::json(*k.revoked_at) : nlohmann::json()}};
            std::printf("%s\n", j.dump().c_str());
        }
    } else {
        ts::revoke_key(*conn, id);
        onemap::log().info("key {} revoked", id);
    }
    return 0;
}

int serve(int argc, char** argv)
{
    onemap::tileserver::bound_malloc_retention(); // before any thread starts
    CLI::App app{"onemap-server: vector tiles, WMTS and geoqueries over the onemap catalog"};
    onemap::tileserver::server_config config;
    std::string log_level = "info";
    app.add_option("-d,--db", config.db,
                   "libpq connection string (else ONEMAP_DATABASE_URL, else server.database in --config, else the "
                   "PG* environment)");
    app.add_option("--host", config.http.host, "address to listen on")->capture_default_str();
    app.add_option("-p,--port", config.http.port, "port to listen on (0 = any free port)")->capture_default_str();
    auto ms = [](std::chrono::milliseconds d) { return static_cast<int>(d.count()); };
    int header_timeout_ms = ms(config.http.header_timeout);
    int idle_timeout_ms = ms(config.http.idle_timeout);
    int write_timeout_ms = ms(config.http.write_timeout);
    app.add_option("--io-threads", config.http.io_threads, "HTTP event loops (0 = one per core)")->capture_default_str();
    app.add_option("--worker-threads", config.http.worker_threads,
                   "threads for queries, tile building and rendering (0 = max(cores, --db-connections))")
        ->capture_default_str();
    app.add_option("--max-connections", config.http.max_connections,
                   "open connections; past it a new one gets 503 and is closed")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--max-url-bytes", config.http.max_url_bytes, "longer request URLs get 414")->capture_default_str();
    app.add_option("--max-header-bytes", config.http.max_header_bytes, "larger request headers get 431")->capture_default_str();
    app.add_option("--max-body-bytes", config.http.max_body_bytes, "larger request bodies get 413")->capture_default_str();
    app.add_option("--header-timeout-ms", header_timeout_ms,
                   "a request header not complete within this closes the connection")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--idle-timeout-ms", idle_timeout_ms, "idle keep-alive connections are closed after this")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--write-timeout-ms", write_timeout_ms, "a client not reading its answer is closed after this")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--cors-origin", config.cors_origin, "Access-Control-Allow-Origin (empty: no CORS headers)")
        ->capture_default_str();
    app.add_option("--db-connections", config.db_connections, "database connections in the pool")->capture_default_str();
    std::size_t cache_mb = config.cache_bytes >> 20;
    app.add_option("--cache-mb", cache_mb, "tile cache budget in MiB")->capture_default_str();
    std::size_t tile_memory_mb = config.tile_memory_bytes >> 20;
    app.add_option("--tile-memory-mb", tile_memory_mb,
                   "layer versions held in memory to build tiles without a query, in MiB (0: none)")
        ->capture_default_str();
    app.add_option("--styles", config.styles_dir, "folder of MapLibre style JSON files")->capture_default_str();
    app.add_option("--config", config.config_path,
                   "onemap.yaml: tilesets, locate levels, departments, rights, rate limits, and a server: section "
                   "holding any of these options (the command line wins), e.g. tileserver/onemap.yaml");
    app.add_option("--public-url", config.public_url, "base URL clients reach this server at");
    app.add_option("--log-level", log_level, "debug, info, warn, error");
    std::size_t ogc_max_response_kb = config.ogc_max_response_bytes >> 10;
    app.add_option("--ogc-max-response-kb", ogc_max_response_kb,
                   "OGC API items: a page stops before this size and links to the rest")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    std::string admin_token_file;
    app.add_option("--admin-token-file", admin_token_file,
                   "file whose first line is the Bearer token of /admin/* (else ONEMAP_ADMIN_TOKEN; "
                   "neither: the admin API is disabled)");
    app.add_option("--seed-jobs", config.seed_jobs, "seed jobs running at once; more wait in a queue of 16")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--query-timeout-ms", config.query_timeout_ms,
                   "every database statement (tiles, PNG, features, grids): one running longer is cancelled "
                   "(503 with Retry-After naming the limit)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--db-wait-timeout-ms", config.db_wait_timeout_ms,
                   "a request waiting longer for a free database connection gets 503 with Retry-After")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--connect-timeout-s", config.connect_timeout_s, "opening a database connection")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--tile-wait-timeout-ms", config.tile_wait_timeout_ms,
                   "a request waiting longer for another's computation of the same tile gets 503 with Retry-After")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--access-log", config.access_log,
                   "one JSON line per request (time, id, department, route, layer, status, bytes, ms): a file "
                   "appended to, or - for standard output");
    app.add_option("--slow-request-ms", config.slow_request_ms, "requests slower than this are logged as warnings")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    // `onemap-server seed …` asks a running server to fill its cache (its cache is in-process).
    auto* seed = app.add_subcommand("seed", "fill a running server's tile cache over a bbox and zoom range");
    std::string seed_url = "http://127.0.0.1:8080";
    std::string seed_tileset;
    std::string seed_bbox;
    std::string seed_zooms;
    std::string seed_tms = "WebMercatorQuad";
    std::string seed_format = "mvt";
    seed->add_option("--server", seed_url, "the server to seed")->capture_default_str();
    seed->add_option("--tileset", seed_tileset, "tileset (layer or composite) to seed")->required();
    seed->add_option("--bbox", seed_bbox, "west,south,east,north in degrees")->required();
    seed->add_option("--zooms", seed_zooms, "zoom range, e.g. 0-14")->required();
    seed->add_option("--tms", seed_tms, "tile matrix set")->capture_default_str();
    seed->add_option("--format", seed_format, "mvt or png")->check(CLI::IsMember({"mvt", "png"}))->capture_default_str();
    seed->add_option("--admin-token-file", admin_token_file, "file holding the admin token (else ONEMAP_ADMIN_TOKEN)");
    // `onemap-server keys …`: departments' API keys in the database (--db), for every server.
    auto* keys = app.add_subcommand("keys", "make, list and revoke departments' API keys (in the database, shared by "
                                            "every server; a revocation reaches running servers at once)");
    keys->require_subcommand(1)->fallthrough();
    std::string key_department;
    std::string key_note;
    std::int64_t key_id = 0;
    auto* key_create = keys->add_subcommand("create", "make a key for a department; prints the key once, on stdout");
    key_create->add_option("--department", key_department, "the department, e.g. natural_resources")->required();
    key_create->add_option("--note", key_note, "who or what the key is for");
    key_create->fallthrough();
    auto* key_list = keys->add_subcommand("list", "every key made (JSON lines), revoked ones included; never the keys");
    key_list->fallthrough();
    auto* key_revoke = keys->add_subcommand("revoke", "revoke a key by its id (from `keys create` or `keys list`)");
    key_revoke->add_option("id", key_id, "the key's id")->required()->check(CLI::PositiveNumber);
    key_revoke->fallthrough();
    CLI11_PARSE(app, argc, argv);
    try {
        if (!config.config_path.empty()) {
            apply_config_file(app, config.config_path, config.db);
        } else if (app.count("--db") == 0 && std::getenv("ONEMAP_DATABASE_URL") != nullptr) {
            config.db = std::getenv("ONEMAP_DATABASE_URL");
        }
    } catch (const std::exception& e) {
        onemap::log().error("{}", e.what());
        return 1;
    }
    if (keys->parsed()) {
        try {
            return run_keys(config.db, key_create->parsed() ? "create" : key_list->parsed() ? "list" : "revoke",
                            key_department, key_note, key_id);
        } catch (const std::exception& e) {
            onemap::log().error("{}", e.what());
            return 1;
        }
    }
    if (seed->parsed()) {
        const auto dash = seed_zooms.find('-');
        const httplib::Params params{{"tileset", seed_tileset},
                                     {"bbox", seed_bbox},
                                     {"tms", seed_tms},
                                     {"format", seed_format},
                                     {"minzoom", seed_zooms.substr(0, dash)},
                                     {"maxzoom", dash == std::string::npos ? seed_zooms : seed_zooms.substr(dash + 1)}};
        try {
            return run_seed(seed_url, admin_token(admin_token_file), params);
        } catch (const std::exception& e) {
            onemap::log().error("{}", e.what());
            return 1;
        }
    }
    try {
        onemap::set_log_level(log_level);
        config.admin_token = admin_token(admin_token_file);
        config.cache_bytes = cache_mb << 20;
        config.tile_memory_bytes = tile_memory_mb << 20;
        config.ogc_max_response_bytes = ogc_max_response_kb << 10;
        config.http.header_timeout = std::chrono::milliseconds(header_timeout_ms);
        config.http.body_timeout = 3 * config.http.header_timeout;
        config.http.idle_timeout = std::chrono::milliseconds(idle_timeout_ms);
        config.http.write_timeout = std::chrono::milliseconds(write_timeout_ms);
        config.http.handle_signals = true; // SIGTERM/SIGINT: finish what is in flight, exit 0
        // The free pages evicted tiles and finished requests leave inside the heap, given back
        // every few seconds (bench/RESULTS.md, "Soak: RSS under cache churn").
        const onemap::tileserver::heap_trimmer trimmer(std::chrono::seconds(10));
        onemap::tileserver::server server(config);
        const int port = server.bind();
        onemap::log().info("listening on http://{}:{}/", config.http.host, port);
        server.run();
        onemap::log().info("stopped");
        return 0;
    } catch (const std::exception& e) {
        onemap::log().error("{}", e.what());
        return 1;
    }
}

} // namespace

int main(int argc, char** argv)
{
    try {
        return serve(argc, argv);
    } catch (const std::exception& e) { // the options themselves could not be set up
        std::fprintf(stderr, "onemap-server: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "onemap-server: unknown error\n");
    }
    return 1;
}
