#pragma once
// Departments' API keys (issue 15), kept in PostgreSQL so that every server behind a load
// balancer knows the same keys: `onemap.api_key` holds, per key, its department, a short prefix
// to recognise it by, and the BLAKE2b-256 hash of the key (libsodium's crypto_generichash) —
// never the key itself, which is shown once, when it is made.
//
// Why a fast hash and not argon2: a key is 256 bits from libsodium's CSPRNG, so nobody can
// guess it from its hash however fast the hash; a slow KDF protects low-entropy passwords, and
// here would cost every request its time while a lookup by hash is one index probe.
#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace onemap::tileserver {

/// "om_" then 43 base64url characters: 32 random bytes.
inline constexpr std::string_view KEY_PREFIX = "om_";
inline constexpr std::size_t KEY_CHARS = 3 + 43;
/// The characters of a key shown by `keys list` and in logs to tell keys apart (prefix and 8).
inline constexpr std::size_t KEY_SHOWN_CHARS = 3 + 8;

/// Channel `revoke_key` NOTIFYs (payload: the key's id) when its transaction commits.
inline constexpr const char* KEYS_CHANNEL = "onemap_keys";

/// Whether `key` has the form of a key (prefix, length, base64url alphabet). Checked before a
/// key is hashed, so that a request cannot make the server hash megabytes.
bool well_formed_key(std::string_view key) noexcept;

/// The stored form of `key`: its 32-byte BLAKE2b hash.
std::string key_hash(std::string_view key);

/// A department name as keys and rights use it: a lower-case ASCII identifier, e.g.
/// `natural_resources`. \throws input_error("department") otherwise.
void check_department(const std::string& department);

struct issued_key {
    std::int64_t id = 0;
    std::string department;
    std::string key; ///< the only time the key exists outside its holder
};

struct key_record {
    std::int64_t id = 0;
    std::string department;
    std::string shown; ///< the first KEY_SHOWN_CHARS characters
    std::string note;
    std::string created_at;
    std::optional<std::string> revoked_at;
};

/// Makes a key for `department` and stores its hash. \throws input_error("department").
issued_key create_key(pqxx::connection_base& conn, const std::string& department, const std::string& note);

/// Every key made, revoked ones included (an audit trail), oldest first.
std::vector<key_record> list_keys(pqxx::connection_base& conn);

/// Revokes key `id` from now on. \throws not_found when there is no such key; revoking a revoked
/// key again keeps its first revocation time.
void revoke_key(pqxx::connection_base& conn, std::int64_t id);

/// The department of a valid (well-formed, known, not revoked) key; nothing otherwise.
std::optional<std::string> department_of_key(pqxx::transaction_base& txn, std::string_view key);

} // namespace onemap::tileserver
