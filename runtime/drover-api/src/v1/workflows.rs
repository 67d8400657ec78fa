//! `/api/v1/workflows`: the installed workflow actions (`runner:
//! workflow`), their Orquesta text, and their graph as SVG, coloured by a
//! run's state when `?execution=` names one. Runs themselves are
//! executions (`/api/v1/executions/{id}` has the child tree).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use drover_pack::{Pack, Plugin};
use drover_store::Store;
use drover_workflow::{Workflow, WorkflowState, graph};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ErrorBody;
use crate::auth::{Auth, need};
use crate::error::blocking;
use crate::extract::{ApiPath, ApiQuery};
use crate::v1::executions::{internal, parse_id};
use crate::{ApiError, AppState};

#[derive(Serialize, ToSchema)]
pub struct WorkflowItem {
    /// `pack.name`: what `POST /api/v1/executions` and rules call.
    #[serde(rename = "ref")]
    reference: String,
    pack: String,
    version: String,
    description: String,
    /// The workflow file, relative to its pack.
    entry: String,
    /// Parameters, one line each.
    parameters: Vec<String>,
}

/// The workflow plugins of the live version of each pack.
fn installed(store: &Store) -> Result<Vec<(Pack, Plugin)>, ApiError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    // The live version first per name: keep the first of each.
    for p in store.list_packs()? {
        if !seen.insert(p.name.clone()) {
            continue;
        }
        let pack: Pack = serde_json::from_value(p.manifest).map_err(internal)?;
        for plugin in pack.plugins.iter().filter(|p| p.is_workflow()) {
            out.push((pack.clone(), plugin.clone()));
        }
    }
    Ok(out)
}

fn item(pack: &Pack, plugin: &Plugin) -> WorkflowItem {
    WorkflowItem {
        reference: format!("{}.{}", pack.name, plugin.name),
        pack: pack.name.clone(),
        version: pack.version.clone(),
        description: plugin.description.clone(),
        entry: plugin
            .workflow
            .as_ref()
            .map(|w| w.entry.clone())
            .unwrap_or_default(),
        parameters: plugin.parameters.describe(),
    }
}

fn find(store: &Store, reference: &str) -> Result<(Pack, Plugin), ApiError> {
    installed(store)?
        .into_iter()
        .find(|(pack, plugin)| format!("{}.{}", pack.name, plugin.name) == reference)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no workflow {reference:?} is installed (GET /api/v1/workflows lists them)"
            ))
        })
}

/// Installed workflows.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows",
    responses((status = 200, body = Vec<WorkflowItem>), (status = 401, body = ErrorBody)))]
pub async fn list(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
) -> Result<Json<Vec<WorkflowItem>>, ApiError> {
    let store = state.store().clone();
    let all = blocking(move || installed(&store)).await?;
    Ok(Json(all.iter().map(|(p, w)| item(p, w)).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct WorkflowDetail {
    #[serde(flatten)]
    item: WorkflowItem,
    /// The Orquesta workflow (YAML) as installed.
    text: String,
}

/// One workflow with its text.
#[utoipa::path(get, path = "/api/v1/workflows/{ref}", tag = "workflows",
    params(("ref" = String, Path, description = "`pack.name`")),
    responses((status = 200, body = WorkflowDetail), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn get(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiPath(reference): ApiPath<String>,
) -> Result<Json<WorkflowDetail>, ApiError> {
    let store = state.store().clone();
    let (pack, plugin) = blocking(move || find(&store, &reference)).await?;
    Ok(Json(WorkflowDetail {
        item: item(&pack, &plugin),
        text: plugin.workflow.map(|w| w.text).unwrap_or_default(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GraphQuery {
    /// A run of this workflow: colour its tasks by their state.
    execution: Option<String>,
}

/// The workflow as an SVG graph (tasks and transitions), coloured by a
/// run's state with `?execution=`.
#[utoipa::path(get, path = "/api/v1/workflows/{ref}/graph", tag = "workflows",
    params(("ref" = String, Path, description = "`pack.name`"), GraphQuery),
    responses((status = 200, description = "SVG", content_type = "image/svg+xml", body = String),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn graph_svg(
    _: Auth<need::Viewer>,
    State(state): State<AppState>,
    ApiPath(reference): ApiPath<String>,
    ApiQuery(q): ApiQuery<GraphQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let run = q.execution.as_deref().map(parse_id).transpose()?;
    let store = state.store().clone();
    let svg = blocking(move || {
        let (_, plugin) = find(&store, &reference)?;
        let text = plugin.workflow.map(|w| w.text).unwrap_or_default();
        let wf = Workflow::parse(&reference, &text, None).map_err(|e| {
            ApiError::Internal(format!("stored workflow {reference} does not parse: {e:?}"))
        })?;
        let run_state: Option<WorkflowState> = match run {
            None => None,
            Some(id) => {
                let run = store.get_workflow_run(id)?.ok_or_else(|| {
                    ApiError::NotFound(format!("no run of a workflow has execution id {id}"))
                })?;
                if run.action != reference {
                    return Err(ApiError::BadRequest(format!(
                        "execution {id} is a run of {}, not {reference}",
                        run.action
                    )));
                }
                Some(serde_json::from_value(run.state).map_err(internal)?)
            }
        };
        Ok(graph::to_svg(&wf, run_state.as_ref()))
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            // Task names come from YAML: never let the picture run anything.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        svg,
    ))
}
