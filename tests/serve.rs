//! End-to-end tests of `drover serve`: the real binary on 127.0.0.1 with an
//! ephemeral port, real HTTP, its own database per test. Webhooks go in,
//! rules fire, Wasm actions run and their executions are read back through
//! the CLI (`drover trigger list`, `drover exec list|get`).
//!
//! Every wait is a poll with a deadline; every server is killed when its
//! guard drops, even when the test panics.

mod support;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drover_core::{ExecutionId, ExecutionRequest};
use serde_json::{Value, json};
use support::server::*;
use support::*;

// ------------------------------------------------------------------ tests

#[test]
fn signed_webhook_runs_the_rule_action_and_stores_the_result() {
    let d = events_drover();
    let server = Server::start(&d);
    let id = post_signed(&server, br#"{"node":"b7s01","message":"hi"}"#).accepted_id();

    let t = processed(&d, &server, &id);
    assert_eq!(t["trigger_type"], "events.ping");
    assert_eq!(t["source"], "webhook");
    assert_eq!(t["payload"], json!({"node": "b7s01", "message": "hi"}));
    let exec_id = one_scheduled_echo(&t);

    let exec = execution(&d, &server, &exec_id);
    assert_eq!(exec["id"], exec_id.as_str());
    assert_eq!(exec["action"], "core.echo", "{exec:#}");
    assert_eq!(exec["status"], "succeeded", "{exec:#}");
    assert_eq!(exec["result"], json!({"message": "hi"}), "{exec:#}");
    assert_eq!(exec["parameters"], json!({"message": "hi"}), "{exec:#}");
    assert_eq!(exec["actor"], "rule:events.echo_ping", "{exec:#}");
    assert_eq!(exec["dry_run"], false);

    // Exactly one trigger and one execution: nothing doubled.
    assert_eq!(triggers(&d).len(), 1);
    let all = executions(&d);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["id"], exec_id.as_str());
}

#[test]
fn templates_in_the_payload_reach_the_action_as_literal_text() {
    let d = events_drover();
    let server = Server::start(&d);
    let hostile = [
        "{{ 7*7 }}",
        "{% for i in range(3) %}x{% endfor %}",
        "{{ trigger.node }}",
        "{{ kv.anything }}",
    ];
    let mut sent = Vec::new();
    for message in hostile {
        let body = serde_json::to_vec(&json!({"node": "b1", "message": message})).unwrap();
        sent.push((message, post_signed(&server, &body).accepted_id()));
    }
    for (message, id) in sent {
        let t = processed(&d, &server, &id);
        let exec = execution(&d, &server, &one_scheduled_echo(&t));
        assert_eq!(exec["status"], "succeeded", "{exec:#}");
        assert_eq!(exec["parameters"], json!({"message": message}), "{exec:#}");
        assert_eq!(exec["result"], json!({"message": message}), "{exec:#}");
    }
}

