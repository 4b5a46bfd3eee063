#pragma once
// Departments and layer rights (issue 15; docs/access-control.md). The `departments:` and
// `access:` sections of onemap.yaml say, per catalog layer, who may see it:
//
//   access:
//     default: public                # layers not listed (public or internal)
//     layers:
//       basic_farmland: {departments: [natural_resources]}
//       grid: internal               # any valid key
//
// A caller is the department of the API key it presented, or nobody (no key). One predicate,
// `visible`, decides every route: a layer asked for by name that the caller may not see is 401
// (no key) or 403 naming the layer; in composite tiles, listings, capabilities and styles such a
// layer is simply absent. The same file's `rate_limits:` bound each key's (and each address's)
// request rate.
#include "onemap/core/catalog.hpp"
#include "onemap/tileserver/rate_limiter.hpp"

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace YAML {
class Node;
} // namespace YAML

namespace onemap::tileserver {

struct department_info {
    std::string id;   ///< as keys name it: natural_resources
    std::string name; ///< as people and the catalog name it: 自然资源和规划局
};

enum class layer_access {
    everyone,   ///< `public`
    internal,   ///< any valid key
    departments ///< the keys of the listed departments
};

struct access_rule {
    layer_access kind = layer_access::everyone;
    std::vector<std::string> departments; ///< for layer_access::departments
};

/// Who is asking: the department of the key presented; empty without a key.
struct caller {
    std::string department;
    bool keyed() const noexcept { return !department.empty(); }
};

class access_rules {
public:
    /// No rights configured: every published layer is public.
    access_rules() = default;

    /// The rule of `layer`: its own, else the default.
    const access_rule& rule_for(std::string_view layer) const;
    bool visible(std::string_view layer, const caller& who) const;
    /// \throws unauthorized (no key) or forbidden (a key without the right), naming the layer,
    /// when `who` may not see `layer`.
    void require(const std::string& layer, const caller& who) const;
    /// Some layer is not public: responses depend on who asks.
    bool restricts() const noexcept { return m_restricts; }
    const std::vector<department_info>& departments() const noexcept { return m_departments; }
    /// `rate_limits: {per_key: {per_second, burst}, per_address: {…}}`: none by default.
    const rate_limit& per_key() const noexcept { return m_per_key; }
    const rate_limit& per_address() const noexcept { return m_per_address; }

    /// \throws config_error naming the file, key and line of what cannot be used.
    static access_rules read(const std::string& path);
    /// The same from the file's YAML, loaded once by the caller.
    static access_rules read(const YAML::Node& doc, const std::string& path);

private:
    std::vector<department_info> m_departments;
    access_rule m_default;
    std::map<std::string, access_rule, std::less<>> m_layers;
    bool m_restricts = false;
    rate_limit m_per_key;
    rate_limit m_per_address;
};

/// `catalog` as `who` sees it: the layers it may not see are marked not public, so every
/// route that looks layers up (find_public_layer, listings, composite plans) leaves them out.
/// Nothing is copied when the caller sees everything.
std::shared_ptr<const std::vector<core::layer>> visible_catalog(std::shared_ptr<const std::vector<core::layer>> catalog,
                                                               const access_rules& rules, const caller& who);

} // namespace onemap::tileserver
