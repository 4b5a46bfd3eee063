#pragma once
// "Which grid, village, town and county is this point in?" — answered from in-memory R-trees
// (core::boundary_index) of every active version of the configured boundary layers, loaded
// from PostGIS at start and rebuilt when the importer publishes one of them.
#include "onemap/core/boundary_index.hpp"
#include "onemap/core/catalog.hpp"

#include <pqxx/pqxx>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace onemap::tileserver {

struct locate_level {
    std::string level; ///< county, town, village, grid
    std::string layer;
    std::string code_field;
    std::string name_field;
};

/// \throws config_error. An absent `locate:` section gives no levels.
std::vector<locate_level> read_locate_levels(const std::string& path);

/// `"level":{"code":…,"name":…,"layer":…,"version":…,"valid_from":…` — one level of a
/// /locate answer without its closing brace (a boundary may follow), built once per boundary
/// when the snapshot is loaded and kept as the boundary's payload.
std::string answer_member(const std::string& level, const core::boundary& b, const std::string& layer,
                          const core::layer_version& v);

struct located {
    std::string_view level; ///< both owned by the locator snapshot
    std::string_view layer;
    const core::boundary* boundary = nullptr;
    const core::layer_version* version = nullptr;
};

/// An immutable snapshot: build it, then share it between request threads.
class locator {
public:
    /// Loads every active version of every level's layer. A version `previous` already holds
    /// (same table, source hash, start date and fields: published versions never change) is
    /// shared from it instead of being read and indexed again. \throws db_error.
    locator(pqxx::connection_base& conn, const std::vector<core::layer>& catalog, std::vector<locate_level> levels,
            const locator* previous = nullptr);
    // Its levels point into the catalog snapshot it was built from and into its own indexes:
    // shared through shared_ptr, never copied or moved.
    locator(const locator&) = delete;
    locator& operator=(const locator&) = delete;
    locator(locator&&) = delete;
    locator& operator=(locator&&) = delete;
    ~locator() = default;

    /// Coarsest first; a level whose layer did not exist on `date`, or that no boundary covers,
    /// is missing from the answer.
    std::vector<located> locate(double lon, double lat, const std::string& date) const;
    /// The finest level's boundary with this code, valid on `date`.
    std::optional<located> find(const std::string& code, const std::string& date) const;
    /// Boundaries of the same level touching `code`'s, on `date`.
    std::vector<const core::boundary*> neighbors(const std::string& code, const std::string& date) const;

    const std::vector<locate_level>& levels() const noexcept { return m_levels; }

private:
    struct version_index {
        std::string key; ///< what the index was built from (index_key())
        std::shared_ptr<const core::boundary_index> index;
    };
    struct level_state {
        locate_level config;
        const core::layer* layer = nullptr;
        std::map<int, version_index> by_version; ///< version number → index
    };
    /// The index of `key` in this snapshot, or null.
    std::shared_ptr<const core::boundary_index> index_for(const std::string& key) const;
    std::vector<locate_level> m_levels;
    std::vector<core::layer> m_catalog; ///< own copy: the versions' lifetime is the snapshot's
    std::vector<level_state> m_state;
};

} // namespace onemap::tileserver