#[test]
fn bad_or_missing_credentials_are_refused_and_nothing_is_stored() {
    let d = events_drover();
    let server = Server::start(&d);
    let agent = agent(Duration::from_secs(30));
    let body = br#"{"node":"b7s01","message":"hi"}"#;
    let ping = server.url("events.ping");

    // A signature with another key, one for another body, garbage, none.
    let wrong_key = drover_api::webhooks::sign(b"not-the-key", body);
    let other_body = signature(br#"{"node":"b7s02","message":"hi"}"#);
    let bare_hex = signature(body).replace("sha256=", "");
    for sig in [
        wrong_key.as_str(),
        other_body.as_str(),
        bare_hex.as_str(),
        "sha256=zz",
        "",
    ] {
        let a = post(&agent, &ping, &[("x-drover-signature", sig)], body).unwrap();
        assert_eq!(a.status, 401, "signature {sig:?}: {a:?}");
        assert!(a.json()["error"].is_string(), "{a:?}");
    }
    let a = post(&agent, &ping, &[], body).unwrap();
    assert_eq!(a.status, 401, "no signature: {a:?}");
    assert!(
        a.json()["error"]
            .as_str()
            .unwrap()
            .contains("x-drover-signature"),
        "the error names the header: {a:?}"
    );
    // A token is not a signature.
    let a = post(&agent, &ping, &[("x-drover-token", HMAC_KEY)], body).unwrap();
    assert_eq!(a.status, 401, "token on an HMAC trigger: {a:?}");

    // Token auth: refused while the secret is unset, then only the token.
    let token_url = server.url("events.token_ping");
    let token_body = br#"{"node":"b7s03"}"#;
    let a = post(&agent, &token_url, &[("x-drover-token", TOKEN)], token_body).unwrap();
    assert_eq!(a.status, 401, "token secret not set yet: {a:?}");
    set_secret(&d, "events.token", TOKEN);
    for wrong in [
        "wrong-token",
        "",
        &TOKEN[..TOKEN.len() - 1],
        &format!("{TOKEN}x"),
    ] {
        let a = post(&agent, &token_url, &[("x-drover-token", wrong)], token_body).unwrap();
        assert_eq!(a.status, 401, "token {wrong:?}: {a:?}");
    }
    let a = post(&agent, &token_url, &[], token_body).unwrap();
    assert_eq!(a.status, 401, "no token: {a:?}");
    let sig = signature(token_body);
    let a = post(
        &agent,
        &token_url,
        &[("x-drover-signature", &sig)],
        token_body,
    )
    .unwrap();
    assert_eq!(a.status, 401, "signature on a token trigger: {a:?}");

    assert_eq!(triggers(&d), Vec::<Value>::new(), "nothing stored");

    // The right token is accepted and stored.
    let a = post(&agent, &token_url, &[("x-drover-token", TOKEN)], token_body).unwrap();
    let id = a.accepted_id();
    let t = processed(&d, &server, &id);
    assert_eq!(t["trigger_type"], "events.token_ping");
    assert_eq!(t["payload"], json!({"node": "b7s03"}));
    // No rule listens on events.token_ping.
    assert_eq!(t["enforcements"], json!([]), "{t:#}");
    assert_eq!(triggers(&d).len(), 1);
}

#[test]
fn invalid_requests_get_4xx_naming_the_problem_and_nothing_is_stored() {
    let d = events_drover();
    let server = Server::start(&d);
    let agent = agent(Duration::from_secs(60));
    let ping = server.url("events.ping");
    let send = |url: &str, body: &[u8]| {
        let sig = signature(body);
        post(&agent, url, &[("x-drover-signature", &sig)], body)
            .unwrap_or_else(|e| panic!("POST {url}: {e}\n{}", server.log()))
    };

    for body in [
        &br#"{"node": 5}"#[..],
        br#"{"message": "no node"}"#,
        br#"{}"#,
        br#"{"node": null}"#,
        br#"{"node": "b1", "message": 7}"#,
    ] {
        let a = send(&ping, body);
        assert_eq!(a.status, 400, "{}: {a:?}", String::from_utf8_lossy(body));
        let err = a.json()["error"].as_str().unwrap().to_owned();
        let field = if body.starts_with(br#"{"node": "b1""#) {
            "message"
        } else {
            "node"
        };
        assert!(
            err.contains(field),
            "{}: the error names {field}: {err}",
            String::from_utf8_lossy(body)
        );
    }
    for body in [
        &b"not json"[..],
        b"{\"node\": \"b1\"",
        b"",
        b"[1,2]",
        b"\"b1\"",
    ] {
        let a = send(&ping, body);
        assert_eq!(a.status, 400, "{:?}: {a:?}", String::from_utf8_lossy(body));
        assert!(a.json()["error"].is_string(), "{a:?}");
    }

    // Unknown trigger types, and a pack that has none: to a sender without
    // their credentials (there are none) the same 401 as a bad signature.
    for trigger in ["events.nope", "core.echo", "nope", "events.ping.x"] {
        let a = send(&server.url(trigger), br#"{"node":"b1"}"#);
        assert_eq!(a.status, 401, "{trigger}: {a:?}");
        assert!(a.json()["error"].is_string(), "{a:?}");
    }

    // Over 1 MiB, signed and otherwise valid JSON.
    let big = format!(
        r#"{{"node":"b1","message":"{}"}}"#,
        "x".repeat(drover_api::MAX_WEBHOOK_BODY)
    );
    let a = send(&ping, big.as_bytes());
    assert_eq!(a.status, 413, "{} bytes: {a:?}", big.len());
    // The same without a Content-Length (chunked): the limit still holds.
    let sig = signature(big.as_bytes());
    let mut resp = agent
        .post(&ping)
        .header("content-type", "application/json")
        .header("x-drover-signature", &sig)
        .send(ureq::SendBody::from_owned_reader(std::io::Cursor::new(
            big.clone().into_bytes(),
        )))
        .unwrap_or_else(|e| panic!("chunked POST: {e}\n{}", server.log()));
    assert_eq!(
        resp.status().as_u16(),
        413,
        "chunked {} bytes: {:?}",
        big.len(),
        resp.body_mut().read_to_string()
    );
    // Just under the limit is fine (and proves the limit is the 1 MiB one).
    let fits = format!(
        r#"{{"node":"a1","message":"{}"}}"#,
        "x".repeat(drover_api::MAX_WEBHOOK_BODY - 64)
    );
    assert!(fits.len() <= drover_api::MAX_WEBHOOK_BODY);

    assert_eq!(triggers(&d), Vec::<Value>::new(), "nothing stored");

    let id = send(&ping, fits.as_bytes()).accepted_id();
    processed(&d, &server, &id);
    assert_eq!(triggers(&d).len(), 1);
}

#[test]
fn a_rule_whose_parameters_do_not_fit_leaves_a_failed_enforcement() {
    let d = events_drover();
    let server = Server::start(&d);
    let id = post_signed(&server, br#"{"node":"x1","message":"m"}"#).accepted_id();
    let t = processed(&d, &server, &id);
    let enf = t["enforcements"].as_array().unwrap();
    assert_eq!(enf.len(), 1, "only bad_param matches x1: {t:#}");
    assert_eq!(enf[0]["rule_ref"], "events.bad_param", "{t:#}");
    assert_eq!(enf[0]["state"], "failed", "{t:#}");
    assert_eq!(enf[0]["execution_id"], Value::Null, "{t:#}");
    let reason = enf[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("core.sleep") && reason.contains("secs"),
        "the reason names the action and the parameter: {reason:?}"
    );
    // The trigger is processed, so any request would already be queued.
    assert_eq!(executions(&d), Vec::<Value>::new(), "no execution");
    assert_eq!(queue_depth(&d), (0, 0));

    // A template that cannot render (no `message` in the payload) fails
    // the same way, naming the parameter.
    let id = post_signed(&server, br#"{"node":"b9"}"#).accepted_id();
    let t = processed(&d, &server, &id);
    let enf = t["enforcements"].as_array().unwrap();
    assert_eq!(enf.len(), 1, "{t:#}");
    assert_eq!(enf[0]["rule_ref"], "events.echo_ping", "{t:#}");
    assert_eq!(enf[0]["state"], "failed", "{t:#}");
    assert_eq!(enf[0]["execution_id"], Value::Null, "{t:#}");
    let reason = enf[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("message"),
        "names the parameter: {reason:?}"
    );
    assert_eq!(executions(&d), Vec::<Value>::new(), "no execution");
    assert_eq!(queue_depth(&d), (0, 0));
}

#[test]
fn a_payload_no_rule_matches_is_processed_without_enforcement() {
    let d = events_drover();
    let server = Server::start(&d);
    let id = post_signed(&server, br#"{"node":"a1","message":"m"}"#).accepted_id();
    let t = processed(&d, &server, &id);
    assert_eq!(t["enforcements"], json!([]), "{t:#}");
    assert_eq!(executions(&d), Vec::<Value>::new());
    assert_eq!(queue_depth(&d), (0, 0));
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let d = events_drover();
    let mut server = Server::start(&d);
    // Leave a kept-alive connection open in the agent's pool: graceful
    // shutdown must not wait for the client to close it.
    let agent = agent(Duration::from_secs(30));
    let body = br#"{"node":"b2","message":"before the stop"}"#;
    let sig = signature(body);
    let id = post(
        &agent,
        &server.url("events.ping"),
        &[("x-drover-signature", &sig)],
        body,
    )
    .unwrap()
    .accepted_id();
    let exec_id = one_scheduled_echo(&processed(&d, &server, &id));
    execution(&d, &server, &exec_id);

    let started = Instant::now();
    let status = server.signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    let took = started.elapsed();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status} after SIGTERM\n{}",
        server.log()
    );
    eprintln!("SIGTERM to exit: {took:?}");
    assert_eq!(queue_depth(&d), (0, 0));

    // The same database serves again.
    let server = Server::start(&d);
    let id = post_signed(&server, br#"{"node":"b3","message":"after"}"#).accepted_id();
    let exec = execution(
        &d,
        &server,
        &one_scheduled_echo(&processed(&d, &server, &id)),
    );
    assert_eq!(exec["result"], json!({"message": "after"}));
}

#[test]
fn sigterm_exits_even_when_a_client_stalls_mid_request() {
    let d = events_drover();
    let mut server = Server::start_with(&d, &["--grace", "2s"]);
    // One client stops in the middle of its headers, one in the middle of
    // its body (a slow or vanished sender, a half-open connection).
    let mut stalled = Vec::new();
    for part in [
        &b"POST /api/v1/webhooks/events.ping HTTP/1.1\r\nHost: x\r\nContent-Le"[..],
        b"POST /api/v1/webhooks/events.ping HTTP/1.1\r\nHost: x\r\n\
          Content-Length: 100\r\nX-Drover-Signature: sha256=00\r\n\r\n{\"node\":",
    ] {
        let mut s = std::net::TcpStream::connect(server.addr).unwrap();
        s.write_all(part).unwrap();
        stalled.push(s);
    }
    // Connections are accepted in order: once a later one is answered,
    // the stalled ones are being served.
    let health = agent(Duration::from_secs(10))
        .get(format!("http://{}/healthz", server.addr))
        .call()
        .unwrap();
    assert_eq!(health.status(), 200);

    let started = Instant::now();
    // Bounded: the HTTP side must not wait on these clients forever.
    let status = server.signal_and_wait(libc::SIGTERM, Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{status}\n{}", server.log());
    eprintln!(
        "SIGTERM with 2 stalled clients: exited after {:?}",
        started.elapsed()
    );
    drop(stalled);
}

/// What one load round saw.
struct Round {
    /// message -> trigger id, for every 202.
    accepted: HashMap<String, String>,
    /// 202s counted when the signal was sent.
    at_signal: usize,
    /// Requests that got no HTTP answer (connection reset or refused).
    transport_errors: usize,
}

/// Sends `n` signed webhooks (messages `r<round>-m<i>`, nodes `b…` so
/// `echo_ping` fires) from `clients` threads, sends `signal` to the server
/// once `signal_after` have been answered 202, and returns what was
/// answered. Every answer must be a 202 or no answer at all.
fn load_round(
    server: &mut Server,
    round: usize,
    n: usize,
    clients: usize,
    signal_after: usize,
    signal: i32,
) -> (Round, ExitStatus) {
    let url = server.url("events.ping");
    let accepted: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let other: Arc<Mutex<Vec<String>>> = Arc::default();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (url, accepted, count, errors, other) = (
                url.clone(),
                accepted.clone(),
                count.clone(),
                errors.clone(),
                other.clone(),
            );
            std::thread::spawn(move || {
                let agent = agent(Duration::from_secs(30));
                for i in (c..n).step_by(clients) {
                    let message = format!("r{round}-m{i:04}");
                    let body = serde_json::to_vec(
                        &json!({"node": format!("b{round}-{i:04}"), "message": message}),
                    )
                    .unwrap();
                    let sig = signature(&body);
                    match post(&agent, &url, &[("x-drover-signature", &sig)], &body) {
                        Ok(a) if a.status == 202 => {
                            let id = a.accepted_id();
                            accepted.lock().unwrap().insert(message, id);
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(a) => other.lock().unwrap().push(format!("{message}: {a:?}")),
                        Err(_) => {
                            errors.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();

    let enough = poll(Duration::from_secs(120), Duration::from_millis(1), || {
        (count.load(Ordering::SeqCst) >= signal_after).then_some(())
    });
    assert!(
        enough.is_some(),
        "only {} webhooks accepted in 120 s\n{}",
        count.load(Ordering::SeqCst),
        server.log()
    );
    let at_signal = count.load(Ordering::SeqCst);
    let status = server.signal_and_wait(signal, Duration::from_secs(15));
    for t in threads {
        t.join().expect("client thread");
    }
    let other = other.lock().unwrap().clone();
    assert!(other.is_empty(), "answers other than 202: {other:#?}");
    let accepted = Arc::try_unwrap(accepted).unwrap().into_inner().unwrap();
    assert!(
        accepted.len() < n,
        "the signal came after every webhook was answered; nothing was tested"
    );
    let round = Round {
        accepted,
        at_signal,
        transport_errors: errors.load(Ordering::SeqCst),
    };
    (round, status)
}

/// A one-line account of the database between runs, for the report.
fn describe_db(d: &Drover) -> String {
    let ts = triggers(d);
    let pending = ts.iter().filter(|t| t["state"] == "pending").count();
    let (queued, running) = queue_depth(d);
    format!(
        "{} triggers ({pending} pending), queue {queued} requested + {running} running, \
         {} executions",
        ts.len(),
        executions(d).len()
    )
}

/// Restarts on `d`, waits until every trigger is processed, every
/// scheduled enforcement has its execution and the queue is empty, then
/// checks that every acknowledged trigger is stored and that every stored
/// trigger has exactly one `echo_ping` enforcement whose execution exists
/// exactly once, succeeded, and echoed that trigger's message. Returns the
/// number of stored triggers that were never acknowledged.
fn check_nothing_lost_or_doubled(d: &Drover, accepted: &HashMap<String, String>) -> usize {
    let restarted = Instant::now();
    let server = Server::start(d);
    let (stored, execs) = wait_for("the pipeline to drain after restart", SETTLE, || {
        let ts = triggers(d);
        if ts.iter().any(|t| t["state"] != "processed") {
            return None;
        }
        let scheduled = ts
            .iter()
            .flat_map(|t| t["enforcements"].as_array().unwrap())
            .filter(|e| e["state"] == "scheduled")
            .count();
        let execs = executions(d);
        if execs.len() < scheduled || queue_depth(d) != (0, 0) {
            return None;
        }
        Some((ts, execs))
    });
    eprintln!("recovery: drained {:?} after restart", restarted.elapsed());
    drop(server);
    assert!(stored.len() < 1000, "the listings are capped at 1000");

    // Every 202 is stored, with its payload.
    let by_id: HashMap<&str, &Value> = stored
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t))
        .collect();
    assert_eq!(by_id.len(), stored.len(), "trigger ids are unique");
    for (message, id) in accepted {
        let t = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("202 {id} ({message}) was lost"));
        assert_eq!(t["payload"]["message"], message.as_str(), "{t:#}");
    }
    let acked: HashSet<&str> = accepted.values().map(String::as_str).collect();
    let unacked = stored
        .iter()
        .filter(|t| !acked.contains(t["id"].as_str().unwrap()))
        .count();

    // One enforcement each, one execution each, none doubled.
    let execs_by_id: HashMap<&str, &Value> = execs
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e))
        .collect();
    assert_eq!(execs_by_id.len(), execs.len(), "execution ids are unique");
    let mut exec_ids = HashSet::new();
    for t in &stored {
        let exec_id = one_scheduled_echo(t);
        assert!(exec_ids.insert(exec_id.clone()), "{exec_id} twice");
        let e = execs_by_id
            .get(exec_id.as_str())
            .unwrap_or_else(|| panic!("execution {exec_id} of trigger {} missing", t["id"]));
        assert_eq!(e["status"], "succeeded", "{e:#}");
        assert_eq!(e["actor"], "rule:events.echo_ping", "{e:#}");
        assert_eq!(e["action"], "core.echo", "{e:#}");
    }
    assert_eq!(
        execs.len(),
        stored.len(),
        "exactly one execution per trigger"
    );

    // Each execution echoed its own trigger's message.
    let store = drover_store::Store::open(&d.db()).unwrap();
    for t in &stored {
        let exec_id: ExecutionId = one_scheduled_echo(t).parse().unwrap();
        let e = store.get_execution(exec_id).unwrap().unwrap();
        assert_eq!(
            e.result,
            Some(json!({"message": t["payload"]["message"]})),
            "{e:#?}"
        );
    }
    eprintln!(
        "totals: {} triggers stored ({} acknowledged, {unacked} stored without a 202), \
         {} executions",
        stored.len(),
        accepted.len(),
        execs.len()
    );
    unacked
}

#[test]
fn sigkill_under_webhook_load_loses_and_doubles_nothing() {
    // Three crashes: the second and third servers start by recovering
    // what the previous one left, while taking new load.
    const ROUNDS: usize = 3;
    const N: usize = 300;
    let d = events_drover();
    let mut accepted = HashMap::new();
    for round in 0..ROUNDS {
        let mut server = Server::start(&d);
        let (r, status) = load_round(&mut server, round, N, 4, N / 3, libc::SIGKILL);
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
        eprintln!(
            "round {round}: {} 202s when SIGKILL was sent, {} in all, {} without an answer; \
             then: {}",
            r.at_signal,
            r.accepted.len(),
            r.transport_errors,
            describe_db(&d)
        );
        accepted.extend(r.accepted);
    }
    check_nothing_lost_or_doubled(&d, &accepted);
}

#[test]
fn sigterm_under_webhook_load_exits_0_and_loses_nothing() {
    const N: usize = 300;
    let d = events_drover();
    let mut server = Server::start(&d);
    let (r, status) = load_round(&mut server, 0, N, 4, N / 3, libc::SIGTERM);
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status} after SIGTERM\n{}",
        server.log()
    );
    eprintln!(
        "SIGTERM: {} 202s when sent, {} in all, {} without an answer; then: {}",
        r.at_signal,
        r.accepted.len(),
        r.transport_errors,
        describe_db(&d)
    );
    // A graceful stop answers what it took: no trigger stored without a 202.
    let unacked = check_nothing_lost_or_doubled(&d, &r.accepted);
    assert_eq!(unacked, 0, "a graceful stop answers every stored trigger");
}

/// `events` plus a rule `sleepy`: nodes `s*` run `core.sleep` for
/// `seconds`.
fn sleepy_drover(seconds: u32) -> Drover {
    let d = Drover::new();
    let pack = d.copy_pack("tests/packs/events", "events");
    std::fs::write(
        pack.join("rules/sleepy.yaml"),
        format!(
            "name: sleepy\npack: events\ndescription: Sleep on s* nodes.\nenabled: true\n\
             trigger:\n  type: events.ping\ncriteria:\n  trigger.node:\n    type: matchwildcard\n    \
             pattern: \"s*\"\naction:\n  ref: core.sleep\n  parameters:\n    seconds: {seconds}\n"
        ),
    )
    .unwrap();
    d.install(&["packs/core"]);
    d.expect(0, &["pack", "install", pack.to_str().unwrap()]);
    set_secret(&d, "events.webhook", HMAC_KEY);
    d
}

/// Posts a ping for node `s1` and waits until its `core.sleep` is running.
fn start_a_sleep(d: &Drover, server: &Server) -> String {
    let id = post_signed(server, br#"{"node":"s1"}"#).accepted_id();
    let t = processed(d, server, &id);
    let enf = t["enforcements"].as_array().unwrap();
    assert_eq!(enf.len(), 1, "{t:#}");
    assert_eq!(enf[0]["rule_ref"], "events.sleepy", "{t:#}");
    assert_eq!(enf[0]["state"], "scheduled", "{t:#}");
    wait_for("core.sleep to be running", SETTLE, || {
        (queue_depth(d) == (0, 1)).then_some(())
    });
    enf[0]["execution_id"].as_str().unwrap().to_owned()
}

#[test]
fn sigterm_waits_for_a_running_execution_within_the_grace() {
    let d = sleepy_drover(2);
    let mut server = Server::start(&d);
    let exec_id = start_a_sleep(&d, &server);
    let started = Instant::now();
    let status = server.signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    let took = started.elapsed();
    assert_eq!(status.code(), Some(0), "{status}\n{}", server.log());
    eprintln!("SIGTERM with a 2 s sleep running: exited after {took:?}");
    // It waited for the sleep and stored it before exiting.
    assert_eq!(queue_depth(&d), (0, 0), "{}", server.log());
    let exec = d.json(0, &["exec", "get", &exec_id]);
    assert_eq!(exec["status"], "succeeded", "{exec:#}");
    assert_eq!(exec["action"], "core.sleep");
}

#[test]
fn an_execution_cut_off_by_the_grace_runs_again_after_restart() {
    let d = sleepy_drover(3);
    let mut server = Server::start_with(&d, &["--grace", "200ms"]);
    let exec_id = start_a_sleep(&d, &server);
    let started = Instant::now();
    let status = server.signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    let took = started.elapsed();
    assert_eq!(status.code(), Some(0), "{status}\n{}", server.log());
    eprintln!("SIGTERM with --grace 200ms and a 3 s sleep running: exited after {took:?}");
    assert!(
        took < Duration::from_secs(3),
        "did not wait out the sleep: {took:?}"
    );
    // Left `running`, no execution stored.
    assert_eq!(queue_depth(&d), (0, 1));
    assert_eq!(executions(&d), Vec::<Value>::new());

    // core.sleep is idempotent: the next start runs it again, once.
    let server = Server::start(&d);
    let exec = execution(&d, &server, &exec_id);
    assert_eq!(exec["status"], "succeeded", "{exec:#}");
    wait_for("an empty queue", SETTLE, || {
        (queue_depth(&d) == (0, 0)).then_some(())
    });
    assert_eq!(executions(&d).len(), 1);
}

#[test]
fn requests_left_running_are_rerun_if_unstarted_or_idempotent_and_closed_otherwise() {
    let d = events_drover();
    // A previous process claimed these (state `running`) and died.
    let echo = ExecutionId::new();
    let http = ExecutionId::new();
    let unstarted = ExecutionId::new();
    {
        let store = drover_store::Store::open(&d.db()).unwrap();
        let request = |id: ExecutionId, action: &str, parameters: Value| ExecutionRequest {
            id,
            action: action.into(),
            parameters,
            dry_run: false,
            actor: "rule:events.echo_ping".into(),
            enforcement_id: None,
            requested_at_ms: 1,
            pack_version: None,
        };
        store
            .request_execution(request(echo, "core.echo", json!({"message": "again"})))
            .unwrap();
        store
            .request_execution(request(
                http,
                "core.http",
                json!({"url": "http://127.0.0.1:9/x"}),
            ))
            .unwrap();
        store
            .request_execution(request(
                unstarted,
                "core.http",
                json!({"url": "http://127.0.0.1:9/y"}),
            ))
            .unwrap();
        assert_eq!(store.claim_requests(10).unwrap().len(), 3);
        // core.http is not idempotent: a worker marks it started before
        // running it. `http` was started when the process died; `unstarted`
        // was claimed (in a batch) but never reached a worker.
        store.mark_started(http).unwrap().wait().unwrap();
        assert_eq!(store.queue_depth().unwrap(), (0, 3));
    }

    let server = Server::start(&d);
    let e = execution(&d, &server, &echo.to_string());
    assert_eq!(
        e["status"], "succeeded",
        "idempotent core.echo ran again: {e:#}"
    );
    assert_eq!(e["result"], json!({"message": "again"}));
    let h = execution(&d, &server, &http.to_string());
    assert_eq!(h["status"], "failed", "core.http is not idempotent: {h:#}");
    let error = h["error"].as_str().unwrap_or_default();
    assert!(error.contains("idempotent"), "{error}");
    // Never started: it runs now, once (port 9 refuses the connection).
    let u = execution(&d, &server, &unstarted.to_string());
    let error = u["error"].as_str().unwrap_or_default();
    assert!(
        !error.contains("idempotent") && !error.contains("abandoned"),
        "a claimed but unstarted request was closed instead of run: {u:#}"
    );
    assert_eq!(u["parameters"]["url"], "http://127.0.0.1:9/y", "{u:#}");
    wait_for("an empty queue", SETTLE, || {
        (queue_depth(&d) == (0, 0)).then_some(())
    });
    assert_eq!(executions(&d).len(), 3);
}

// ------------------------------------------------------------ shadow mode

/// A pack from outside drover's own tree is installed in shadow mode: its
/// rules fire, but every execution they start is a dry run with a plan,
/// until `drover pack promote`. Actions run by hand are unaffected.
#[test]
fn a_shadow_packs_rules_start_dry_runs_until_it_is_promoted() {
    let d = Drover::new();
    let pack = d.copy_pack("tests/packs/events", "events");
    d.install(&["packs/core"]);
    let out = d.expect(0, &["pack", "install", pack.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("in shadow mode"),
        "a pack from elsewhere is shadowed by default:\n{}",
        stdout(&out)
    );
    let listed = d.json(0, &["pack", "list"]);
    let events = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "events")
        .unwrap();
    assert_eq!(events["shadow"], true, "{listed:#}");
    set_secret(&d, "events.webhook", HMAC_KEY);

    let server = Server::start(&d);
    let id = post_signed(&server, br#"{"node":"b1","message":"shadowed"}"#).accepted_id();
    let exec_id = one_scheduled_echo(&processed(&d, &server, &id));
    let exec = execution(&d, &server, &exec_id);
    assert_eq!(exec["dry_run"], true, "{exec:#}");
    assert!(
        exec["plan"].is_array(),
        "a dry run stores its plan: {exec:#}"
    );
    assert_eq!(exec["status"], "succeeded", "{exec:#}");
    drop(server);

    let out = d.expect(
        0,
        &["pack", "promote", "events", "--reason", "test: promote"],
    );
    assert!(
        stdout(&out).contains("promoted events@0.1.0"),
        "{}",
        stdout(&out)
    );
    let server = Server::start(&d);
    let id = post_signed(&server, br#"{"node":"b1","message":"real"}"#).accepted_id();
    let exec_id = one_scheduled_echo(&processed(&d, &server, &id));
    let exec = execution(&d, &server, &exec_id);
    assert_eq!(
        exec["dry_run"], false,
        "promoted: real executions: {exec:#}"
    );
    assert_eq!(exec["result"], json!({"message": "real"}), "{exec:#}");
}

/// `--trusted` installs a pack from elsewhere without shadow mode.
#[test]
fn trusted_installs_are_not_shadowed() {
    let d = Drover::new();
    let pack = d.copy_pack("tests/packs/events", "events");
    d.install(&["packs/core"]);
    let out = d.expect(0, &["pack", "install", "--trusted", pack.to_str().unwrap()]);
    assert!(!stdout(&out).contains("shadow"), "{}", stdout(&out));
    let out = d.expect(
        0,
        &["pack", "promote", "events", "--reason", "test: promote"],
    );
    assert!(
        stdout(&out).contains("not in shadow mode"),
        "{}",
        stdout(&out)
    );
}

// ------------------------------------------------------------ storm control

/// A threshold rule fires on the Nth matching event of its group only, and
/// its count survives a restart: two pings, restart, the third fires.
#[test]
fn a_threshold_rule_fires_on_the_third_event_even_across_a_restart() {
    let d = events_drover();
    let enforcement_of = |server: &Server, id: &str| -> Value {
        let t = processed(&d, server, id);
        let enf = t["enforcements"].as_array().unwrap();
        assert_eq!(
            enf.len(),
            1,
            "one enforcement of events.three_strikes: {t:#}"
        );
        assert_eq!(enf[0]["rule_ref"], "events.three_strikes", "{t:#}");
        enf[0].clone()
    };
    let mut server = Server::start(&d);
    for n in 1..=2 {
        let id = post_signed(&server, br#"{"node":"t1"}"#).accepted_id();
        let e = enforcement_of(&server, &id);
        assert_eq!(
            e["state"], "suppressed",
            "event {n} is below the threshold: {e:#}"
        );
        assert!(
            e["reason"].as_str().unwrap().contains(&format!("{n} of 3")),
            "{e:#}"
        );
    }
    // Another node has its own count.
    let other = post_signed(&server, br#"{"node":"t2"}"#).accepted_id();
    assert_eq!(enforcement_of(&server, &other)["state"], "suppressed");
    let status = server.signal_and_wait(libc::SIGTERM, Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{status}");

    let server = Server::start(&d);
    let id = post_signed(&server, br#"{"node":"t1"}"#).accepted_id();
    let e = enforcement_of(&server, &id);
    assert_eq!(
        e["state"], "scheduled",
        "the third event fires after a restart: {e:#}"
    );
    let exec = execution(&d, &server, e["execution_id"].as_str().unwrap());
    assert_eq!(
        exec["result"],
        json!({"message": "three strikes for t1"}),
        "{exec:#}"
    );
}

// ------------------------------------------------------------- live reload

/// A running serve picks up `rule disable|enable` and `pack install`
/// without a restart.
#[test]
fn rule_and_pack_changes_take_effect_without_a_restart() {
    let d = events_drover();
    let server = Server::start(&d);
    let echo_fires = |d: &Drover| -> bool {
        let id = post_signed(&server, br#"{"node":"b1","message":"hi"}"#).accepted_id();
        let t = processed(d, &server, &id);
        !t["enforcements"].as_array().unwrap().is_empty()
    };
    assert!(echo_fires(&d));
    d.expect(0, &["rule", "disable", "events.echo_ping"]);
    wait_for("the disabled rule to stop firing", SETTLE, || {
        (!echo_fires(&d)).then_some(())
    });
    d.expect(0, &["rule", "enable", "events.echo_ping"]);
    wait_for("the enabled rule to fire again", SETTLE, || {
        echo_fires(&d).then_some(())
    });

    // A pack installed while serve runs: its webhook trigger goes from 401
    // (no such webhook) to accepted, and its rule fires.
    let agent = agent(Duration::from_secs(30));
    let url = server.url("limits.go");
    let body = br#"{"action":"nap_a","seconds":0}"#;
    let headers = [("x-drover-token", "limits-token")];
    let a = post(&agent, &url, &headers, body).unwrap();
    assert_eq!(a.status, 401, "{a:?}");
    d.install(&["tests/packs/limits"]);
    set_secret(&d, "limits.token", "limits-token");
    let id = wait_for("limits.go to be accepted", SETTLE, || {
        let a = post(&agent, &url, &headers, body).unwrap();
        (a.status == 202).then(|| a.accepted_id())
    });
    let t = processed(&d, &server, &id);
    let enf = &t["enforcements"][0];
    assert_eq!(enf["rule_ref"], "limits.nap_a", "{t:#}");
    let exec = execution(&d, &server, enf["execution_id"].as_str().unwrap());
    assert_eq!(exec["status"], "succeeded", "{exec:#}");
}

// ------------------------------------------------- kv scopes and rule test

/// Rules read `kv.*` from the system scope and `st2kv.user.*` from the
/// scope of the user who installed their pack; `drover rule test` replays
/// an installed rule on a stored trigger instance with the same store.
#[test]
fn rules_read_system_and_user_kv_and_rule_test_replays_stored_instances() {
    let d = Drover::new();
    let pack = d.copy_pack("tests/packs/events", "events");
    std::fs::write(
        pack.join("rules/kv_gate.yaml"),
        "name: kv_gate\npack: events\ndescription: Greet k1 if its installer allows it.\n\
         enabled: true\ntrigger:\n  type: events.ping\ncriteria:\n  trigger.node:\n    \
         type: equals\n    pattern: k1\n  trigger.node#allowed:\n    type: equals\n    \
         pattern: \"{{ trigger.node if st2kv.user.allow == 'yes' else '' }}\"\naction:\n  \
         ref: core.echo\n  parameters:\n    message: \"{{ kv.greeting }}\"\n",
    )
    .unwrap();
    d.install(&["packs/core"]);
    d.expect(0, &["pack", "install", pack.to_str().unwrap()]);
    set_secret(&d, "events.webhook", HMAC_KEY);
    d.expect(0, &["kv", "set", "greeting", "hello from system"]);
    d.expect(0, &["kv", "set", "allow", "yes", "--scope", "user:tester"]);
    d.expect(
        0,
        &["kv", "set", "allow", "no", "--scope", "user:someone_else"],
    );
    let server = Server::start(&d);

    let id = post_signed(&server, br#"{"node":"k1"}"#).accepted_id();
    let t = processed(&d, &server, &id);
    let enf = &t["enforcements"][0];
    assert_eq!(enf["rule_ref"], "events.kv_gate", "{t:#}");
    let exec = execution(&d, &server, enf["execution_id"].as_str().unwrap());
    assert_eq!(exec["result"], json!({"message": "hello from system"}));

    // The same rule, replayed offline on the stored instance.
    let out = d.expect(
        0,
        &[
            "rule",
            "test",
            "--rule-ref",
            "events.kv_gate",
            "--trigger-instance-id",
            &id,
        ],
    );
    assert!(
        stdout(&out).contains("hello from system"),
        "{}",
        stdout(&out)
    );
    // --kv replaces the live store: no `allow`, no match.
    d.expect(
        1,
        &[
            "rule",
            "test",
            "--rule-ref",
            "events.kv_gate",
            "--trigger-instance-id",
            &id,
            "--kv",
            "greeting=x",
        ],
    );
    let err = stderr(&d.expect(
        2,
        &[
            "rule",
            "test",
            "--rule-ref",
            "events.nope",
            "--trigger-instance-id",
            &id,
        ],
    ));
    assert!(err.contains("no installed rule \"events.nope\""), "{err}");

    // Withdrawn by the installer: the rule stops matching.
    d.expect(0, &["kv", "set", "allow", "no", "--scope", "user:tester"]);
    let id = post_signed(&server, br#"{"node":"k1"}"#).accepted_id();
    let t = processed(&d, &server, &id);
    assert_eq!(t["enforcements"], json!([]), "{t:#}");
    d.expect(
        1,
        &[
            "rule",
            "test",
            "--rule-ref",
            "events.kv_gate",
            "--trigger-instance-id",
            &id,
        ],
    );
}

// ------------------------------------------------------------- back-pressure

/// With `--max-in-flight 1`, a burst from many clients gets some 429s with
/// `Retry-After`; everything answered 202 is stored, nothing else is.
#[test]
fn a_burst_past_max_in_flight_gets_429_with_retry_after() {
    let d = events_drover();
    let server = Server::start_with(&d, &["--grace", "10s", "--max-in-flight", "1"]);
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let busy = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for c in 0..16 {
            let (accepted, busy, server) = (accepted.clone(), busy.clone(), &server);
            s.spawn(move || {
                let agent = agent(Duration::from_secs(30));
                for i in 0..40 {
                    let body = format!(r#"{{"node":"x{c}","message":"m{i}"}}"#);
                    let resp = agent
                        .post(&server.url("events.ping"))
                        .header("content-type", "application/json")
                        .header("x-drover-signature", &signature(body.as_bytes()))
                        .send(body.as_bytes())
                        .unwrap();
                    match resp.status().as_u16() {
                        202 => {
                            accepted.lock().unwrap().insert(body);
                        }
                        429 => {
                            let retry = resp
                                .headers()
                                .get("retry-after")
                                .map(|v| v.to_str().unwrap().to_owned());
                            assert_eq!(retry.as_deref(), Some("1"), "429 without Retry-After");
                            busy.fetch_add(1, Ordering::SeqCst);
                        }
                        other => panic!("unexpected {other}"),
                    }
                }
            });
        }
    });
    let busy = busy.load(Ordering::SeqCst);
    let accepted = accepted.lock().unwrap().len();
    eprintln!("640 posts with --max-in-flight 1: {accepted} accepted, {busy} answered 429");
    assert!(busy > 0, "16 clients never found the one slot taken");
    assert_eq!(accepted + busy, 640);
    let stored = wait_for("the accepted triggers stored", SETTLE, || {
        let n = triggers_count(&d);
        (n >= accepted).then_some(n)
    });
    assert_eq!(stored, accepted, "stored exactly what was answered 202");
}

fn triggers_count(d: &Drover) -> usize {
    drover_store::Store::open(&d.db())
        .unwrap()
        .list_triggers(None, None, 100_000)
        .unwrap()
        .len()
}

/// One SQLite database has one `drover serve`: a second one, or a `drover
/// fleet run`, on the same file refuses to start and names the first (two would both claim the
/// same triggers: a non-idempotent action ran twice); once the first is
/// killed, even with SIGKILL, the file can be served again. A database URL
/// is refused, not taken for a directory.
#[test]
fn a_second_serve_on_one_sqlite_file_refuses_and_names_the_first() {
    let d = events_drover();
    let mut first = Server::start(&d);
    let out = d
        .cmd()
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .expect("run a second drover serve");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("is already served by drover serve"), "{said}");
    assert!(said.contains(&format!("pid {}", first.pid())), "{said}");
    // Nor may a second fleet controller run beside it.
    let out = d.run(&["fleet", "run", "--until-idle"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "is already served by drover serve (pid {}",
            first.pid()
        )),
        "{}",
        stderr(&out)
    );
    // The first still serves.
    let one = post_signed(&first, br#"{"node":"b1","message":"still here"}"#).accepted_id();
    processed(&d, &first, &one);

    first.signal_and_wait(libc::SIGKILL, Duration::from_secs(10));
    let second = Server::start(&d);
    let two = post_signed(&second, br#"{"node":"b2","message":"taken over"}"#).accepted_id();
    processed(&d, &second, &two);

    let cwd = tempfile::tempdir().unwrap();
    for url in ["postgres://drover@db1/drover", "mysql://db1/drover"] {
        let out = d
            .cmd()
            .current_dir(cwd.path())
            .args(["--db", url, "node", "list"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}");
        assert!(
            stderr(&out).contains("--db takes the path of a SQLite file"),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_dir(cwd.path()).unwrap().count(),
            0,
            "{url}: nothing created"
        );
    }
}
