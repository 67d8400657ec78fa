//! Inquiries: `core.ask`, the built-in action a workflow task uses to wait
//! for a person's answer (an approval, a choice).
//!
//! Its input: `schema` (JSON Schema the response must satisfy; default an
//! object with a required boolean `approve`), `roles` (who may answer;
//! empty: anyone), `ttl` (seconds, or a duration such as `"30m"`; default
//! 24 h), optional `route` (where to announce it, for notifiers). The
//! runner stores an inquiry whose id is the task's child execution id and
//! parks the run. [`answer`] checks the responder's roles, validates an
//! answer against the schema, records it and continues the run (queued or
//! here):
//! the task succeeds with the response as its result, and the workflow
//! routes on it (`approve=false` is a denial the workflow handles).
//! Past its `ttl` the inquiry times out and the task fails with "inquiry
//! timed out after …": the workflow follows its failure routes.
//!
//! A dry run asks no one ([`dry_run_answer`]): no inquiry is stored (a
//! shadow pack cannot fill the operators' inquiry list), and the answer
//! is part of the plan. It is the answer given for the run (`drover run
//! --dry-run --answer JSON`) if it fits the schema; else the schema's
//! defaults (`default` of each property), if they fit; else `{}`, if it
//! fits; else the task ends as if the inquiry had timed out, and the
//! workflow follows the route it would take then.
//!
//! Answering is one operation for every front end: `POST
//! /api/v1/inquiries/{id}/respond`, the web UI's inquiries page and
//! `drover inquiry respond` (local; `--server` calls the API route) all
//! call [`answer`]. It lives here rather than in drover-app because an
//! answer continues a workflow and the workflow driver is drover-engine's
//! (drover-engine depends on drover-app, not the other way round).

use std::sync::Arc;
use std::time::Duration;

use drover_app::App;
use drover_core::{
    Decision, ExecStatus, Execution, ExecutionId, LogLevel, LogLine, PlannedEffect, now_ms,
};
use drover_store::{Inquiry, RespondError, Role, StoreError};
use serde_json::{Value, json};

use super::control::{self, Continue, ControlError};
use super::driver::Inflight;
use super::{Meta, Outcome};
use crate::Shared;

/// The built-in action's reference.
pub const ACTION: &str = drover_workflow::builtin::ASK;
/// How long an inquiry waits when its task gives no `ttl`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

fn default_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"approve": {"type": "boolean"}},
        "required": ["approve"]
    })
}

/// The inquiry a `core.ask` task asks, or why its input is wrong.
pub(crate) fn inquiry(meta: &Meta, inf: &Inflight) -> Result<Inquiry, String> {
    let input = match &inf.input {
        Value::Object(m) => m.clone(),
        Value::Null => Default::default(),
        other => return Err(format!("core.ask input must be an object, not {other}")),
    };
    if let Some(k) = input
        .keys()
        .find(|k| !["schema", "roles", "ttl", "route"].contains(&k.as_str()))
    {
        return Err(format!(
            "core.ask has no parameter {k:?} (it takes schema, roles, ttl, route)"
        ));
    }
    let schema = input.get("schema").cloned().unwrap_or_else(default_schema);
    if !schema.is_object() {
        return Err("core.ask `schema` must be a JSON Schema object".into());
    }
    if let Err(e) = jsonschema::validator_for(&schema) {
        return Err(format!("core.ask `schema` is not a valid JSON Schema: {e}"));
    }
    let roles = match input.get("roles") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|r| {
                r.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("core.ask `roles` must be strings, not {r}"))
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(one)) => vec![one.clone()],
        Some(other) => return Err(format!("core.ask `roles` must be a list, not {other}")),
    };
    let ttl = match input.get("ttl") {
        None | Some(Value::Null) => DEFAULT_TTL,
        Some(Value::Number(n)) => Duration::from_secs(
            n.as_u64()
                .ok_or_else(|| format!("core.ask `ttl` must be whole seconds, not {n}"))?,
        ),
        Some(Value::String(s)) => humantime::parse_duration(s)
            .map_err(|e| format!("core.ask `ttl` {s:?}: {e} (e.g. 90, \"30m\", \"2h\")"))?,
        Some(other) => return Err(format!("core.ask `ttl` must be seconds, not {other}")),
    };
    let route_to = match input.get("route") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(format!("core.ask `route` must be a string, not {other}")),
    };
    let now = now_ms();
    Ok(Inquiry {
        id: inf.child,
        run_id: meta.id,
        root: meta.root,
        action: meta.action.clone(),
        task: inf.task.clone(),
        route: inf.route,
        schema,
        roles,
        route_to,
        ttl_s: ttl.as_secs().max(1),
        created_at_ms: now,
        expires_at_ms: now + ttl.as_millis().max(1000) as i64,
        state: "pending".into(),
        response: None,
        responder: None,
        responded_at_ms: None,
    })
}

