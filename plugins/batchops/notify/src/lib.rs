//! `batchops.alarm` and `batchops.open_ticket`: POST an event about a node
//! to an HTTP endpoint (an alert manager, a ticket system) as JSON
//! `{"kind", "node", "summary", "details", "source"}` and return
//! `{"status", "response"}`.
//!
//! One component serves both plugins; `kind` tells the receiver which. A
//! non-2xx answer fails the action with the status and the start of the
//! body, so the workflow's own failure routes see it.

use drover_sdk::prelude::*;

#[derive(serde::Deserialize)]
struct Input {
    url: String,
    kind: String,
    node: String,
    summary: String,
    #[serde(default)]
    details: Value,
}

/// How much of an error body goes into the failure message.
const BODY_EXCERPT: usize = 200;

fn run(input: Input, _ctx: &Context) -> Result<Value, Error> {
    let event = json!({
        "kind": input.kind,
        "node": input.node,
        "summary": input.summary,
        "details": input.details,
        "source": "drover batchops",
    });
    let response = http::send(http::Request::new("POST", &input.url).json(&event)?)?;
    let text = response.text();
    if !response.is_success() {
        let excerpt: String = text.chars().take(BODY_EXCERPT).collect();
        return Err(Error::failed(format!(
            "{} {} answered {}: {excerpt}",
            input.kind, input.url, response.status
        )));
    }
    let body = drover_sdk::serde_json::from_str::<Value>(&text)
        .unwrap_or_else(|_| Value::String(text.into_owned()));
    log::info(&format!(
        "{} for {} sent to {}",
        input.kind, input.node, input.url
    ));
    Ok(json!({"status": response.status, "response": body}))
}

drover_sdk::export_action!(run);
