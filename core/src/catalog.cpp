#include "onemap/core/catalog.hpp"

#include "onemap/core/db.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>

namespace onemap::core {

namespace {

struct type_name {
    attribute_type type;
    const char* sql;
};

constexpr type_name TYPE_NAMES[] = {
    {attribute_type::integer, "integer"},       {attribute_type::bigint, "bigint"},
    {attribute_type::real, "double precision"}, {attribute_type::text, "text"},
    {attribute_type::date, "date"},             {attribute_type::timestamp, "timestamptz"},
    {attribute_type::boolean, "boolean"},
};

// Version 1 of the catalog. Later versions append statements; never edit applied ones.
constexpr const char* CATALOG_DDL = R"SQL(
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA IF NOT EXISTS onemap;
CREATE SCHEMA IF NOT EXISTS onemap_data;

CREATE TABLE IF NOT EXISTS onemap.layer (
    name          text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,47}$'),
    title         text NOT NULL,
    department    text NOT NULL DEFAULT '',
    theme         text NOT NULL
                  CHECK (theme IN ('grid', 'natural-resource', 'water', 'planning', 'other')),
    geometry_type text NOT NULL
                  CHECK (geometry_type IN ('MULTIPOLYGON', 'MULTILINESTRING', 'MULTIPOINT')),
    source_srid   integer NOT NULL,
    is_public     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS onemap.layer_version (
    layer           text NOT NULL REFERENCES onemap.layer (name),
    version         integer NOT NULL CHECK (version > 0),
    table_name      text NOT NULL UNIQUE,
    valid_from      date NOT NULL,
    valid_to        date,
    superseded_by   integer,
    feature_count   bigint NOT NULL,
    bbox            geometry(Polygon, 4490),
    attributes      jsonb NOT NULL,
    source_files    text[] NOT NULL,
    source_hash     text NOT NULL,
    source_srid     integer NOT NULL,
    source_encoding text,
    repaired        integer NOT NULL DEFAULT 0,
    rejected        integer NOT NULL DEFAULT 0,
    report          jsonb NOT NULL DEFAULT '{}',
    imported_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (layer, version),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);

CREATE UNIQUE INDEX IF NOT EXISTS layer_version_active
    ON onemap.layer_version (layer, valid_from) WHERE superseded_by IS NULL;

-- Generalised copies "<table>__z<z>" for z = 0..overview_max_zoom (-1: none).
ALTER TABLE onemap.layer_version ADD COLUMN IF NOT EXISTS overview_max_zoom integer NOT NULL DEFAULT -1;
-- Copies dissolved by class (issue 18): the class column and the level kept per zoom.
ALTER TABLE onemap.layer_version ADD COLUMN IF NOT EXISTS class_field text;
ALTER TABLE onemap.layer_version ADD COLUMN IF NOT EXISTS class_levels text;

-- The versions of a layer valid on a date: "as of" for every layer, in SQL.
CREATE OR REPLACE FUNCTION onemap.version_as_of(p_layer text, p_date date)
RETURNS SETOF onemap.layer_version LANGUAGE sql STABLE AS $$
    SELECT * FROM onemap.layer_version
     WHERE layer = p_layer AND superseded_by IS NULL
       AND valid_from <= p_date AND (valid_to IS NULL OR p_date < valid_to)
$$;

-- Departments' API keys (issue 15; tileserver/api_keys.hpp): the BLAKE2b-256 hash of each key,
-- never the key; revoked keys stay as the audit trail.
CREATE TABLE IF NOT EXISTS onemap.api_key (
    id          bigserial PRIMARY KEY,
    department  text NOT NULL CHECK (department ~ '^[a-z][a-z0-9_-]{0,47}$'),
    key_hash    bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    key_shown   text NOT NULL,
    note        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
)SQL";

std::vector<attribute> parse_attributes(const std::string& json_text)
{
    std::vector<attribute> out;
    const auto doc = nlohmann::json::parse(json_text);
    for (const auto& a : doc) {
        attribute attr;
        attr.name = a.at("name").get<std::string>();
        attr.source_name = a.value("source", attr.name);
        attr.type = attribute_type_from_sql(a.at("type").get<std::string>()).value_or(attribute_type::text);
        out.push_back(std::move(attr));
    }
    return out;
}

constexpr const char* LAYER_COLUMNS =
    "name, title, department, theme, geometry_type, source_srid, is_public";
constexpr const char* VERSION_QUERY = R"SQL(
SELECT layer, version, table_name, valid_from::text, valid_to::text, feature_count,
       ST_XMin(bbox), ST_YMin(bbox), ST_XMax(bbox), ST_YMax(bbox), attributes::text,
       source_hash, imported_at::text, overview_max_zoom, class_field, class_levels
  FROM onemap.layer_version
 WHERE superseded_by IS NULL AND ($1::text IS NULL OR layer = $1)
 ORDER BY layer COLLATE "C", valid_from
)SQL";

layer layer_from_row(const pqxx::row& r)
{
    layer l;
    l.name = r[0].as<std::string>();
    l.title = r[1].as<std::string>();
    l.department = r[2].as<std::string>();
    l.theme = r[3].as<std::string>();
    l.geometry_type = r[4].as<std::string>();
    l.source_srid = r[5].as<int>();
    l.is_public = r[6].as<bool>();
    return l;
}

layer_version version_from_row(const pqxx::row& r)
{
    layer_version v;
    v.version = r[1].as<int>();
    v.table = r[2].as<std::string>();
    v.valid_from = r[3].as<std::string>();
    if (!r[4].is_null()) {
        v.valid_to = r[4].as<std::string>();
    }
    v.feature_count = r[5].as<long long>();
    if (!r[6].is_null()) {
        v.bbox = box{r[6].as<double>(), r[7].as<double>(), r[8].as<double>(), r[9].as<double>()};
    }
    v.attributes = parse_attributes(r[10].as<std::string>());
    v.source_hash = r[11].as<std::string>();
    v.imported_at = r[12].as<std::string>();
    v.overview_max_zoom = r[13].as<int>();
    if (!r[14].is_null()) {
        v.class_field = r[14].as<std::string>();
        v.class_levels = r[15].is_null() ? std::string() : r[15].as<std::string>();
    }
    return v;
}

} // namespace

