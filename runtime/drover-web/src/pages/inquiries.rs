//! Inquiries: the questions workflows wait on (`core.ask`), each with a
//! form built from its JSON Schema (a boolean `approve` becomes Approve and
//! Deny buttons; booleans, enums, integers, numbers and strings their own
//! inputs; anything else JSON), and the recently answered ones. An answer
//! goes through [`drover_engine::workflows::ask::answer`], the one
//! operation `POST /api/v1/inquiries/{id}/respond` and `drover inquiry
//! respond` call too (roles, schema, record, queue for `drover serve`);
//! a refusal comes back in the inquiry's card with what was typed. The
//! list re-renders when the change feed says the pending set changed;
//! inputs keep what the operator typed across that (`hx-preserve`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use drover_api::auth::Principal;
use drover_core::ExecutionId;
use drover_engine::workflows::Continue;
use drover_engine::workflows::ask::{self, InquiryError, Responder, role_names};
use drover_store::{Inquiry, RespondError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Page, non_empty};
use crate::auth::{Page as Auth, Post, need};
use crate::{WebError, WebState};

/// Most pending inquiries shown, and recently ended ones.
const PENDING_SHOWN: u32 = 200;
const RECENT_SHOWN: u32 = 10;

/// One input of an inquiry's form.
#[derive(Serialize, Debug, PartialEq)]
struct Field {
    name: String,
    /// `boolean`, `enum`, `integer`, `number`, `string` or `json`.
    kind: &'static str,
    required: bool,
    description: String,
    /// The choices of an enum, as shown (and posted).
    options: Vec<String>,
    /// What was typed, when the form comes back refused.
    value: String,
}

/// An inquiry as the page shows it.
#[derive(Serialize)]
struct Card {
    #[serde(flatten)]
    inquiry: Inquiry,
    /// The question: the schema's `description` (or `title`), if any.
    prompt: Option<String>,
    fields: Vec<Field>,
    /// The schema has a boolean `approve`: answer with Approve / Deny.
    approve: bool,
    /// The schema has no properties to build inputs from: one JSON box.
    free_form: bool,
    /// Whether the viewer's role may answer it.
    may_answer: bool,
    /// Why the last answer was refused.
    error: Option<String>,
}

/// The form's inputs for `schema`'s properties, in schema order; `approve`
/// when it is a boolean is left to the Approve / Deny buttons.
fn fields(schema: &Value, typed: &Map<String, Value>) -> (Vec<Field>, bool) {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let Some(props) = schema["properties"].as_object() else {
        return (Vec::new(), false);
    };
    let mut approve = false;
    let mut out = Vec::new();
    for (name, prop) in props {
        let kind = kind_of(prop);
        if name == "approve" && kind == "boolean" {
            approve = true;
            continue;
        }
        out.push(Field {
            name: name.clone(),
            kind,
            required: required.contains(&name.as_str()),
            description: prop["description"]
                .as_str()
                .or(prop["title"].as_str())
                .unwrap_or_default()
                .to_owned(),
            options: prop["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .map(shown)
                .collect(),
            value: typed.get(name).map(shown).unwrap_or_default(),
        });
    }
    (out, approve)
}

fn kind_of(prop: &Value) -> &'static str {
    if prop["enum"].is_array() {
        return "enum";
    }
    match prop["type"].as_str() {
        Some("boolean") => "boolean",
        Some("integer") => "integer",
        Some("number") => "number",
        Some("string") => "string",
        // Objects, arrays, unions, no type at all: typed as JSON.
        _ => "json",
    }
}

/// A JSON value as an input shows it: strings bare, the rest as JSON.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The posted fields (`f.NAME`, or `json` for a free-form inquiry) as the
/// response object, each value typed by its property. Empty inputs are
/// left out (the schema says whether they were required); a value that
/// does not parse as its type is kept as text, so the schema's check names
/// the field and what it expected.
fn response(schema: &Value, form: &[(String, String)]) -> Result<Map<String, Value>, String> {
    let props = schema["properties"].as_object();
    if props.is_none_or(|p| p.is_empty()) {
        let text = form
            .iter()
            .find(|(k, _)| k == "json")
            .map(|(_, v)| v.trim())
            .unwrap_or("");
        if text.is_empty() {
            return Ok(Map::new());
        }
        return match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err("the response must be a JSON object, e.g. {\"approve\": true}".into()),
            Err(e) => Err(format!("the response is not JSON: {e}")),
        };
    }
    let props = props.cloned().unwrap_or_default();
    let mut out = Map::new();
    for (key, raw) in form {
        let Some(name) = key.strip_prefix("f.") else {
            continue;
        };
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let prop = props.get(name).cloned().unwrap_or(Value::Null);
        out.insert(name.to_owned(), typed(&prop, raw));
    }
    Ok(out)
}

