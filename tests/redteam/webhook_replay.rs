//! Hole 14: a captured signed webhook replayed. A signature made with
//! `X-Drover-Timestamp` covers `"<timestamp>.<body>"`, is accepted within
//! ±5 minutes of the server's clock and only once (remembered in the
//! database, so a restart does not reopen the window); a webhook with
//! `require_timestamp: true` refuses signatures of the body alone. The
//! legacy signature of the body alone still works where it is allowed.

use std::time::Duration;

use drover_api::webhooks::{sign, sign_at};

use crate::support::edit_manifest;
use crate::support::server::{
    HMAC_KEY, Server, agent, events_drover, post, processed, set_secret, triggers, wait_for,
};
use crate::support::{Drover, server::SETTLE};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn a_replayed_timestamped_webhook_is_refused_and_stores_nothing() {
    let d = events_drover();
    let mut server = Server::start(&d);
    let agent = agent(Duration::from_secs(30));
    let url = server.url("events.ping");
    let key = HMAC_KEY.as_bytes();
    let body = br#"{"node":"a1","message":"stamped"}"#;
    let ts = now();
    let sig = sign_at(key, ts, body);
    let stamp = ts.to_string();
    let signed = [
        ("x-drover-signature", sig.as_str()),
        ("x-drover-timestamp", stamp.as_str()),
    ];
    let id = post(&agent, &url, &signed, body).unwrap().accepted_id();
    processed(&d, &server, &id);

    // The same request again: refused, and the message says why.
    let again = post(&agent, &url, &signed, body).unwrap();
    assert_eq!(again.status, 409, "{again:?}");
    let err = again.json()["error"].as_str().unwrap().to_owned();
    assert!(
        err.contains("replay") && err.contains("x-drover-timestamp"),
        "{err}"
    );
    // Upper-case hex is the same signature.
    let upper = format!("sha256={}", sig["sha256=".len()..].to_uppercase());
    let a = post(
        &agent,
        &url,
        &[
            ("x-drover-signature", &upper),
            ("x-drover-timestamp", &stamp),
        ],
        body,
    )
    .unwrap();
    assert_eq!(a.status, 409, "{a:?}");
    // The server logs the attempt for the operator.
    assert!(
        server.log().contains("replayed webhook"),
        "{}",
        server.log()
    );

    // A restart does not forget it.
    drop(server);
    server = Server::start(&d);
    let a = post(&agent, &server.url("events.ping"), &signed, body).unwrap();
    assert_eq!(a.status, 409, "after a restart: {a:?}");
    assert_eq!(triggers(&d).len(), 1, "one trigger stored");

    let url = server.url("events.ping");
    // The timestamp is part of what is signed: moving it breaks the
    // signature, and so does a signature of the body alone.
    let moved = (ts + 1).to_string();
    for (sig, stamp) in [
        (sig.clone(), moved.as_str()),
        (sign(key, body), stamp.as_str()),
    ] {
        let a = post(
            &agent,
            &url,
            &[("x-drover-signature", &sig), ("x-drover-timestamp", stamp)],
            body,
        )
        .unwrap();
        assert_eq!(a.status, 401, "{a:?}");
    }

    // Outside the ±5 minute window: refused with a clear message, before
    // any replay check.
    for (ts, word) in [(now() - 600, "behind"), (now() + 600, "ahead of")] {
        let stamp = ts.to_string();
        let a = post(
            &agent,
            &url,
            &[
                ("x-drover-signature", &sign_at(key, ts, body)),
                ("x-drover-timestamp", &stamp),
            ],
            body,
        )
        .unwrap();
        assert_eq!(a.status, 401, "{a:?}");
        let err = a.json()["error"].as_str().unwrap().to_owned();
        assert!(
            err.contains(word) && err.contains("±300 s") && err.contains("x-drover-timestamp"),
            "{err}"
        );
    }
    assert_eq!(triggers(&d).len(), 1, "nothing more stored");

    // A new timestamp is a new request.
    let ts = now() + 1;
    let stamp = ts.to_string();
    let id = post(
        &agent,
        &url,
        &[
            ("x-drover-signature", &sign_at(key, ts, body)),
            ("x-drover-timestamp", &stamp),
        ],
        body,
    )
    .unwrap()
    .accepted_id();
    processed(&d, &server, &id);

    // The legacy signature (body alone, no timestamp) still works here,
    // replayable as documented.
    let legacy = br#"{"node":"a2","message":"legacy"}"#;
    for _ in 0..2 {
        let id = post(
            &agent,
            &url,
            &[("x-drover-signature", &sign(key, legacy))],
            legacy,
        )
        .unwrap()
        .accepted_id();
        processed(&d, &server, &id);
    }
    assert_eq!(triggers(&d).len(), 4);
}

#[test]
fn a_sensor_webhook_with_require_timestamp_refuses_replays_and_bare_signatures() {
    const KEY: &str = "testkit-hook-key";
    let d = Drover::new();
    let pack = d.copy_pack("tests/packs/testkit", "testkit");
    edit_manifest(&pack, "      - nats: testkit.nodes\n", "");
    edit_manifest(
        &pack,
        "        hmac_secret: testkit.hook\n",
        "        hmac_secret: testkit.hook\n        require_timestamp: true\n",
    );
    d.expect(0, &["pack", "install", pack.to_str().unwrap()]);
    // Subscriptions are granted like any capability (hole 9).
    d.grant("testkit@0.1.0", "subscribe", "webhook:node_report");
    set_secret(&d, "testkit.hook", KEY);
    let server = Server::start(&d);
    let agent = agent(Duration::from_secs(30));
    let url = server.url("testkit.node_report");
    let stamped = |body: &[u8], ts: i64| {
        let stamp = ts.to_string();
        post(
            &agent,
            &url,
            &[
                ("x-drover-signature", &sign_at(KEY.as_bytes(), ts, body)),
                ("x-drover-timestamp", &stamp),
            ],
            body,
        )
        .unwrap()
    };
    // The sensor's webhook is served once the sensor runs.
    let mut n = 0;
    wait_for("the sensor's webhook", SETTLE, || {
        n += 1;
        let body = format!(r#"{{"host": "node-{n}", "status": "up"}}"#);
        (stamped(body.as_bytes(), now()).status == 202).then_some(())
    });

    let down = br#"{"host": "node-9", "status": "down", "since": "2026-02-02T00:00:00Z"}"#;
    // Signed without a timestamp: refused, and told what is required.
    let a = post(
        &agent,
        &url,
        &[("x-drover-signature", &sign(KEY.as_bytes(), down))],
        down,
    )
    .unwrap();
    assert_eq!(a.status, 401, "{a:?}");
    let err = a.json()["error"].as_str().unwrap().to_owned();
    assert!(err.contains("requires x-drover-timestamp"), "{err}");

    let ts = now();
    let first = stamped(down, ts);
    assert_eq!(first.status, 202, "{first:?}");
    assert_eq!(first.json()["queued"], true, "{first:?}");
    let replay = stamped(down, ts);
    assert_eq!(replay.status, 409, "{replay:?}");
    assert!(replay.body.contains("replay"), "{replay:?}");
}
