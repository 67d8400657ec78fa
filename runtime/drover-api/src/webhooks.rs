//! `POST /api/v1/webhooks/<pack.trigger>`: a trigger instance from outside.
//!
//! What can be decided without the body is decided before it is read, in
//! this order:
//!
//! 1. intake must have room (429 with `Retry-After`, decided on arrival:
//!    requests being checked count toward `--max-in-flight` too, so
//!    overload never queues without bound);
//! 2. a `Content-Length` over [`crate::MAX_WEBHOOK_BODY`] is 413;
//! 3. an `X-Drover-Timestamp` must be unix seconds within
//!    ±[`TIMESTAMP_WINDOW_SECS`] of the server's clock (401);
//! 4. the sender must bring the credential its webhook takes (401): a
//!    token (`X-Drover-Token`) is checked now; a signature
//!    (`X-Drover-Signature: sha256=<hex HMAC-SHA256>`) after the body is
//!    read (at most 1 MiB, within `drover serve --body-timeout`: 413,
//!    408). The signed string is `"<timestamp>.<body>"` when the request
//!    has `X-Drover-Timestamp`, else the body alone (replayable; refused
//!    for webhooks with `require_timestamp: true`);
//! 5. a timestamped signature is accepted once: a replay within the
//!    window is 409 (`webhook_signatures`, durable across restarts);
//! 6. the body must be JSON whose declared fields fit the payload schema
//!    (400 naming the field). The answer, 202 with the instance id, is
//!    sent only after the instance is durably stored.
//!
//! A name that is no webhook (no such trigger type, or one without
//! `webhook:`) is answered exactly as a webhook is answered a request
//! without valid credentials: the same 401 and body, after the same work
//! (a secret lookup, the HMAC of the body when a signature is given), so
//! webhook names cannot be probed anonymously.
//!
//! A name that is not a trigger type may be a sensor's webhook
//! subscription (`subscriptions: [{webhook: NAME, hmac_secret: …}]` in
//! pack.yaml): the same checks, then the body is queued for the sensor's
//! `on-message` (202 once queued, 429 while its queue is full).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use drover_engine::IntakeError;
use drover_engine::sensors::{DeliveryError, SensorWebhook};
use drover_pack::WebhookAuth;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::server::BodyTimeout;
use crate::{ApiError, AppState, MAX_WEBHOOK_BODY};

pub const SIGNATURE_HEADER: &str = "x-drover-signature";
pub const TOKEN_HEADER: &str = "x-drover-token";
pub const TIMESTAMP_HEADER: &str = "x-drover-timestamp";
/// How far (seconds) a signed timestamp may be from the server's clock.
pub const TIMESTAMP_WINDOW_SECS: i64 = 300;

/// The one answer to a request without valid credentials, whichever
/// check failed and whether or not the webhook exists.
const REFUSED: &str = "webhook authentication failed: sign the request with the webhook's secret \
     (x-drover-signature: sha256=HEX, the HMAC-SHA256 of \"TIMESTAMP.BODY\" with \
     x-drover-timestamp: TIMESTAMP in unix seconds) or send its token (x-drover-token)";

