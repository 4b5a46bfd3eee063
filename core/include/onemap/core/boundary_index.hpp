#pragma once
// In-memory point location over a set of polygons (grid-management boundaries): an R-tree of
// bounding boxes, then an exact covers test. *Covers* semantics: a point on an edge or vertex
// belongs to every polygon that touches it; the answer is the one with the smallest code, so a
// point on a shared edge resolves deterministically (the same rule as
// `ORDER BY code LIMIT 1` over PostGIS ST_Covers).
#include "onemap/core/tile_matrix_set.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace onemap::core {

struct boundary {
    std::string code;
    std::string name;
    std::uint64_t fid = 0;
    std::string payload; ///< opaque text the owner keeps with the boundary (the server: its JSON)
};

class boundary_index {
public:
    boundary_index();
    ~boundary_index();
    boundary_index(boundary_index&&) noexcept;
    boundary_index& operator=(boundary_index&&) noexcept;
    // The R-tree and cell table are large and built once: moved, never copied.
    boundary_index(const boundary_index&) = delete;
    boundary_index& operator=(const boundary_index&) = delete;

    /// Adds a polygon or multipolygon given as WKB in lon/lat. \throws input_error on bad WKB.
    void add(boundary b, std::string_view wkb);
    /// Builds the R-tree and the cell table; call once after the last add().
    void build();

    std::size_t size() const noexcept;
    /// The covering boundary with the smallest code; nullptr when none covers the point.
    /// Most points are answered from a cell table built by build(); points near an edge go to
    /// the R-tree and the exact test, locate_exact().
    const boundary* locate(double lon, double lat) const;
    /// The same answer without the cell table: R-tree candidates, exact covers test each.
    const boundary* locate_exact(double lon, double lat) const;
    /// The share of the cell table's area answered without an exact test (0 before build()).
    double direct_share() const noexcept;
    const boundary* find(std::string_view code) const;
    /// Codes of the boundaries sharing an edge or a vertex with `code`'s, in code order.
    std::vector<const boundary*> neighbors(std::string_view code) const;

private:
    struct impl;
    std::unique_ptr<impl> m_impl;
};

} // namespace onemap::core
