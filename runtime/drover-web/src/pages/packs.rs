//! Packs: each installed version with the capabilities its plugins declare
//! next to the grants an operator gave, and the pack's version history;
//! grant and revoke (each after a confirmation page that names the pack
//! version, capability and scope), promote a shadow pack, roll a pack
//! back, and the difference between two versions (`drover_app::pack_diff`).
//! The confirmation is a page, not a script dialog, so it works without
//! JavaScript and from the keyboard.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use drover_app::RevokeError;
use drover_core::{Grant, GrantId};
use drover_pack::Pack;
use drover_policy::{Capability, scope_help};
use drover_store::{InstalledPack, Store};
use serde::{Deserialize, Serialize};

use super::{Page, non_empty};
use crate::auth::{Page as Auth, Post, need};
use crate::{WebError, WebState};

#[derive(Serialize)]
struct PackRow {
    name: String,
    version: String,
    description: String,
    shadow: bool,
    live: bool,
    installed_at_ms: i64,
    installed_by: String,
    /// Who signed the archive it came from; `None` for a pack directory.
    signer: Option<String>,
    /// Installed with --allow-unsigned (unsigned, or by an untrusted key).
    signer_unverified: bool,
    plugins: Vec<PluginRow>,
    /// Capabilities needing a grant that some plugin declares.
    grantable: Vec<CapRow>,
    grants: Vec<Grant>,
}

#[derive(Serialize)]
struct PluginRow {
    name: String,
    kind: String,
    description: String,
    digest: String,
    capabilities: Vec<CapRow>,
}

#[derive(Serialize)]
struct CapRow {
    name: String,
    needs_grant: bool,
    /// Scopes of the active grants covering this plugin (or, at pack
    /// level, any plugin) for this capability.
    granted: Vec<String>,
    help: &'static str,
}

fn pack_row(installed: InstalledPack, grants: Vec<Grant>) -> Result<PackRow, WebError> {
    let pack: Pack = serde_json::from_value(installed.manifest.clone())
        .map_err(|e| WebError::Internal(format!("stored manifest of {}: {e}", installed.name)))?;
    let granted = |cap: Capability, plugin: Option<&str>| -> Vec<String> {
        grants
            .iter()
            .filter(|g| g.capability == cap.to_string())
            .filter(|g| plugin.is_none_or(|p| g.digests.contains_key(p)))
            .map(|g| g.scope.clone())
            .collect()
    };
    let cap_row = |cap: Capability, plugin: Option<&str>| CapRow {
        name: cap.to_string(),
        needs_grant: cap.needs_grant(),
        granted: granted(cap, plugin),
        help: scope_help(cap.scope_kind()),
    };
    let mut grantable: BTreeMap<String, CapRow> = BTreeMap::new();
    let plugins = pack
        .plugins
        .iter()
        .map(|p| {
            // A sensor's `subscriptions:` declare `subscribe`.
            let mut declared = p.capabilities.clone();
            if p.declares(Capability::Subscribe) {
                declared.push(Capability::Subscribe);
            }
            for c in &declared {
                if c.needs_grant() {
                    grantable
                        .entry(c.to_string())
                        .or_insert_with(|| cap_row(*c, None));
                }
            }
            PluginRow {
                name: p.name.clone(),
                kind: format!("{:?}", p.kind).to_lowercase(),
                description: p.description.clone(),
                digest: installed.digests.get(&p.name).cloned().unwrap_or_default(),
                capabilities: declared
                    .iter()
                    .map(|c| cap_row(*c, Some(&p.name)))
                    .collect(),
            }
        })
        .collect();
    Ok(PackRow {
        name: installed.name,
        version: installed.version,
        description: pack.description,
        shadow: installed.shadow,
        live: installed.live,
        installed_at_ms: installed.installed_at_ms,
        installed_by: installed.installed_by,
        signer_unverified: installed
            .signer
            .as_deref()
            .is_some_and(|s| s == "unsigned" || s.starts_with("untrusted ")),
        signer: installed.signer,
        plugins,
        grantable: grantable.into_values().collect(),
        grants,
    })
}

