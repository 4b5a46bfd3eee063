#pragma once
// Operations: /health, /ready, /metrics and /stats (public), and the admin API behind admin_access: seeding the
// tile cache as jobs, and POST /admin/reload from the server's own machine (as SIGHUP) (POST /admin/seed, GET /admin/jobs[/{id}], DELETE /admin/jobs/{id}).
#include "server_state.hpp"

#include "onemap/tileserver/admin_access.hpp"
#include "onemap/tileserver/router.hpp"
#include "onemap/tileserver/seed_jobs.hpp"

#include <functional>
#include <string>

namespace onemap::tileserver {

struct admin_context {
    std::function<std::string()> frontend_counters; ///< JSON object of the front end's counters
    std::function<std::size_t()> open_connections;  ///< HTTP connections open now
    std::function<void()> reload;                   ///< re-reads the config; throws config_error
    const admin_access* access = nullptr;
    seed_jobs* jobs = nullptr;
};

/// \pre `admin.access` and `admin.jobs` outlive the routes.
void register_admin_routes(router& routes, server_state& state, const admin_context& admin);

} // namespace onemap::tileserver