const char* sql_type(attribute_type t) noexcept
{
    for (const auto& n : TYPE_NAMES) {
        if (n.type == t) {
            return n.sql;
        }
    }
    return "text";
}

std::optional<attribute_type> attribute_type_from_sql(const std::string& name)
{
    for (const auto& n : TYPE_NAMES) {
        if (name == n.sql) {
            return n.type;
        }
    }
    return std::nullopt;
}

double degrees_per_pixel(int z) noexcept
{
    return 360.0 / (256.0 * std::ldexp(1.0, z));
}

std::string layer_version::table_for_resolution(double deg_per_px) const
{
    // The zoom whose pixel is closest to the tile's: z = log2(360 / (256 * deg_per_px)).
    const int z = static_cast<int>(std::lround(std::log2(360.0 / (256.0 * deg_per_px))));
    if (z > overview_max_zoom) {
        return table;
    }
    return table + "__z" + std::to_string(std::max(z, 0));
}

const layer_version* layer::as_of(const std::string& date) const
{
    for (const auto& v : versions) {
        if (v.valid_on(date)) {
            return &v;
        }
    }
    return nullptr;
}

void ensure_catalog(pqxx::connection_base& conn)
{
    // The DDL's fingerprint, kept as the schema's comment: when it matches, the catalog is
    // current and no DDL runs. Running it anyway takes table locks (CREATE INDEX IF NOT EXISTS,
    // ALTER TABLE … IF NOT EXISTS) that deadlock against an import publishing at that moment.
    std::uint64_t fnv = 14695981039346656037ULL;
    for (const char* c = CATALOG_DDL; *c != '\0'; ++c) {
        fnv = (fnv ^ static_cast<unsigned char>(*c)) * 1099511628211ULL;
    }
    const std::string stamp = "onemap catalog " + std::to_string(fnv);
    {
        pqxx::read_transaction check(conn);
        const auto r = check.exec("SELECT obj_description(to_regnamespace('onemap'), 'pg_namespace')");
        if (!r[0][0].is_null() && r[0][0].as<std::string>() == stamp) {
            return;
        }
    }
    pqxx::work txn(conn);
    // Serialise concurrent first runs: CREATE ... IF NOT EXISTS races on the catalog tables.
    txn.exec("SELECT pg_advisory_xact_lock(hashtext('onemap.catalog'))");
    txn.exec(CATALOG_DDL);
    txn.exec("COMMENT ON SCHEMA onemap IS " + txn.quote(stamp));
    txn.commit();
}

std::vector<layer> load_catalog(pqxx::connection_base& conn)
{
    pqxx::read_transaction txn(conn);
    const auto exists = txn.exec("SELECT to_regclass('onemap.layer_version') IS NOT NULL");
    if (!exists[0][0].as<bool>()) {
        return {};
    }
    std::vector<layer> layers;
    for (const auto& r : txn.exec(std::string("SELECT ") + LAYER_COLUMNS + " FROM onemap.layer ORDER BY name COLLATE \"C\"")) {
        layers.push_back(layer_from_row(r));
    }
    const auto versions = txn.exec_params(VERSION_QUERY, nullptr);
    std::size_t i = 0;
    for (const auto& r : versions) {
        const auto name = r[0].as<std::string>();
        while (i < layers.size() && layers[i].name < name) {
            ++i;
        }
        if (i < layers.size() && layers[i].name == name) {
            layers[i].versions.push_back(version_from_row(r));
        }
    }
    return layers;
}

std::optional<layer> load_layer(pqxx::transaction_base& txn, const std::string& name)
{
    const auto rows = txn.exec_params(
        std::string("SELECT ") + LAYER_COLUMNS + " FROM onemap.layer WHERE name = $1", name);
    if (rows.empty()) {
        return std::nullopt;
    }
    layer l = layer_from_row(rows[0]);
    for (const auto& r : txn.exec_params(VERSION_QUERY, name)) {
        l.versions.push_back(version_from_row(r));
    }
    return l;
}

const layer* find_public_layer(const std::vector<layer>& layers, const std::string& name)
{
    for (const auto& l : layers) {
        if (l.name == name && l.is_public) {
            return &l;
        }
    }
    return nullptr;
}

} // namespace onemap::core