/// One installed version of a pack, for its version history.
#[derive(Serialize)]
struct VersionRow {
    version: String,
    installed_at_ms: i64,
    installed_by: String,
    shadow: bool,
    live: bool,
}

/// The pack page: one version, the pack's history, and what a rollback
/// would go back to.
#[derive(Serialize)]
struct PackPage {
    #[serde(flatten)]
    row: PackRow,
    /// Every installed version, newest install first.
    versions: Vec<VersionRow>,
    /// The live version.
    live_version: String,
    /// The version a rollback would make live, if one would.
    rollback_to: Option<String>,
}

/// The version a rollback of the pack would make live: the newest trusted
/// one besides the live one, when the live one is trusted (what
/// `drover_store::PackStore::rollback_pack` chooses).
fn rollback_target(versions: &[InstalledPack]) -> Option<String> {
    versions.iter().find(|p| p.live && !p.shadow)?;
    versions
        .iter()
        .filter(|p| !p.live && !p.shadow)
        .max_by_key(|p| p.installed_at_ms)
        .map(|p| p.version.clone())
}

fn load(store: &Store, name: &str, version: Option<&str>) -> Result<PackPage, WebError> {
    let installed = store
        .get_pack(name, version)?
        .ok_or_else(|| not_installed(store, name, version))?;
    let grants = store.active_grants(&installed.name, &installed.version)?;
    let mut all = drover_app::packs::versions(store, name)?;
    all.sort_by_key(|p| std::cmp::Reverse(p.installed_at_ms));
    let live_version = all
        .iter()
        .find(|p| p.live)
        .map(|p| p.version.clone())
        .unwrap_or_default();
    Ok(PackPage {
        row: pack_row(installed, grants)?,
        rollback_to: rollback_target(&all),
        live_version,
        versions: all
            .into_iter()
            .map(|p| VersionRow {
                version: p.version,
                installed_at_ms: p.installed_at_ms,
                installed_by: p.installed_by,
                shadow: p.shadow,
                live: p.live,
            })
            .collect(),
    })
}

/// 404: the pack, or this version of it, is not installed (naming the
/// versions that are).
fn not_installed(store: &Store, name: &str, version: Option<&str>) -> WebError {
    let installed = drover_app::packs::versions(store, name).unwrap_or_default();
    match version {
        Some(v) if !installed.is_empty() => WebError::NotFound(format!(
            "{name}@{v} is not installed; installed versions: {}",
            drover_app::packs::describe_versions(&installed)
        )),
        _ => WebError::NotFound(format!("no pack {name:?} is installed")),
    }
}

pub async fn list(State(state): State<WebState>, Auth(me, ..): Auth<need::Viewer>) -> Page {
    let packs: Vec<PackRow> = state
        .blocking(|store| {
            store
                .list_packs()?
                .into_iter()
                .map(|p| {
                    let grants = store.active_grants(&p.name, &p.version)?;
                    pack_row(p, grants)
                })
                .collect()
        })
        .await?;
    Ok(Html(state.templates.page(
        "packs.html",
        &me,
        ctx! { page => "packs", packs },
    )?))
}

#[derive(Deserialize, Default)]
pub struct VersionQuery {
    version: Option<String>,
    done: Option<String>,
}

async fn render(
    state: &WebState,
    me: &drover_api::auth::Principal,
    name: String,
    version: Option<String>,
    notice: Option<String>,
    error: Option<String>,
    form: Option<GrantForm>,
) -> Page {
    let pack = state
        .blocking(move |store| load(store, &name, version.as_deref()))
        .await?;
    Ok(Html(state.templates.page(
        "pack.html",
        me,
        ctx! { page => "packs", pack, notice, error, form },
    )?))
}