pub async fn receive(
    State(state): State<AppState>,
    Path(trigger): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // Bounded before anything waits: past the intake limit, 429 at once.
    // The place is held until the answer.
    let _admission = state.intake.admit().map_err(intake_error)?;
    check_length(&headers)?;
    let now = jiff::Timestamp::now().as_second();
    let stamp = timestamp(&headers, now)?;
    let target = Target::of(&state, &trigger);
    let signature = header_str(&headers, SIGNATURE_HEADER);
    let token = header_str(&headers, TOKEN_HEADER);
    match (target.auth(), signature, token) {
        (
            Some(WebhookAuth::Hmac {
                secret,
                require_timestamp,
            }),
            Some(given),
            _,
        ) => {
            let require_timestamp = *require_timestamp;
            let body = read_body(body).await?;
            let (key, given, name) = (secret.clone(), given.to_owned(), trigger.clone());
            let stamp_text = header_str(&headers, TIMESTAMP_HEADER).map(str::to_owned);
            let (mac, body) = blocking_store(&state, move |state| {
                let key = secret_value(state, &key)?.ok_or_else(|| refused(&name, "no secret"))?;
                let mac = verify_signature_at(key.as_bytes(), stamp_text.as_deref(), &body, &given)
                    .ok_or_else(|| refused(&name, "bad signature"))?;
                Ok((mac, body))
            })
            .await?;
            match stamp {
                None if require_timestamp => {
                    return Err(ApiError::Unauthorized(format!(
                        "this webhook requires {TIMESTAMP_HEADER}: send the current unix time \
                         in it and sign \"TIMESTAMP.BODY\" (a signature of the body alone can \
                         be replayed)"
                    )));
                }
                None => {}
                Some(ts) => first_use(&state, &trigger, &mac, now, ts).await?,
            }
            deliver(&state, target, &trigger, body).await
        }
        (Some(WebhookAuth::Token { secret }), _, Some(given)) => {
            let (key, given, name) = (secret.clone(), given.to_owned(), trigger.clone());
            blocking_store(&state, move |state| {
                let key = secret_value(state, &key)?.ok_or_else(|| refused(&name, "no secret"))?;
                if constant_time_eq(key.as_bytes(), given.as_bytes()) {
                    Ok(())
                } else {
                    Err(refused(&name, "bad token"))
                }
            })
            .await?;
            let body = read_body(body).await?;
            deliver(&state, target, &trigger, body).await
        }
        // No such webhook, or the other kind of credential: the same work
        // as a real check, then the same refusal.
        (_, Some(given), _) => {
            let body = read_body(body).await?;
            let given = given.to_owned();
            blocking_store(&state, move |state| {
                let _ = state.store().secret_get("\u{0}");
                let _ = verify_signature_at(b"\0", None, &body, &given);
                Ok(())
            })
            .await?;
            Err(refused(
                &trigger,
                "no webhook of this name takes a signature",
            ))
        }
        (_, None, Some(_)) => {
            blocking_store(&state, move |state| {
                let _ = state.store().secret_get("\u{0}");
                Ok(())
            })
            .await?;
            Err(refused(&trigger, "no webhook of this name takes a token"))
        }
        (_, None, None) => Err(refused(&trigger, "no credentials")),
    }
}

/// The refusal of a request without valid credentials (the reason is
/// logged, not told).
fn refused(webhook: &str, why: &str) -> ApiError {
    tracing::debug!(%webhook, reason = why, "webhook request refused");
    ApiError::Unauthorized(REFUSED.into())
}

/// Where a webhook name leads.
enum Target {
    Trigger(WebhookAuth),
    Sensor(SensorWebhook),
    None,
}

impl Target {
    fn of(state: &AppState, name: &str) -> Target {
        match state.intake.trigger_type(name) {
            Some(declared) => declared.webhook.map_or(Target::None, Target::Trigger),
            None => state
                .intake
                .sensor_webhook(name)
                .map_or(Target::None, Target::Sensor),
        }
    }

