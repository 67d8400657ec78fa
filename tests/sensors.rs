//! End-to-end tests of sensors under `drover serve`: a real `nats-server`
//! (Debian's package; `.ci/run` installs it) and the real binary, each a
//! child process killed when its guard drops. `testkit.sensor` turns NATS
//! "down" messages into `testkit.no_contact` triggers and ticks on every
//! poll; `testkit.flaky` (the same component in trap mode) is shown
//! `failed` with its panic message and retried with a growing backoff.
//! The same sensor also subscribes to a webhook
//! (`/api/v1/webhooks/testkit.node_report`, HMAC-signed): the body reaches
//! its `on-message` like a NATS message.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// How long the sensors may take to show what is asserted.
const SETTLE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// A child process killed and reaped on drop.
struct Guard {
    child: Child,
    log: PathBuf,
}

impl Guard {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `nats-server -a 127.0.0.1 -p PORT`, once it accepts connections.
fn nats_server(d: &Drover) -> (Guard, u16) {
    let port = free_port();
    let log = d.dir.path().join("nats.log");
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("spawn nats-server: install it (`apt-get install nats-server`)");
    let guard = Guard { child, log };
    wait_for("nats-server to accept connections", &guard, || {
        TcpStream::connect(("127.0.0.1", port)).ok()
    });
    (guard, port)
}

/// `drover serve --nats nats://127.0.0.1:PORT` on an ephemeral HTTP port.
fn serve(d: &Drover, nats_port: u16) -> Guard {
    let log = d.dir.path().join("serve.log");
    let file = std::fs::File::create(&log).unwrap();
    let child = d
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0", "--grace", "5s"])
        .env("DROVER_NATS_URL", format!("nats://127.0.0.1:{nats_port}"))
        .env("DROVER_LOG", "info")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("spawn drover serve");
    Guard { child, log }
}

/// Publishes `payload` on `subject`, and waits for the server to have
/// processed it (PING/PONG).
fn publish(port: u16, subject: &str, payload: &str) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("INFO "), "{line}");
    write!(
        stream,
        "CONNECT {{\"verbose\":false}}\r\nPUB {subject} {}\r\n{payload}\r\nPING\r\n",
        payload.len()
    )
    .unwrap();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert!(!line.starts_with("-ERR"), "{line}");
        if line.trim_end() == "PONG" {
            return;
        }
    }
}

/// Polls `f` until it returns `Some`; panics with `server`'s log after
/// [`SETTLE`].
fn wait_for<T>(what: &str, server: &Guard, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + SETTLE;
    while Instant::now() < deadline {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(POLL);
    }
    panic!("timed out waiting for {what}\n{}", server.log());
}

/// `testkit.sensor`'s subscriptions are capabilities: granted like any other.
fn grant_subscriptions(d: &Drover) {
    d.grant(
        "testkit@0.1.0",
        "subscribe",
        "nats:testkit.nodes,webhook:node_report",
    );
}

fn triggers(d: &Drover, trigger_type: &str) -> Vec<Value> {
    let v = d.json(
        0,
        &["trigger", "list", "--type", trigger_type, "--limit", "1000"],
    );
    v.as_array().expect("trigger list is an array").clone()
}

fn sensor_status(d: &Drover, name: &str) -> Option<Value> {
    let v = d.json(0, &["sensor", "list"]);
    v.as_array()?.iter().find(|s| s["name"] == name).cloned()
}

#[test]
fn nats_messages_and_polls_become_triggers() {
    let d = Drover::new();
    d.install(&["tests/packs/testkit"]);
    grant_subscriptions(&d);
    let (nats, port) = nats_server(&d);
    let server = serve(&d, port);

    // Ticks: one per poll, counting through kv.
    let ticks = wait_for("two testkit.tick triggers", &server, || {
        let list = triggers(&d, "testkit.tick");
        (list.len() >= 2).then_some(list)
    });
    for t in &ticks {
        assert_eq!(t["source"], "sensor:testkit.sensor", "{t}");
    }

    // NATS core keeps nothing for late subscribers: publish until the
    // sensor's subscription is up and the trigger is stored. "up" is
    // ignored, "down" becomes no_contact.
    let found = wait_for("a testkit.no_contact trigger", &server, || {
        publish(
            port,
            "testkit.nodes",
            r#"{"host": "node-3", "status": "up"}"#,
        );
        publish(
            port,
            "testkit.nodes",
            r#"{"host": "node-7", "status": "down", "since": "2026-01-01T00:00:00Z"}"#,
        );
        triggers(&d, "testkit.no_contact").into_iter().next()
    });
    assert_eq!(found["source"], "sensor:testkit.sensor", "{found}");
    let payload = &found["payload"];
    assert_eq!(payload["node"], "node-7", "{found}");
    assert_eq!(payload["since"], "2026-01-01T00:00:00Z", "{found}");
    assert!(
        triggers(&d, "testkit.no_contact")
            .iter()
            .all(|t| t["payload"]["node"] == "node-7"),
        "an `up` message became a trigger"
    );

    let status = sensor_status(&d, "testkit.sensor").unwrap();
    assert_eq!(status["state"], "running", "{status}");
    assert!(status["messages"].as_u64().unwrap() >= 1, "{status}");
    assert!(status["polls"].as_u64().unwrap() >= 2, "{status}");
    assert_eq!(status["failures"], 0, "{status}");
    drop(server);
    drop(nats);
}