fn typed(prop: &Value, raw: &str) -> Value {
    let text = || Value::String(raw.to_owned());
    match kind_of(prop) {
        "enum" => prop["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| shown(v) == raw)
            .cloned()
            .unwrap_or_else(text),
        "boolean" => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => text(),
        },
        "integer" => raw
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| text()),
        "number" => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(text),
        "string" => text(),
        _ => serde_json::from_str(raw).unwrap_or_else(|_| text()),
    }
}

fn card(q: Inquiry, me: &Principal, typed: &Map<String, Value>, error: Option<String>) -> Card {
    let (fields, approve) = fields(&q.schema, typed);
    let free_form = q.schema["properties"]
        .as_object()
        .is_none_or(|p| p.is_empty());
    let prompt = q.schema["description"]
        .as_str()
        .or(q.schema["title"].as_str())
        .map(str::to_owned);
    Card {
        prompt,
        may_answer: Responder::with_role(me.actor(), me.role).may_answer(&q.roles),
        inquiry: q,
        fields,
        approve,
        free_form,
        error,
    }
}

/// A refused answer to show again: which inquiry, what was typed, why.
struct Refused {
    id: ExecutionId,
    typed: Map<String, Value>,
    json: String,
    error: String,
}

async fn lists(
    state: &WebState,
    me: &Principal,
    refused: Option<&Refused>,
) -> Result<serde_json::Value, WebError> {
    let (pending, ended) = state
        .blocking(|store| {
            let pending = store.pending_inquiries(PENDING_SHOWN)?;
            let ended = store.ended_inquiries(RECENT_SHOWN)?;
            Ok((pending, ended))
        })
        .await?;
    let none = Map::new();
    let pending: Vec<Card> = pending
        .into_iter()
        .map(|q| match refused {
            Some(r) if r.id == q.id => card(q, me, &r.typed, Some(r.error.clone())),
            _ => card(q, me, &none, None),
        })
        .collect();
    let json = refused.map(|r| r.json.clone()).unwrap_or_default();
    Ok(ctx! {
        pending,
        ended,
        json,
        my_roles => role_names(me.role).join(", "),
        operator => me.role >= drover_store::Role::Operator,
        csrf => me.csrf().unwrap_or_default(),
    })
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    /// An inquiry just answered: say so, with a link to its workflow.
    answered: Option<String>,
}

async fn render(
    state: &WebState,
    me: &Principal,
    refused: Option<Refused>,
    answered: Option<Inquiry>,
) -> Page {
    let data = lists(state, me, refused.as_ref()).await?;
    // A refused answer's page does not re-fetch the list when its stream
    // opens: that would take the refusal's message away at once.
    let refused = refused.is_some();
    Ok(Html(state.templates.page(
        "inquiries.html",
        me,
        ctx! { page => "inquiries", answered, refused, ..data },
    )?))
}

pub async fn list(
    State(state): State<WebState>,
    Auth(me, ..): Auth<need::Viewer>,
    Query(q): Query<ListQuery>,
) -> Page {
    let answered = match non_empty(q.answered).and_then(|a| a.parse::<ExecutionId>().ok()) {
        Some(id) => {
            state
                .blocking(move |store| Ok(store.get_inquiry(id)?))
                .await?
        }
        None => None,
    };
    render(&state, &me, None, answered).await
}

/// The lists alone: what the live page re-fetches.
pub async fn live(State(state): State<WebState>, Auth(me, ..): Auth<need::Viewer>) -> Page {
    let data = lists(&state, &me, None).await?;
    Ok(Html(state.templates.render("inquiries_live.html", data)?))
}