/// A dry run's `core.ask` (see the module docs): the task's child
/// execution, answered without asking anyone, its answer the plan's one
/// effect. `given`: the answer passed for the run, if any.
pub(crate) fn dry_run_answer(q: &Inquiry, given: Option<&Value>, actor: &str) -> Execution {
    let fits = |v: &Value| {
        jsonschema::validator_for(&q.schema)
            .map(|s| s.iter_errors(v).next().map(|e| e.to_string()))
            .unwrap_or_else(|e| Some(format!("its schema is unusable: {e}")))
    };
    let (status, answer, error, how) = match given {
        Some(v) => match fits(v) {
            None => (
                ExecStatus::Succeeded,
                Some(v.clone()),
                None,
                "with the answer given (--answer)".to_owned(),
            ),
            Some(problem) => (
                ExecStatus::Failed,
                None,
                Some(format!(
                    "dry run: the answer given (--answer) does not fit the inquiry's schema: {problem}"
                )),
                "not answered: the answer given does not fit the schema".to_owned(),
            ),
        },
        None => match schema_defaults(&q.schema).filter(|d| fits(d).is_none()) {
            Some(d) => (
                ExecStatus::Succeeded,
                Some(d),
                None,
                "with the schema's defaults (pass --answer to choose)".to_owned(),
            ),
            None if fits(&json!({})).is_none() => (
                ExecStatus::Succeeded,
                Some(json!({})),
                None,
                "with {} (the schema takes it; pass --answer to choose)".to_owned(),
            ),
            None => (
                ExecStatus::Timeout,
                None,
                Some(
                    "dry run: no inquiry is created and no answer was given, so it counts as \
                     timed out; pass one with `drover run ... --dry-run --answer JSON` to \
                     follow the answered path"
                        .to_owned(),
                ),
                "as timed out: no answer given and the schema has no defaults".to_owned(),
            ),
        },
    };
    let now = now_ms();
    let reason = format!("dry run: no inquiry is created; answered {how}");
    Execution {
        id: q.id,
        action: ACTION.into(),
        pack_version: String::new(),
        digest: String::new(),
        parameters: json!({"schema": q.schema, "roles": q.roles, "ttl": q.ttl_s, "route": q.route_to}),
        status,
        result: answer.clone(),
        error,
        dry_run: true,
        plan: Some(vec![PlannedEffect {
            seq: 1,
            action: ACTION.into(),
            capability: "inquiry".into(),
            operation: "answer".into(),
            target: answer
                .as_ref()
                .map_or_else(|| "none".to_owned(), Value::to_string),
            decision: Decision::Allowed,
            reason: reason.clone(),
            gate: None,
            simulated_result: answer.unwrap_or_else(|| json!({"timed_out": true})),
            request: None,
            task: None,
            route: None,
        }]),
        logs: vec![LogLine {
            at_ms: 0,
            level: LogLevel::Info,
            message: reason,
        }],
        actor: actor.to_owned(),
        started_at_ms: now,
        finished_at_ms: now,
        duration_us: 0,
    }
}

/// The `default` of each property of an object schema, as an object;
/// `None` when no property has one.
fn schema_defaults(schema: &Value) -> Option<Value> {
    let props = schema.get("properties")?.as_object()?;
    let defaults: serde_json::Map<String, Value> = props
        .iter()
        .filter_map(|(k, p)| Some((k.clone(), p.get("default")?.clone())))
        .collect();
    (!defaults.is_empty()).then_some(Value::Object(defaults))
}

/// Where a waiting ask stands.
pub(crate) enum AskCheck {
    Pending,
    /// Answered, timed out or canceled: the ask task's child execution.
    Ended(Box<Execution>),
}

