//! Run an action or a workflow from the browser: a form built from its
//! parameter schema (a workflow's are its inputs), "dry run" ticked by
//! default. The request is queued like any other (the server's workers run
//! an action; its workflow runner drives a workflow task by task, and a
//! dry run of one plans every task's effects) and the browser goes to the
//! execution's page, which follows it live to its end.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use drover_core::{ExecutionId, ExecutionRequest, now_ms};
use drover_pack::{Pack, Plugin};
use drover_store::Store;
use serde::{Deserialize, Serialize};

use super::non_empty;
use crate::auth::{Page as Auth, Post, need};
use crate::{WebError, WebState};

#[derive(Deserialize)]
pub struct FormQuery {
    action: Option<String>,
    /// Prefills the action's `node` parameter (from a node's page).
    node: Option<String>,
}

#[derive(Serialize)]
struct Field {
    name: String,
    required: bool,
    description: String,
    types: String,
    default: Option<String>,
    /// What the user typed, when the form comes back with an error.
    value: String,
}

pub(crate) fn find_action(store: &Store, action: &str) -> Result<(Pack, Plugin), WebError> {
    let (pack_name, name) = action.split_once('.').ok_or_else(|| {
        WebError::BadRequest(format!("{action:?} is not an action; write PACK.ACTION"))
    })?;
    let installed = store
        .get_pack(pack_name, None)?
        .ok_or_else(|| WebError::NotFound(format!("no pack {pack_name:?} is installed")))?;
    let pack: Pack = serde_json::from_value(installed.manifest)
        .map_err(|e| WebError::Internal(format!("stored manifest of {pack_name}: {e}")))?;
    let plugin = pack
        .plugin(name)
        .filter(|p| p.kind == drover_pack::PluginKind::Action)
        .cloned()
        .ok_or_else(|| WebError::NotFound(format!("pack {pack_name} has no action {name:?}")))?;
    Ok((pack, plugin))
}

fn fields(plugin: &Plugin, values: &[(String, String)]) -> Vec<Field> {
    plugin
        .parameters
        .iter()
        .map(|p| Field {
            name: p.name().to_owned(),
            required: p.required(),
            description: p.description().to_owned(),
            types: p.types().join(" or "),
            default: p.default().map(|d| match d {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            value: values
                .iter()
                .find(|(k, _)| k.strip_prefix("p.") == Some(p.name()))
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        })
        .collect()
}

/// What the browser asks before a live run of `plugin`, when it can act on
/// the world: a workflow (its tasks may), or an action declaring a
/// capability that changes something (nodes, commands, http, kv writes).
pub(crate) fn live_run_question(action: &str, plugin: &Plugin) -> Option<String> {
    use drover_policy::Capability::*;
    if plugin.is_workflow() {
        return Some(format!(
            "Run workflow {action} for real? Its tasks perform their effects; a dry run only plans them."
        ));
    }
    let acts: Vec<&str> = plugin
        .capabilities
        .iter()
        .filter(|c| {
            matches!(
                c,
                Kv | Http | Command | NodesReboot | NodesDrain | NodesSetState
            )
        })
        .map(|c| c.name())
        .collect();
    (!acts.is_empty()).then(|| {
        format!(
            "Run {action} for real? It may act through {}; a dry run only plans that.",
            acts.join(", ")
        )
    })
}

async fn render(
    state: &WebState,
    me: &drover_api::auth::Principal,
    action: Option<String>,
    values: Vec<(String, String)>,
    dry_run: bool,
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    let chosen = action.clone();
    let (actions, found) = state
        .blocking(move |store| {
            let actions = super::executions::action_names(store)?;
            let found = match &chosen {
                Some(a) => Some(find_action(store, a)?),
                None => None,
            };
            Ok((actions, found))
        })
        .await?;
    let (description, workflow, fields, confirm) = match &found {
        Some((_, plugin)) => (
            plugin.description.clone(),
            plugin.is_workflow(),
            fields(plugin, &values),
            live_run_question(action.as_deref().unwrap_or_default(), plugin),
        ),
        None => (String::new(), false, Vec::new(), None),
    };
    Ok(Html(state.templates.page(
        "run.html",
        me,
        ctx! {
            page => "run", actions, action, description, workflow, fields, dry_run, error, confirm,
        },
    )?))
}

pub async fn form(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Query(q): Query<FormQuery>,
) -> Response {
    let values: Vec<(String, String)> = non_empty(q.node)
        .map(|n| ("p.node".to_owned(), n))
        .into_iter()
        .collect();
    match render(&state, &me, non_empty(q.action), values, true, None).await {
        Ok(page) => page.into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn submit(
    State(state): State<WebState>,
    Post(me, form, ..): Post<need::Operator, Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let Some(action) = non_empty(get("action")) else {
        return WebError::BadRequest("choose an action to run".into()).into_response();
    };
    let dry_run = get("dry_run").is_some();
    let args: Vec<String> = form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("p.")?, v.trim())))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let a = action.clone();
    let actor = me.actor();
    let intake = state.api.intake.clone();
    let queued = state
        .blocking(move |store| {
            let (_, plugin) = find_action(store, &a)?;
            let params = plugin
                .parameters
                .parse_cli_args(&args)
                .map_err(|e| WebError::BadRequest(format!("{a}: {e}")))?;
            queue(store, &intake, &a, params, dry_run, actor)
        })
        .await;
    match queued {
        Ok(id) => Redirect::to(&format!("/ui/executions/{id}")).into_response(),
        Err(WebError::BadRequest(msg)) => {
            let values: Vec<(String, String)> = form.clone();
            match render(&state, &me, Some(action), values, dry_run, Some(msg)).await {
                Ok(page) => (axum::http::StatusCode::BAD_REQUEST, page).into_response(),
                Err(e) => e.into_response(),
            }
        }
        Err(e) => e.into_response(),
    }
}

/// Queues a run of `action` with `params`, checked against its installed
/// parameter schema first, as `POST /api/v1/executions` does (the server's
/// workers run it). The run form and "run again" both go through here.
pub(crate) fn queue(
    store: &Store,
    intake: &drover_engine::Intake,
    action: &str,
    params: serde_json::Value,
    dry_run: bool,
    actor: String,
) -> Result<ExecutionId, WebError> {
    let (_, plugin) = find_action(store, action)?;
    let params = plugin
        .parameters
        .validate(params)
        .map_err(|e| WebError::BadRequest(format!("{action}: {e}")))?;
    let id = ExecutionId::new();
    intake.request_execution(ExecutionRequest {
        id,
        action: action.to_owned(),
        parameters: params,
        dry_run,
        actor,
        enforcement_id: None,
        requested_at_ms: now_ms(),
        pack_version: None,
    })?;
    Ok(id)
}