    fn auth(&self) -> Option<&WebhookAuth> {
        match self {
            Target::Trigger(auth) => Some(auth),
            Target::Sensor(hook) => Some(&hook.auth),
            Target::None => None,
        }
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// 413 on a declared length over the limit, before reading a byte of it.
fn check_length(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = header_str(headers, header::CONTENT_LENGTH.as_str())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(len) if len > MAX_WEBHOOK_BODY as u64 => Err(too_large(Some(len))),
        _ => Ok(()),
    }
}

fn too_large(len: Option<u64>) -> ApiError {
    ApiError::TooLarge(format!(
        "the body is {} bytes; a webhook body may have at most {MAX_WEBHOOK_BODY}",
        len.map_or_else(|| "more than that".to_owned(), |n| n.to_string())
    ))
}

/// The request's `X-Drover-Timestamp`, if any, checked against the window.
fn timestamp(headers: &HeaderMap, now: i64) -> Result<Option<i64>, ApiError> {
    let Some(raw) = headers.get(TIMESTAMP_HEADER) else {
        return Ok(None);
    };
    let ts = raw
        .to_str()
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| {
            ApiError::Unauthorized(format!(
                "{TIMESTAMP_HEADER} must be the unix time in seconds (digits only, e.g. the \
                 output of `date +%s`)"
            ))
        })?;
    let skew = now - ts;
    if skew.abs() > TIMESTAMP_WINDOW_SECS {
        return Err(ApiError::Unauthorized(format!(
            "{TIMESTAMP_HEADER} {ts} is {} s {} the server's clock; signed requests are accepted \
             within ±{TIMESTAMP_WINDOW_SECS} s of it: sign each request when it is sent, and keep \
             the sender's clock in sync (NTP)",
            skew.abs(),
            if skew > 0 { "behind" } else { "ahead of" }
        )));
    }
    Ok(Some(ts))
}

/// The body, at most [`MAX_WEBHOOK_BODY`] bytes, within the connection's
/// body deadline.
async fn read_body(mut body: Body) -> Result<Bytes, ApiError> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            if BodyTimeout::caused(&e) {
                ApiError::Timeout(format!("{e}; send the whole body at once"))
            } else {
                ApiError::BadRequest(format!("cannot read the body: {e}"))
            }
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_WEBHOOK_BODY {
                return Err(too_large(None));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.into())
}

/// Runs store work on the blocking pool.
async fn blocking_store<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state)).await?
}

/// A webhook secret's value; `None` (logged for the operator) when unset.
fn secret_value(state: &AppState, name: &str) -> Result<Option<String>, ApiError> {
    let value = state.store().secret_get(name)?;
    if value.is_none() {
        tracing::error!(
            secret = %name,
            "webhook secret is not set: refusing every request; set it with `drover secret set {name}`"
        );
    }
    Ok(value)
}

/// 409 unless this timestamped signature is new for this webhook.
async fn first_use(
    state: &AppState,
    webhook: &str,
    mac: &[u8],
    now: i64,
    ts: i64,
) -> Result<(), ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    state.store().remember_webhook_signature(
        webhook,
        &hex::encode(mac),
        now,
        ts + TIMESTAMP_WINDOW_SECS,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    )?;
    let new = rx
        .await
        .map_err(|_| ApiError::Internal("the database writer stopped".into()))??;
    if new {
        Ok(())
    } else {
        tracing::warn!(%webhook, "refused a replayed webhook request (same timestamped signature)");
        Err(ApiError::Conflict(format!(
            "this signed request was already received: a replay is refused; sign each request \
             anew, with the current time in {TIMESTAMP_HEADER}"
        )))
    }
}

