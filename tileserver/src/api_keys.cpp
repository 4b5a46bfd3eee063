#include "onemap/tileserver/api_keys.hpp"

#include "onemap/core/error.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>

namespace onemap::tileserver {

namespace {

constexpr std::size_t KEY_RANDOM_BYTES = 32;

void init_sodium()
{
    // Once per process (sodium_init takes a lock each call): it picks the fastest
    // implementations and seeds the CSPRNG.
    static const bool ready = sodium_init() >= 0;
    if (!ready) {
        throw error("libsodium cannot be initialised");
    }
}

bool base64url_char(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

pqxx::binarystring as_bytea(const std::string& bytes)
{
    return pqxx::binarystring(bytes);
}

} // namespace

bool well_formed_key(std::string_view key) noexcept
{
    return key.size() == KEY_CHARS && key.substr(0, KEY_PREFIX.size()) == KEY_PREFIX &&
           std::all_of(key.begin() + static_cast<std::ptrdiff_t>(KEY_PREFIX.size()), key.end(), base64url_char);
}

std::string key_hash(std::string_view key)
{
    init_sodium();
    std::array<unsigned char, crypto_generichash_BYTES> out{};
    crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                       nullptr, 0);
    return {reinterpret_cast<const char*>(out.data()), out.size()};
}

void check_department(const std::string& department)
{
    const bool ok = !department.empty() && department.size() <= 48 && department[0] >= 'a' && department[0] <= 'z' &&
                    std::all_of(department.begin(), department.end(), [](char c) {
                        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
                    });
    if (!ok) {
        throw input_error("department", "department '" + department +
                                            "' must be a lower-case ASCII name (a-z, 0-9, _ and -, "
                                            "starting with a letter, at most 48 characters)");
    }
}

issued_key create_key(pqxx::connection_base& conn, const std::string& department, const std::string& note)
{
    check_department(department);
    init_sodium();
    std::array<unsigned char, KEY_RANDOM_BYTES> random{};
    randombytes_buf(random.data(), random.size());
    constexpr auto VARIANT = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    std::array<char, sodium_base64_ENCODED_LEN(KEY_RANDOM_BYTES, VARIANT)> text{};
    sodium_bin2base64(text.data(), text.size(), random.data(), random.size(), VARIANT);
    sodium_memzero(random.data(), random.size());

    issued_key issued;
    issued.department = department;
    issued.key = std::string(KEY_PREFIX) + text.data();
    sodium_memzero(text.data(), text.size());
    pqxx::work txn(conn);
    issued.id = txn.exec_params1("INSERT INTO onemap.api_key (department, key_hash, key_shown, note) "
                                 "VALUES ($1, $2, $3, $4) RETURNING id",
                                 department, as_bytea(key_hash(issued.key)), issued.key.substr(0, KEY_SHOWN_CHARS), note)[0]
                    .as<std::int64_t>();
    txn.commit();
    return issued;
}

std::vector<key_record> list_keys(pqxx::connection_base& conn)
{
    pqxx::read_transaction txn(conn);
    std::vector<key_record> out;
    for (const auto& r : txn.exec("SELECT id, department, key_shown, note, created_at::text, revoked_at::text "
                                  "FROM onemap.api_key ORDER BY id")) {
        key_record k;
        k.id = r[0].as<std::int64_t>();
        k.department = r[1].as<std::string>();
        k.shown = r[2].as<std::string>();
        k.note = r[3].as<std::string>();
        k.created_at = r[4].as<std::string>();
        if (!r[5].is_null()) {
            k.revoked_at = r[5].as<std::string>();
        }
        out.push_back(std::move(k));
    }
    return out;
}

void revoke_key(pqxx::connection_base& conn, std::int64_t id)
{
    pqxx::work txn(conn);
    const auto r = txn.exec_params("UPDATE onemap.api_key SET revoked_at = coalesce(revoked_at, now()) "
                                   "WHERE id = $1 RETURNING id",
                                   id);
    if (r.empty()) {
        throw not_found("no API key has id " + std::to_string(id));
    }
    // Every server forgets the keys it holds when this commits (key_directory).
    txn.exec_params("SELECT pg_notify($1, $2)", KEYS_CHANNEL, std::to_string(id));
    txn.commit();
}

std::optional<std::string> department_of_key(pqxx::transaction_base& txn, std::string_view key)
{
    if (!well_formed_key(key)) {
        return std::nullopt;
    }
    const auto r = txn.exec_params("SELECT department FROM onemap.api_key WHERE key_hash = $1 AND revoked_at IS NULL",
                                   as_bytea(key_hash(key)));
    if (r.empty()) {
        return std::nullopt;
    }
    return r[0][0].as<std::string>();
}

} // namespace onemap::tileserver