/// Reads inquiry `id` (timing it out if its deadline passed).
pub(crate) fn check(app: &App, id: ExecutionId) -> Result<AskCheck, StoreError> {
    let store = app.store();
    let Some(mut q) = store.get_inquiry(id)? else {
        return Err(StoreError::Corrupt(format!(
            "inquiry {id} of a waiting ask task is missing"
        )));
    };
    if q.state == "pending" {
        if q.expires_at_ms > now_ms() {
            return Ok(AskCheck::Pending);
        }
        store.close_inquiry(id, "timed_out")?;
        q = store.get_inquiry(id)?.unwrap_or(q);
    }
    let finished = q.responded_at_ms.unwrap_or_else(now_ms);
    let (status, result, error) = match q.state.as_str() {
        "responded" => (ExecStatus::Succeeded, q.response.clone(), None),
        "timed_out" => (
            ExecStatus::Timeout,
            None,
            Some(format!(
                "inquiry timed out after {} with no response",
                humantime::format_duration(Duration::from_secs(q.ttl_s))
            )),
        ),
        _ => (
            ExecStatus::Canceled,
            None,
            Some("inquiry canceled with its workflow".to_owned()),
        ),
    };
    Ok(AskCheck::Ended(Box::new(Execution {
        id,
        action: ACTION.into(),
        pack_version: String::new(),
        digest: String::new(),
        parameters: json!({"schema": q.schema, "roles": q.roles, "ttl": q.ttl_s, "route": q.route_to}),
        status,
        result,
        error,
        dry_run: false,
        plan: None,
        logs: Vec::new(),
        actor: q.responder.clone().unwrap_or_default(),
        started_at_ms: q.created_at_ms,
        finished_at_ms: finished,
        duration_us: ((finished - q.created_at_ms).max(0) as u64) * 1000,
    })))
}

/// Ends a pending inquiry because its workflow is canceled.
pub(crate) fn cancel(app: &App, id: ExecutionId) -> Result<(), StoreError> {
    app.store().close_inquiry(id, "canceled")
}

/// Why a response was refused.
#[derive(Debug, thiserror::Error)]
pub enum InquiryError {
    #[error(transparent)]
    Respond(#[from] RespondError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "inquiry {id} may be answered by {} only; you answered as {} (pass the role with --as ROLE)",
        roles.join(", "),
        if given.is_empty() { "no role".to_owned() } else { given.join(", ") }
    )]
    Role {
        id: ExecutionId,
        roles: Vec<String>,
        given: Vec<String>,
    },
    #[error("inquiry {id}: the response does not match its schema: {problem}")]
    Invalid { id: ExecutionId, problem: String },
    #[error(transparent)]
    Control(Box<ControlError>),
}

impl InquiryError {
    /// The message for a signed-in principal of `role` (the API, the web
    /// UI): a refused role says how to get one rather than `--as`.
    pub fn for_role(&self, role: Role) -> String {
        match self {
            InquiryError::Role { id, roles, given } => format!(
                "inquiry {id} may be answered by {} only; the {role} role answers as {}: \
                 log in or use a token with one of those roles",
                roles.join(", "),
                given.join(", ")
            ),
            other => other.to_string(),
        }
    }
}

impl From<ControlError> for InquiryError {
    fn from(e: ControlError) -> Self {
        InquiryError::Control(Box::new(e))
    }
}

/// Who answers an inquiry: the actor recorded with the answer and the
/// role names they answer as.
#[derive(Clone, Debug)]
pub struct Responder {
    pub actor: String,
    pub roles: Vec<String>,
}

impl Responder {
    /// A signed-in principal (the API, the web UI): it answers as its role
    /// and those below it (an admin may answer what an operator may).
    pub fn with_role(actor: impl Into<String>, role: Role) -> Responder {
        Responder {
            actor: actor.into(),
            roles: role_names(role),
        }
    }

    /// The local CLI: the roles named with `--as` (it has the database
    /// file, so it is trusted to say who it answers as).
    pub fn with_roles(actor: impl Into<String>, roles: Vec<String>) -> Responder {
        Responder {
            actor: actor.into(),
            roles,
        }
    }

    /// Whether they may answer an inquiry that names `roles` (none:
    /// anyone).
    pub fn may_answer(&self, roles: &[String]) -> bool {
        roles.is_empty() || self.roles.iter().any(|r| roles.contains(r))
    }
}

/// The role names `role` answers as: itself and those below it.
pub fn role_names(role: Role) -> Vec<String> {
    Role::ALL
        .iter()
        .filter(|r| **r <= role)
        .map(|r| r.as_str().to_owned())
        .collect()
}