/// An authenticated body: a trigger instance (202 once durable) or a
/// message for a sensor (202 once queued).
async fn deliver(
    state: &AppState,
    target: Target,
    trigger: &str,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let hook = match target {
        Target::Trigger(_) => None,
        Target::Sensor(hook) => Some(hook),
        Target::None => return Err(ApiError::Unauthorized(REFUSED.into())),
    };
    let name = trigger.to_owned();
    let received = blocking_store(state, move |state| match hook {
        Some(hook) => to_sensor(&hook, &body).map(Received::Sensor),
        None => {
            let payload: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
            let (tx, rx) = tokio::sync::oneshot::channel();
            state
                .intake
                .accept_then(&name, payload, "webhook", move |stored| {
                    let _ = tx.send(stored);
                })
                .map_err(intake_error)?;
            Ok(Received::Trigger(rx))
        }
    })
    .await?;
    let stored = match received {
        Received::Trigger(stored) => stored,
        Received::Sensor(answer) => return Ok(answer),
    };
    // The wait for the durable commit holds no thread: the database
    // writer completes `stored` after its fsync.
    let id = stored
        .await
        .map_err(|_| ApiError::Internal("the database writer stopped".into()))?
        .map_err(intake_error)?;
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

/// A sensor's webhook subscription: the body (JSON, or else a JSON string,
/// as for NATS) goes to the sensor's `on-message`. 202 once it is queued
/// for the sensor; 429 with `Retry-After` while the queue is full.
fn to_sensor(hook: &SensorWebhook, body: &[u8]) -> Result<(StatusCode, Json<Value>), ApiError> {
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

/// The MAC a `sha256=<hex>` header claims, when it is the HMAC-SHA256 of
/// `"<timestamp>.<body>"` (or of the body alone without a timestamp),
/// compared in constant time. The MAC, decoded, identifies the request
/// for replay checks (hex case and spacing cannot make a replay look new).
pub fn verify_signature_at(
    key: &[u8],
    timestamp: Option<&str>,
    body: &[u8],
    header: &str,
) -> Option<Vec<u8>> {
    let sig = hex::decode(header.trim().strip_prefix("sha256=")?).ok()?;
    mac(key, timestamp, body).verify_slice(&sig).ok()?;
    Some(sig)
}

/// Checks `sha256=<hex>` against the body's HMAC-SHA256 (no timestamp).
pub fn verify_signature(key: &[u8], body: &[u8], header: &str) -> bool {
    verify_signature_at(key, None, body, header).is_some()
}

fn mac(key: &[u8], timestamp: Option<&str>, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    if let Some(ts) = timestamp {
        mac.update(ts.as_bytes());
        mac.update(b".");
    }
    mac.update(body);
    mac
}

/// `sha256=<hex>` for a body alone: the legacy signature, replayable.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(key, None, body).finalize().into_bytes())
    )
}

/// `sha256=<hex>` of `"<timestamp>.<body>"`: what a sender puts in
/// `X-Drover-Signature` along with `X-Drover-Timestamp: <timestamp>`.
pub fn sign_at(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    format!(
        "sha256={}",
        hex::encode(mac(key, Some(&ts), body).finalize().into_bytes())
    )
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
    fn timestamped_signatures_cover_the_timestamp() {
        let body = b"{\"a\":1}";
        let sig = sign_at(b"k", 1_700_000_000, body);
        // The documented string: HMAC of "1700000000.{body}".
        let mut expected = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        expected.update(b"1700000000.{\"a\":1}");
        assert_eq!(
            sig,
            format!("sha256={}", hex::encode(expected.finalize().into_bytes()))
        );
        assert!(verify_signature_at(b"k", Some("1700000000"), body, &sig).is_some());
        assert!(verify_signature_at(b"k", Some("1700000001"), body, &sig).is_none());
        assert!(verify_signature_at(b"k", None, body, &sig).is_none());
        // Upper-case hex is the same MAC, so the same replay key.
        let upper = format!("sha256={}", sig["sha256=".len()..].to_uppercase());
        assert_eq!(
            verify_signature_at(b"k", Some("1700000000"), body, &upper),
            verify_signature_at(b"k", Some("1700000000"), body, &sig)
        );
    }

    #[test]
    fn timestamps_outside_the_window_are_refused() {
        let at = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(TIMESTAMP_HEADER, v.parse().unwrap());
            timestamp(&h, 10_000)
        };
        assert_eq!(at("10000").unwrap(), Some(10_000));
        assert_eq!(at("9700").unwrap(), Some(9_700));
        let old = at("9699").unwrap_err().to_string();
        assert!(old.contains("301 s behind"), "{old}");
        assert!(at("10301").unwrap_err().to_string().contains("ahead of"));
        for bad in ["", "-5", "1e4", "10000.5", " 10000", "9999999999999"] {
            assert!(at(bad).is_err(), "{bad:?}");
        }
        assert_eq!(timestamp(&HeaderMap::new(), 10_000).unwrap(), None);
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
