//! `POST /api/v1/webhooks/<pack.trigger>`: a trigger instance from outside.
//!
//! In order: intake must have room (429 with `Retry-After`, decided on
//! arrival, before the request waits for a thread: requests waiting count
//! toward `--max-in-flight` too, so overload never queues without bound);
//! the trigger type must exist and accept webhooks (404); the sender must
//! authenticate with the type's secret, before the body is looked at
//! (401): `X-Drover-Signature: sha256=<hex HMAC-SHA256 of the raw body>`
//! or `X-Drover-Token: <token>`; the body must be JSON whose declared
//! fields fit the payload schema (400 naming the field). The answer, 202
//! with the instance id, is sent only after the instance is durably stored.
//!
//! A name that is not a trigger type may be a sensor's webhook
//! subscription (`subscriptions: [{webhook: NAME, hmac_secret: …}]` in
//! pack.yaml): the same authentication, then the body is queued for the
//! sensor's `on-message` (202 once queued, 429 while its queue is full).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use drover_engine::IntakeError;
use drover_engine::sensors::{DeliveryError, SensorWebhook};
use drover_pack::WebhookAuth;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{ApiError, AppState};

pub const SIGNATURE_HEADER: &str = "x-drover-signature";
pub const TOKEN_HEADER: &str = "x-drover-token";

pub async fn receive(
    State(state): State<AppState>,
    Path(trigger): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // Bounded before anything waits: past the intake limit, 429 at once.
    let admission = state.intake.admit().map_err(intake_error)?;
    // The checks read the store (secrets), so they run on the blocking
    // pool; the wait for the durable commit then holds no thread: the
    // database writer completes `stored` after its fsync.
    let checked = {
        let (state, trigger) = (state.clone(), trigger.clone());
        tokio::task::spawn_blocking(move || accept(&state, &trigger, &headers, &body))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??
    };
    let stored = match checked {
        Received::Trigger(stored) => stored,
        Received::Sensor(answer) => return Ok(answer),
    };
    let id = stored
        .await
        .map_err(|_| ApiError::Internal("the database writer stopped".into()))?
        .map_err(intake_error)?;
    drop(admission);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "trigger": trigger})),
    ))
}

/// What became of a request that passed the checks.
enum Received {
    /// A trigger instance being stored: its id once durable.
    Trigger(tokio::sync::oneshot::Receiver<Result<String, IntakeError>>),
    /// A message queued for a sensor: the answer.
    Sensor((StatusCode, Json<Value>)),
}

fn accept(
    state: &AppState,
    trigger: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Received, ApiError> {
    let not_found = || {
        ApiError::NotFound(format!(
            "no trigger type {trigger:?} accepts webhooks; declare `webhook:` under its pack's \
             triggers and install the pack"
        ))
    };
    let Some(declared) = state.intake.trigger_type(trigger) else {
        return match state.intake.sensor_webhook(trigger) {
            Some(hook) => to_sensor(state, &hook, headers, body).map(Received::Sensor),
            None => Err(not_found()),
        };
    };
    let auth = declared.webhook.ok_or_else(not_found)?;
    authenticate(state, &auth, headers, body)?;
    let payload: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    state
        .intake
        .accept_then(trigger, payload, "webhook", move |stored| {
            let _ = tx.send(stored);
        })
        .map_err(intake_error)?;
    Ok(Received::Trigger(rx))
}

/// A sensor's webhook subscription: the body (JSON, or else a JSON string,
/// as for NATS) goes to the sensor's `on-message`. 202 once it is queued
/// for the sensor; 429 with `Retry-After` while the queue is full.
fn to_sensor(
    state: &AppState,
    hook: &SensorWebhook,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, Json<Value>), ApiError> {
    authenticate(state, &hook.auth, headers, body)?;
    let payload = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    hook.deliver(payload).map_err(|e| match e {
        DeliveryError::Full(_) => ApiError::Busy(e.to_string(), 1),
        DeliveryError::Stopped(_) => ApiError::Internal(e.to_string()),
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"sensor": hook.sensor, "queued": true})),
    ))
}

fn intake_error(e: IntakeError) -> ApiError {
    match e {
        IntakeError::UnknownTrigger(_) => ApiError::NotFound(e.to_string()),
        IntakeError::InvalidPayload { .. } => ApiError::BadRequest(e.to_string()),
        IntakeError::Busy(_) => ApiError::Busy(e.to_string(), 1),
        IntakeError::Store(e) => ApiError::Internal(e.to_string()),
    }
}

fn authenticate(
    state: &AppState,
    auth: &WebhookAuth,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let (secret_name, header) = match auth {
        WebhookAuth::Hmac { secret } => (secret, SIGNATURE_HEADER),
        WebhookAuth::Token { secret } => (secret, TOKEN_HEADER),
    };
    let unauthorized = |why: &str| ApiError::Unauthorized(format!("{why} (header {header})"));
    let given = headers
        .get(header)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("missing credentials"))?;
    let secret = match state.store.secret_get(secret_name) {
        Ok(Some(s)) => s,
        Ok(None) => {
            tracing::error!(
                secret = %secret_name,
                "webhook secret is not set: refusing every request; set it with `drover secret set {secret_name}`"
            );
            return Err(unauthorized("the webhook is not configured"));
        }
        Err(e) => return Err(ApiError::Internal(e.to_string())),
    };
    let ok = match auth {
        WebhookAuth::Hmac { .. } => verify_signature(secret.as_bytes(), body, given),
        WebhookAuth::Token { .. } => constant_time_eq(secret.as_bytes(), given.as_bytes()),
    };
    if ok {
        Ok(())
    } else {
        Err(unauthorized("bad credentials"))
    }
}

/// Checks `sha256=<hex>` against the body's HMAC-SHA256, in constant time.
pub fn verify_signature(key: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// `sha256=<hex>` for a body: what a sender puts in the signature header.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_the_same_key_and_body() {
        let sig = sign(b"k", b"{\"a\":1}");
        assert!(verify_signature(b"k", b"{\"a\":1}", &sig));
        assert!(!verify_signature(b"k", b"{\"a\":2}", &sig));
        assert!(!verify_signature(b"other", b"{\"a\":1}", &sig));
        assert!(!verify_signature(b"k", b"{\"a\":1}", "sha256=zz"));
        assert!(!verify_signature(
            b"k",
            b"{\"a\":1}",
            &sig.replace("sha256=", "")
        ));
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