/// What an answer did.
#[derive(Debug)]
pub struct Answered {
    /// The inquiry, answered.
    pub inquiry: Inquiry,
    /// With [`Continue::Foreground`], the run's outcome here; `None` when
    /// queued, or when another process drives the run (it takes the
    /// answer itself).
    pub outcome: Option<Outcome>,
}

/// Answers inquiry `id`: checks that `who` may (the inquiry's roles) and
/// that `response` fits its schema, records it with `who`'s actor, then
/// continues the waiting workflow as `how` says: queued for `drover
/// serve` ([`Continue::Queue`]: the API, the web UI, `drover inquiry
/// respond --queue`) or here ([`Continue::Foreground`]: `drover inquiry
/// respond`). Nothing is recorded when a check fails.
pub fn answer(
    app: &App,
    id: ExecutionId,
    response: Value,
    who: &Responder,
    how: Continue,
) -> Result<Answered, InquiryError> {
    let queue = how == Continue::Queue;
    let inquiry = record(app, id, response, who, queue)?;
    let outcome = if queue {
        None
    } else {
        control::continue_run(app, inquiry.root, Continue::Foreground)?
    };
    Ok(Answered { inquiry, outcome })
}

fn record(
    app: &App,
    id: ExecutionId,
    response: Value,
    who: &Responder,
    queue: bool,
) -> Result<Inquiry, InquiryError> {
    let store = app.store();
    // An inquiry past its deadline times out (and its run is queued) first.
    store.expire_inquiries(now_ms())?;
    let Some(q) = store.get_inquiry(id)? else {
        return Err(RespondError::Unknown(id).into());
    };
    if q.state != "pending" {
        return Err(RespondError::NotPending { id, state: q.state }.into());
    }
    if !who.may_answer(&q.roles) {
        return Err(InquiryError::Role {
            id,
            roles: q.roles,
            given: who.roles.clone(),
        });
    }
    let validator = jsonschema::validator_for(&q.schema).map_err(|e| InquiryError::Invalid {
        id,
        problem: format!("its schema is unusable: {e}"),
    })?;
    if let Some(err) = validator.iter_errors(&response).next() {
        let path = err.instance_path().as_str().to_owned();
        let problem = if path.is_empty() {
            err.to_string()
        } else {
            format!(
                "field {:?}: {err}",
                path.trim_start_matches('/').replace('/', ".")
            )
        };
        return Err(InquiryError::Invalid { id, problem });
    }
    Ok(store.respond_inquiry(id, response, who.actor.clone(), queue)?)
}

