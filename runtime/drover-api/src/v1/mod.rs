//! The REST API under `/api/v1`, one module per resource. Each handler
//! carries its `#[utoipa::path]`, and [`router`] registers handler and
//! document together, so the OpenAPI document served at
//! `/api/v1/openapi.json` is generated from the code it describes.
//!
//! Roles: reading is `viewer`; running actions, enabling rules and
//! writing kv, controlling workflows, answering inquiries, draining or
//! rebooting nodes and rolling a pack back are `operator`; grants, trusted keys,
//! promotions, secrets, tokens, budgets, the storm brake's release and settings, operator policies,
//! retention settings and collection rounds are `admin`. See [`crate::auth`].

pub mod access;
pub mod changes;
pub mod control;
pub mod events;
pub mod executions;
pub mod finding;
pub mod fleet;
pub mod grants;
pub mod inquiries;
pub mod kv;
pub mod packs;
pub mod policies;
pub mod replay;
pub mod retention;
pub mod rules;
pub mod shadow;
pub mod trust;
pub mod workflows;

use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// Every error: what went wrong and what to do.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// Why a change is made, for the change log (`GET /api/v1/changes`). The
/// body is optional where the reason is (a bare request keeps working);
/// promoting a pack needs one.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ChangeReason {
    /// One line, at most 500 characters, e.g. `CHG-1234: ssh timeout raised`.
    pub reason: Option<String>,
}

/// Who makes a change (the caller) and why (`reason`, checked: one line,
/// at most [`drover_core::MAX_REASON_CHARS`] characters).
pub fn change_by(
    who: &crate::auth::Principal,
    reason: Option<&str>,
) -> Result<drover_core::ChangeBy, crate::ApiError> {
    drover_core::ChangeBy::new(&who.actor(), reason)
        .map_err(|e| crate::ApiError::BadRequest(format!("body field `reason`: {e}")))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "drover",
        description = "Auto-remediation for server fleets: executions, packs, grants, rules, \
                       triggers, audit, kv and secrets. Authenticate with `Authorization: Bearer \
                       TOKEN` (`drover token create --role viewer|operator|admin`) or a session \
                       cookie from /api/v1/login (then send X-CSRF-Token on unsafe requests)."
    ),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
    components(schemas(ErrorBody)),
    tags(
        (name = "executions", description = "runs of actions, with plans and workflow trees"),
        (name = "packs", description = "installed packs; capabilities declared vs granted"),
        (name = "grants", description = "capabilities given to pack versions (admin)"),
        (name = "trust", description = "publisher keys trusted to sign pack archives (admin)"),
        (name = "rules", description = "rules: list, enable/disable, test a payload"),
        (name = "events", description = "trigger instances, audit log, sensors, the SSE stream"),
        (name = "changes", description = "the change log: who changed automation, when, why, and the diff"),
        (name = "kv", description = "the key-value store rules and packs read"),
        (name = "secrets", description = "names, and write-only values"),
        (name = "access", description = "who you are, sessions, API tokens"),
        (name = "workflows", description = "installed workflows, their text and graph"),
        (name = "inquiries", description = "questions workflows wait on, and answering them"),
        (name = "fleet", description = "nodes, drain/reboot requests and their queue, budgets, the storm brake, maintenance windows"),
        (name = "policies", description = "concurrency and retry policies; the operator's own (admin)"),
        (name = "retention", description = "how long history is kept, and collecting it (admin)"),
    )
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// The API's routes with their OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(executions::list, executions::run))
        .routes(routes!(executions::active))
        .routes(routes!(executions::get))
        .routes(routes!(executions::plan))
        .routes(routes!(control::pause))
        .routes(routes!(control::resume))
        .routes(routes!(control::cancel))
        .routes(routes!(control::rerun))
        .routes(routes!(inquiries::list))
        .routes(routes!(inquiries::get))
        .routes(routes!(inquiries::respond))
        .routes(routes!(fleet::nodes))
        .routes(routes!(fleet::node))
        .routes(routes!(fleet::batch))
        .routes(routes!(fleet::drain))
        .routes(routes!(fleet::reboot))
        .routes(routes!(fleet::set_state))
        .routes(routes!(fleet::pause))
        .routes(routes!(fleet::resume))
        .routes(routes!(fleet::budgets))
        .routes(routes!(fleet::set_budget, fleet::remove_budget))
        .routes(routes!(fleet::brake, fleet::configure_brake))
        .routes(routes!(fleet::release_brake))
        .routes(routes!(fleet::requests))
        .routes(routes!(fleet::cancel_request))
        .routes(routes!(fleet::windows))
        .routes(routes!(fleet::set_window, fleet::remove_window))
        .routes(routes!(packs::list))
        .routes(routes!(packs::get))
        .routes(routes!(packs::promote))
        .routes(routes!(shadow::report))
        .routes(routes!(replay::replay))
        .routes(routes!(packs::rollback))
        .routes(routes!(packs::diff))
        .routes(routes!(grants::list, grants::give))
        .routes(routes!(grants::revoke))
        .routes(routes!(trust::list, trust::add))
        .routes(routes!(trust::remove))
        .routes(routes!(rules::list))
        .routes(routes!(rules::get))
        .routes(routes!(rules::enable))
        .routes(routes!(rules::disable))
        .routes(routes!(rules::test))
        .routes(routes!(events::triggers))
        .routes(routes!(events::trigger))
        .routes(routes!(events::incidents))
        .routes(routes!(events::audit))
        .routes(routes!(changes::list))
        .routes(routes!(events::sensors))
        .routes(routes!(crate::stream::stream))
        .routes(routes!(kv::list))
        .routes(routes!(kv::get, kv::set, kv::delete))
        .routes(routes!(kv::secret_names))
        .routes(routes!(kv::secret_set))
        .routes(routes!(access::whoami))
        .routes(routes!(access::login))
        .routes(routes!(access::logout))
        .routes(routes!(access::tokens, access::create_token))
        .routes(routes!(access::revoke_token))
        .routes(routes!(workflows::list))
        .routes(routes!(workflows::get))
        .routes(routes!(workflows::graph_svg))
        .routes(routes!(policies::list, policies::set))
        .routes(routes!(policies::remove))
        .routes(routes!(retention::show))
        .routes(routes!(retention::set, retention::reset))
        .routes(routes!(retention::preview, retention::collect))
}