pub async fn detail(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Page {
    let notice = non_empty(q.done).map(|d| match d.as_str() {
        "granted" => "Granted. Running executions pick the grant up on their next call.".to_owned(),
        "revoked" => "Revoked. The next host call of this pack is checked without it.".to_owned(),
        "promoted" => "Promoted: a running `drover serve` picks it up within about a second, \
                       and its rules start real executions from then on."
            .to_owned(),
        "rolledback" => "Rolled back: this version is live again, its rules, policies, sensors \
                         and grants in force; a running `drover serve` picks it up within about \
                         a second."
            .to_owned(),
        other => other.to_owned(),
    });
    render(&state, &me, name, non_empty(q.version), notice, None, None).await
}

#[derive(Deserialize, Serialize, Clone, Default)]
pub struct GrantForm {
    version: String,
    capability: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    plugin: String,
    #[serde(default)]
    confirm: String,
    /// Why, for the change log (optional; asked on the confirmation).
    #[serde(default)]
    reason: String,
}

/// The grant the form asks for, checked against the pack (drover-host's
/// `prepare_grant`, as the CLI and the API use), not yet stored.
fn build_grant(store: &Store, name: &str, f: &GrantForm, actor: &str) -> Result<Grant, WebError> {
    let plugin = non_empty(Some(f.plugin.clone()));
    drover_app::prepare_grant(
        store,
        &format!("{name}@{}", f.version),
        &f.capability,
        f.scope.trim(),
        plugin.as_deref(),
        actor,
    )
    .map_err(|e| {
        if e.is_bad_request() {
            WebError::BadRequest(e.to_string())
        } else {
            WebError::Internal(e.to_string())
        }
    })
}

pub async fn grant(
    State(state): State<WebState>,
    Path(name): Path<String>,
    Post(me, form, ..): Post<need::Admin, GrantForm>,
) -> Result<Response, WebError> {
    let by = super::change_by(&me, &form.reason)?;
    let (n, f) = (name.clone(), form.clone());
    let built = state
        .blocking(move |store| {
            let grant = build_grant(store, &n, &f, &by.actor)?;
            if f.confirm == "yes" {
                store.insert_grant(grant.clone(), &by)?;
            }
            Ok(grant)
        })
        .await;
    let grant = match built {
        Ok(g) => g,
        Err(WebError::BadRequest(msg)) => {
            let page = render(
                &state,
                &me,
                name,
                Some(form.version.clone()),
                None,
                Some(msg),
                Some(form),
            )
            .await?;
            return Ok((StatusCode::BAD_REQUEST, page).into_response());
        }
        Err(e) => return Err(e),
    };
    if form.confirm == "yes" {
        return Ok(Redirect::to(&format!(
            "/ui/packs/{name}?version={}&done=granted",
            grant.version
        ))
        .into_response());
    }
    let plugins = grant.digests.keys().cloned().collect::<Vec<_>>().join(", ");
    Ok(Html(state.templates.page(
        "confirm.html",
        &me,
        ctx! {
            page => "packs",
            title => "Confirm the grant",
            question => format!("Grant {} to {}@{}?", grant.capability, grant.pack, grant.version),
            facts => vec![
                ("Pack version", format!("{}@{}", grant.pack, grant.version)),
                ("Capability", grant.capability.clone()),
                ("Scope", grant.scope.clone()),
                ("Plugins (bound to their current digests)", plugins),
            ],
            action => format!("/ui/packs/{name}/grant"),
            fields => vec![
                ("version", form.version),
                ("capability", form.capability),
                ("scope", form.scope),
                ("plugin", form.plugin),
                ("confirm", "yes".to_owned()),
            ],
            button => format!("Grant {} scope {}", grant.capability, grant.scope),
            cancel => format!("/ui/packs/{name}?version={}", grant.version),
            reason => ReasonField { required: false },
        },
    )?)
    .into_response())
}

/// The confirmation page's reason input.
#[derive(Serialize)]
struct ReasonField {
    required: bool,
}

#[derive(Deserialize)]
pub struct RevokeForm {
    id: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    reason: String,
}

pub async fn revoke(
    State(state): State<WebState>,
    Path(name): Path<String>,
    Post(me, form, ..): Post<need::Admin, RevokeForm>,
) -> Result<Response, WebError> {
    let id: GrantId = form
        .id
        .parse()
        .map_err(|e: drover_core::IdError| WebError::BadRequest(e.to_string()))?;
    let n = name.clone();
    let grant = state
        .blocking(move |store| {
            store
                .list_grants(Some(&n), false)?
                .into_iter()
                .find(|g| g.id == id)
                .ok_or_else(|| WebError::NotFound(format!("no active grant {id} on pack {n}")))
        })
        .await?;
    if form.confirm == "yes" {
        let by = super::change_by(&me, &form.reason)?;
        state
            .blocking(move |store| {
                drover_app::revoke_grant(store, &id.to_string(), &by).map_err(|e| match e {
                    RevokeError::NotActive(_) => {
                        WebError::Conflict(format!("grant {id} was revoked already"))
                    }
                    RevokeError::Id(e) => WebError::BadRequest(e.to_string()),
                    RevokeError::Store(e) => e.into(),
                })
            })
            .await?;
        return Ok(Redirect::to(&format!(
            "/ui/packs/{name}?version={}&done=revoked",
            grant.version
        ))
        .into_response());
    }
    Ok(Html(state.templates.page(
        "confirm.html",
        &me,
        ctx! {
            page => "packs",
            title => "Confirm the revocation",
            question => format!("Revoke {} from {}@{}?", grant.capability, grant.pack, grant.version),
            facts => vec![
                ("Pack version", format!("{}@{}", grant.pack, grant.version)),
                ("Capability", grant.capability.clone()),
                ("Scope", grant.scope.clone()),
                ("Granted by", grant.created_by.clone()),
            ],
            action => format!("/ui/packs/{name}/revoke"),
            fields => vec![("id", id.to_string()), ("confirm", "yes".to_owned())],
            button => format!("Revoke {} scope {}", grant.capability, grant.scope),
            cancel => format!("/ui/packs/{name}?version={}", grant.version),
            reason => ReasonField { required: false },
        },
    )?)
    .into_response())
}

#[derive(Deserialize)]
pub struct PromoteForm {
    version: String,
    #[serde(default)]
    confirm: String,
    /// Why, for the change log: required to promote.
    #[serde(default)]
    reason: String,
}

pub async fn promote(
    State(state): State<WebState>,
    Path(name): Path<String>,
    Post(me, form, ..): Post<need::Operator, PromoteForm>,
) -> Result<Response, WebError> {
    let refused = |e: drover_app::packs::PromoteError| {
        use drover_app::packs::PromoteError as E;
        match e {
            E::Store(e) => e.into(),
            E::NoReason(_) => WebError::BadRequest(format!("reason: {e}")),
            E::NeedsAdmin { .. } => WebError::Forbidden(e.to_string()),
            E::Manifest(..) => WebError::Internal(e.to_string()),
            E::NotInstalled(_) => WebError::NotFound(e.to_string()),
        }
    };
    if form.confirm != "yes" {
        // Shown before asking: what the promotion lets the pack ask for
        // (and refused here already when it takes a role the viewer lacks).
        let (n, v, role) = (name.clone(), form.version.clone(), me.role);
        let new = state
            .blocking(move |store| {
                let Some(installed) = store.get_pack(&n, Some(&v))? else {
                    return Err(WebError::NotFound(format!("{n}@{v} is not installed")));
                };
                let new =
                    drover_app::packs::new_capabilities(store, &installed).map_err(refused)?;
                if role < drover_store::Role::Admin && !new.is_empty() {
                    return Err(refused(drover_app::packs::PromoteError::NeedsAdmin {
                        spec: format!("{n}@{v}"),
                        new,
                    }));
                }
                Ok(new)
            })
            .await?;
        let asks = if new.is_empty() {
            "nothing the live version does not".to_owned()
        } else {
            new.join(", ")
        };
        return Ok(Html(state.templates.page(
            "confirm.html",
            &me,
            ctx! {
                page => "packs",
                title => "Confirm the promotion",
                question => format!("Promote {name}@{} out of shadow mode?", form.version),
                facts => vec![
                    ("Pack version", format!("{name}@{}", form.version)),
                    ("Effect", "its rules start real executions instead of dry runs".to_owned()),
                    ("New capabilities", asks),
                ],
                action => format!("/ui/packs/{name}/promote"),
                fields => vec![("version", form.version.clone()), ("confirm", "yes".to_owned())],
                button => format!("Promote {name}@{}", form.version),
                cancel => format!("/ui/packs/{name}?version={}", form.version),
                reason => ReasonField { required: true },
            },
        )?)
        .into_response());
    }
    let by = super::change_by(&me, &form.reason)?;
    let (n, v, role) = (name.clone(), form.version.clone(), me.role);
    state
        .blocking(move |store| {
            drover_app::packs::promote(store, &n, Some(&v), &by, role).map_err(refused)
        })
        .await?;
    Ok(Redirect::to(&format!(
        "/ui/packs/{name}?version={}&done=promoted",
        form.version
    ))
    .into_response())
}

#[derive(Deserialize)]
pub struct RollbackForm {
    #[serde(default)]
    confirm: String,
    /// Why, for the change log: required to roll back.
    #[serde(default)]
    reason: String,
}

pub async fn rollback(
    State(state): State<WebState>,
    Path(name): Path<String>,
    Post(me, form, ..): Post<need::Operator, RollbackForm>,
) -> Result<Response, WebError> {
    if form.confirm != "yes" {
        let n = name.clone();
        let (live, target) = state
            .blocking(move |store| {
                let all = drover_app::packs::versions(store, &n)?;
                let live = all
                    .iter()
                    .find(|p| p.live)
                    .ok_or_else(|| WebError::NotFound(format!("no pack {n:?} is installed")))?;
                let target = rollback_target(&all).ok_or_else(|| {
                    WebError::Conflict(format!(
                        "cannot roll back {n}: no earlier trusted version is installed to go \
                         back to (installed: {})",
                        drover_app::packs::describe_versions(&all)
                    ))
                })?;
                Ok((live.version.clone(), target))
            })
            .await?;
        return Ok(Html(state.templates.page(
            "confirm.html",
            &me,
            ctx! {
                page => "packs",
                title => "Confirm the rollback",
                question => format!("Roll {name} back from {live} to {target}?"),
                facts => vec![
                    ("Live now", format!("{name}@{live}: goes back into shadow mode")),
                    ("Live after", format!("{name}@{target}: its rules, policies, sensors and grants in force")),
                    ("Runs under way", "are not stopped".to_owned()),
                ],
                action => format!("/ui/packs/{name}/rollback"),
                fields => vec![("confirm", "yes".to_owned())],
                button => format!("Roll {name} back to {target}"),
                cancel => format!("/ui/packs/{name}"),
                reason => ReasonField { required: true },
            },
        )?)
        .into_response());
    }
    let by = super::change_by(&me, &form.reason)?;
    let n = name.clone();
    let done = state
        .blocking(move |store| {
            drover_app::packs::rollback(store, &n, &by).map_err(|e| match e {
                drover_app::packs::RollbackError::Store(e) => e.into(),
                drover_app::packs::RollbackError::NoReason(_) => {
                    WebError::BadRequest(format!("reason: {e}"))
                }
                drover_app::packs::RollbackError::NotInstalled(_) => {
                    WebError::NotFound(e.to_string())
                }
                e => WebError::Conflict(e.to_string()),
            })
        })
        .await?;
    Ok(Redirect::to(&format!(
        "/ui/packs/{name}?version={}&done=rolledback",
        done.to
    ))
    .into_response())
}

#[derive(Deserialize, Default)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

/// `/ui/packs/{name}/diff?from=&to=`: two installed versions compared,
/// capabilities and grants first (`drover_app::pack_diff`, as `drover pack
/// diff` and the API show it), with Promote and Roll back.
pub async fn diff(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Path(name): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Page {
    let (from, to) = (non_empty(q.from), non_empty(q.to));
    let (d, all) = state
        .blocking(move |store| {
            let d =
                drover_app::pack_diff::diff_installed(store, &name, from.as_deref(), to.as_deref())
                    .map_err(|e| match e {
                        drover_app::pack_diff::DiffError::Store(e) => e.into(),
                        e if e.is_not_found() => WebError::NotFound(e.to_string()),
                        e => WebError::Internal(e.to_string()),
                    })?;
            Ok((d, drover_app::packs::versions(store, &name)?))
        })
        .await?;
    let mut versions: Vec<String> = all.iter().map(|p| p.version.clone()).collect();
    versions.sort();
    let headline = d.headline();
    let graphs = workflow_graphs(&d, &all);
    // Those worth a look (new, dropped, granted differently) in the table,
    // the rest folded away.
    let (changed_capabilities, same_capabilities): (Vec<_>, Vec<_>) =
        d.capabilities.iter().cloned().partition(|c| {
            c.change != drover_app::pack_diff::Change::Unchanged || c.granted_from != c.granted_to
        });
    Ok(Html(state.templates.page(
        "pack_diff.html",
        &me,
        ctx! {
            page => "packs",
            d,
            headline,
            changed_capabilities,
            same_capabilities,
            versions,
            graphs,
            rollback_to => rollback_target(&all),
        },
    )?))
}

/// A changed workflow drawn in both versions (absent where it does not
/// exist or does not parse), each task that differs coloured by how.
#[derive(Serialize)]
struct WorkflowGraphs {
    from: Option<String>,
    to: Option<String>,
}

/// The pictures of each workflow `d` lists, by its reference.
fn workflow_graphs(
    d: &drover_app::pack_diff::PackDiff,
    all: &[InstalledPack],
) -> BTreeMap<String, WorkflowGraphs> {
    use drover_app::pack_diff::Change;
    use drover_workflow::graph::{TaskMark, to_svg_marked};
    let manifest = |version: &str| -> Option<Pack> {
        let p = all.iter().find(|p| p.version == version)?;
        serde_json::from_value(p.manifest.clone()).ok()
    };
    let (from, to) = (manifest(&d.from.version), manifest(&d.to.version));
    let draw = |pack: Option<&Pack>, name: &str, mark: &dyn Fn(&str) -> Option<TaskMark>| {
        let plugin = name.split_once('.').map_or(name, |(_, p)| p);
        let entry = pack?.plugin(plugin)?.workflow.clone()?;
        let wf = drover_workflow::Workflow::parse(&entry.entry, &entry.text, None).ok()?;
        Some(to_svg_marked(&wf, mark))
    };
    d.workflows
        .iter()
        .map(|w| {
            let mark = |side: Change| {
                move |task: &str| {
                    let t = w.tasks.iter().find(|t| t.name == task)?;
                    match t.change {
                        Change::Changed => Some(TaskMark::Changed),
                        c if c == side && c == Change::Added => Some(TaskMark::Added),
                        c if c == side && c == Change::Removed => Some(TaskMark::Removed),
                        _ => None,
                    }
                }
            };
            let graphs = WorkflowGraphs {
                from: draw(from.as_ref(), &w.name, &mark(Change::Removed)),
                to: draw(to.as_ref(), &w.name, &mark(Change::Added)),
            };
            (w.name.clone(), graphs)
        })
        .collect()
}