/// Under `drover serve`: times out inquiries past their deadline (their
/// runs are queued and their tasks fail) and queues runs parked for a
/// delay that is over, once a second.
pub(crate) fn spawn_expiry(shared: Arc<Shared>) -> std::thread::JoinHandle<()> {
    shared
        .clone()
        .spawn("drover-inquiries".into(), move || {
            while !shared.stopping() {
                match shared.app.store().expire_inquiries(now_ms()) {
                    Ok(expired) if !expired.is_empty() => {
                        for q in &expired {
                            tracing::info!(inquiry = %q.id, run = %q.root, "inquiry timed out");
                        }
                        shared.requests_waiting.notify();
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "cannot expire inquiries"),
                }
                // Runs parked for a delay that is over go back in the queue.
                match shared.app.store().wake_delayed(now_ms()) {
                    Ok(woken) if !woken.is_empty() => shared.requests_waiting.notify(),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "cannot wake delayed workflow runs"),
                }
                shared.stop.sleep(Duration::from_secs(1));
            }
        })
        .expect("spawn the inquiry expiry thread")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn inquiry(schema: Value) -> Inquiry {
        Inquiry {
            id: ExecutionId::new(),
            run_id: ExecutionId::new(),
            root: ExecutionId::new(),
            action: "x.wf".into(),
            task: "approve".into(),
            route: 0,
            schema,
            roles: Vec::new(),
            route_to: None,
            ttl_s: 60,
            created_at_ms: 0,
            expires_at_ms: 60_000,
            state: "pending".into(),
            response: None,
            responder: None,
            responded_at_ms: None,
        }
    }

    /// An app over a scratch database, with a pending inquiry `q` stored.
    fn app_with(q: &Inquiry) -> (tempfile::TempDir, App) {
        let dir = tempfile::tempdir().unwrap();
        let store = drover_store::Store::open(&dir.path().join("drover.db")).unwrap();
        let app = App::with_defaults(store, &dir.path().join("cache")).unwrap();
        let state = drover_store::StateWrite {
            head: "{}".into(),
            parts: Vec::new(),
            replace: false,
        };
        app.store()
            .workflow_ask(q.run_id, state, Value::Null, q.clone())
            .unwrap();
        (dir, app)
    }

    #[test]
    fn responders_answer_as_their_role_and_those_below_it() {
        assert_eq!(role_names(Role::Viewer), ["viewer"]);
        assert_eq!(role_names(Role::Admin), ["viewer", "operator", "admin"]);
        let operator = Responder::with_role("user:o", Role::Operator);
        assert!(operator.may_answer(&[]), "no roles named: anyone");
        assert!(operator.may_answer(&["operator".into()]));
        assert!(!operator.may_answer(&["admin".into()]));
        let cli = Responder::with_roles("user:c", vec!["oncall".into()]);
        assert!(cli.may_answer(&["oncall".into(), "admin".into()]));
        assert!(!cli.may_answer(&["admin".into()]));
    }

    #[test]
    fn refused_answers_store_nothing() {
        let mut q = inquiry(default_schema());
        q.roles = vec!["admin".into()];
        q.expires_at_ms = now_ms() + 60_000;
        let (_dir, app) = app_with(&q);
        let operator = Responder::with_role("user:o", Role::Operator);
        let admin = Responder::with_role("user:a", Role::Admin);

        let err = answer(
            &app,
            q.id,
            json!({"approve": true}),
            &operator,
            Continue::Queue,
        )
        .unwrap_err();
        assert!(matches!(err, InquiryError::Role { .. }), "{err}");
        assert!(
            err.for_role(Role::Operator)
                .contains("the operator role answers as")
        );
        let err = answer(
            &app,
            q.id,
            json!({"approve": "yes"}),
            &admin,
            Continue::Queue,
        )
        .unwrap_err();
        assert!(
            matches!(&err, InquiryError::Invalid { problem, .. } if problem.contains("approve")),
            "{err}"
        );
        let unknown = ExecutionId::new();
        assert!(matches!(
            answer(
                &app,
                unknown,
                json!({"approve": true}),
                &admin,
                Continue::Queue
            ),
            Err(InquiryError::Respond(RespondError::Unknown(_)))
        ));
        let stored = app.store().get_inquiry(q.id).unwrap().unwrap();
        assert_eq!(stored.state, "pending", "nothing recorded");
        assert_eq!(stored.response, None);

        let done = answer(
            &app,
            q.id,
            json!({"approve": true}),
            &admin,
            Continue::Queue,
        )
        .unwrap();
        assert_eq!(done.inquiry.state, "responded");
        assert_eq!(done.inquiry.responder.as_deref(), Some("user:a"));
        assert!(done.outcome.is_none(), "queued, not driven here");
        assert!(matches!(
            answer(
                &app,
                q.id,
                json!({"approve": false}),
                &admin,
                Continue::Queue
            ),
            Err(InquiryError::Respond(RespondError::NotPending { .. }))
        ));
    }

    #[test]
    fn dry_run_answers_are_given_then_defaults_then_empty_then_timeout() {
        let q = inquiry(default_schema());
        let given = dry_run_answer(&q, Some(&json!({"approve": true})), "t");
        assert_eq!(given.status, ExecStatus::Succeeded);
        assert_eq!(given.result, Some(json!({"approve": true})));
        assert!(given.dry_run);
        assert_eq!(given.plan.as_ref().unwrap()[0].capability, "inquiry");
        let bad = dry_run_answer(&q, Some(&json!({"approve": "yes"})), "t");
        assert_eq!(bad.status, ExecStatus::Failed);
        assert!(bad.error.unwrap().contains("does not fit"));
        let none = dry_run_answer(&q, None, "t");
        assert_eq!(none.status, ExecStatus::Timeout);
        assert!(none.error.unwrap().contains("--answer"));

        let with_default = inquiry(json!({
            "type": "object",
            "properties": {"approve": {"type": "boolean", "default": false}},
            "required": ["approve"]
        }));
        let d = dry_run_answer(&with_default, None, "t");
        assert_eq!(d.result, Some(json!({"approve": false})));
        let open = inquiry(json!({"type": "object"}));
        assert_eq!(dry_run_answer(&open, None, "t").result, Some(json!({})));
    }
}