/// Answers inquiry `id` with the posted form (operator; the inquiry's
/// roles and schema are checked by [`ask::answer`]).
pub async fn respond(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Post(me, form, ..): Post<need::Operator, Vec<(String, String)>>,
) -> Response {
    let Ok(id) = id.parse::<ExecutionId>() else {
        return WebError::NotFound(format!("no inquiry {id:?}")).into_response();
    };
    let found = state
        .blocking(move |store| Ok(store.get_inquiry(id)?))
        .await;
    let q = match found {
        Ok(Some(q)) => q,
        Ok(None) => return WebError::NotFound(format!("no inquiry {id}")).into_response(),
        Err(e) => return e.into_response(),
    };
    let json = form
        .iter()
        .find(|(k, _)| k == "json")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let typed: Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("f.")?.to_owned(), Value::String(v.clone()))))
        .collect();
    let outcome = match response(&q.schema, &form) {
        Ok(resp) => {
            let role = me.role;
            let responder = Responder::with_role(me.actor(), role);
            let app = state.api.app.clone();
            let answered = tokio::task::spawn_blocking(move || {
                ask::answer(&app, id, Value::Object(resp), &responder, Continue::Queue)
            })
            .await;
            match answered {
                Ok(Ok(_)) => {
                    state.api.intake.notify_queued();
                    Ok(())
                }
                Ok(Err(e)) => Err(match &e {
                    InquiryError::Respond(RespondError::Unknown(_)) => {
                        (StatusCode::NOT_FOUND, e.to_string())
                    }
                    InquiryError::Respond(RespondError::NotPending { .. }) => {
                        (StatusCode::CONFLICT, e.to_string())
                    }
                    InquiryError::Role { .. } => (StatusCode::FORBIDDEN, e.for_role(role)),
                    InquiryError::Invalid { .. } => (StatusCode::BAD_REQUEST, e.to_string()),
                    _ => {
                        tracing::error!(inquiry = %id, error = %e, "answering an inquiry failed");
                        (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
                    }
                }),
                Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
            }
        }
        Err(problem) => Err((StatusCode::BAD_REQUEST, format!("inquiry {id}: {problem}"))),
    };
    match outcome {
        Ok(_) => Redirect::to(&format!("/ui/inquiries?answered={id}")).into_response(),
        Err((status, _)) if status == StatusCode::NOT_FOUND => {
            WebError::NotFound(format!("no inquiry {id}")).into_response()
        }
        Err((status, _)) if status.is_server_error() => {
            WebError::Internal(format!("answering inquiry {id} failed")).into_response()
        }
        Err((status, error)) => {
            let refused = Refused {
                id,
                typed,
                json,
                error,
            };
            match render(&state, &me, Some(refused), None).await {
                Ok(page) => (status, page).into_response(),
                Err(e) => e.into_response(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "approve": {"type": "boolean"},
                "reason": {"type": "string", "description": "Why"},
                "count": {"type": "integer"},
                "share": {"type": "number"},
                "urgency": {"enum": ["low", "high", 3]},
                "force": {"type": "boolean"},
                "extra": {"type": "object"}
            },
            "required": ["approve", "count"]
        })
    }

    #[test]
    fn the_schema_becomes_inputs_and_approve_becomes_buttons() {
        let (fields, approve) = fields(&schema(), &Map::new());
        assert!(approve);
        let kinds: Vec<(&str, &str, bool)> = fields
            .iter()
            .map(|f| (f.name.as_str(), f.kind, f.required))
            .collect();
        assert!(kinds.contains(&("reason", "string", false)));
        assert!(kinds.contains(&("count", "integer", true)));
        assert!(kinds.contains(&("share", "number", false)));
        assert!(kinds.contains(&("urgency", "enum", false)));
        assert!(kinds.contains(&("force", "boolean", false)));
        assert!(kinds.contains(&("extra", "json", false)));
        assert!(!kinds.iter().any(|(n, ..)| *n == "approve"));
        let urgency = fields.iter().find(|f| f.name == "urgency").unwrap();
        assert_eq!(urgency.options, ["low", "high", "3"]);
        assert_eq!(
            fields
                .iter()
                .find(|f| f.name == "reason")
                .unwrap()
                .description,
            "Why"
        );
    }

    #[test]
    fn posted_fields_are_typed_by_their_property() {
        let form: Vec<(String, String)> = [
            ("csrf", "x"),
            ("f.approve", "false"),
            ("f.reason", " not now "),
            ("f.count", "3"),
            ("f.share", "0.5"),
            ("f.urgency", "3"),
            ("f.force", ""),
            ("f.extra", "{\"a\": 1}"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = response(&schema(), &form).unwrap();
        assert_eq!(
            Value::Object(r),
            json!({"approve": false, "reason": "not now", "count": 3, "share": 0.5,
                   "urgency": 3, "extra": {"a": 1}})
        );
        // What does not parse stays text, for the schema to name.
        let bad = vec![("f.count".to_owned(), "many".to_owned())];
        assert_eq!(
            Value::Object(response(&schema(), &bad).unwrap()),
            json!({"count": "many"})
        );
    }

    #[test]
    fn a_schema_without_properties_takes_a_json_object() {
        let s = json!({"type": "object"});
        let form = vec![("json".to_owned(), "{\"ok\": true}".to_owned())];
        assert_eq!(
            Value::Object(response(&s, &form).unwrap()),
            json!({"ok": true})
        );
        let form = vec![("json".to_owned(), "[1]".to_owned())];
        assert!(response(&s, &form).unwrap_err().contains("JSON object"));
        assert!(fields(&s, &Map::new()).0.is_empty());
    }
}