#[test]
fn a_trapping_sensor_is_failed_and_retried_with_growing_backoff() {
    let d = Drover::new();
    d.install(&["tests/packs/testkit"]);
    grant_subscriptions(&d);
    let (_nats, port) = nats_server(&d);
    let server = serve(&d, port);

    let mut backoffs: Vec<u64> = Vec::new();
    let status = wait_for("three failures of testkit.flaky", &server, || {
        let s = sensor_status(&d, "testkit.flaky")?;
        if let Some(b) = s["backoff_ms"].as_u64()
            && backoffs.last() != Some(&b)
        {
            backoffs.push(b);
        }
        (s["failures"].as_u64()? >= 3).then_some(s)
    });
    assert_eq!(status["state"], "failed", "{status}");
    let error = status["last_error"].as_str().unwrap();
    assert!(error.starts_with("trap: the plugin panicked at"), "{error}");
    assert!(error.contains("testkit.sensor: trap mode"), "{error}");
    assert!(
        backoffs.windows(2).all(|w| w[0] < w[1]) && backoffs.len() >= 2,
        "the backoff did not grow: {backoffs:?}"
    );
    assert_eq!(&backoffs[..2], &[1000, 2000], "{backoffs:?}");

    // The table shows it too.
    let out = d.expect(0, &["sensor", "list"]);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("testkit.flaky"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("failed (retry in"), "{text}");
    assert!(line.contains("trap mode"), "{text}");
}

#[test]
fn a_signed_webhook_reaches_the_sensors_on_message() {
    use support::server::{Server, agent, post, set_secret};
    const KEY: &str = "testkit-hook-key";
    let d = Drover::new();
    d.install(&["tests/packs/testkit"]);
    grant_subscriptions(&d);
    set_secret(&d, "testkit.hook", KEY);
    let (_nats, port) = nats_server(&d);
    let nats = format!("nats://127.0.0.1:{port}");
    let server = Server::start_with(&d, &["--grace", "5s", "--nats", &nats]);
    let agent = agent(Duration::from_secs(30));
    let url = server.url("testkit.node_report");
    let sign = |key: &str, body: &[u8]| drover_api::webhooks::sign(key.as_bytes(), body);

    // Refused before the sensor sees anything: no signature, another key,
    // a token instead of a signature.
    let down = br#"{"host": "node-9", "status": "down", "since": "2026-02-02T00:00:00Z"}"#;
    let wrong = sign("not-the-key", down);
    for headers in [
        vec![],
        vec![("x-drover-signature", wrong.as_str())],
        vec![("x-drover-token", KEY)],
    ] {
        let a = post(&agent, &url, &headers, down).unwrap();
        assert_eq!(a.status, 401, "{headers:?}: {a:?}");
    }
    // A name nobody serves: refused like a bad signature (names cannot be
    // probed without credentials).
    let other = server.url("testkit.nobody");
    let a = post(
        &agent,
        &other,
        &[("x-drover-signature", &sign(KEY, down))],
        down,
    )
    .unwrap();
    assert_eq!(a.status, 401, "{a:?}");

    // Signed: "up" is ignored by the sensor, "down" becomes a trigger.
    let up = br#"{"host": "node-8", "status": "up"}"#;
    let a = post(&agent, &url, &[("x-drover-signature", &sign(KEY, up))], up).unwrap();
    assert_eq!(a.status, 202, "{a:?}");
    let a = post(
        &agent,
        &url,
        &[("x-drover-signature", &sign(KEY, down))],
        down,
    )
    .unwrap();
    assert_eq!(a.status, 202, "{a:?}");
    assert_eq!(a.json()["sensor"], "testkit.sensor", "{a:?}");

    let deadline = Instant::now() + SETTLE;
    let found = loop {
        if let Some(t) = triggers(&d, "testkit.no_contact").into_iter().next() {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "no trigger from the webhook message\n{}",
            server.log()
        );
        std::thread::sleep(POLL);
    };
    assert_eq!(found["source"], "sensor:testkit.sensor", "{found}");
    assert_eq!(found["payload"]["node"], "node-9", "{found}");
    assert_eq!(found["payload"]["since"], "2026-02-02T00:00:00Z", "{found}");
    // One trigger: the refused posts and the "up" made none.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(triggers(&d, "testkit.no_contact").len(), 1);
    let status = sensor_status(&d, "testkit.sensor").unwrap();
    assert_eq!(status["messages"], 2, "{status}");
    assert_eq!(status["failures"], 0, "{status}");
}
