//! Hole 9: NATS subjects were not gated. A sensor could subscribe to `>`
//! (every message on the server, other teams' included) and open a webhook,
//! just by writing `subscriptions:` in its pack.yaml.
//!
//! Now subscriptions are a capability, `subscribe`, granted per pack
//! version with a scope listing NATS subjects (NATS wildcards) and webhook
//! names. A sensor whose subscriptions are not all covered does not run:
//! it is shown `blocked` with the grant to give, and each decision is
//! audited. Only an explicit `nats:>` covers `>`; `*` is one NATS token.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::server::{Server, agent, free_port, set_secret, wait_for};
use crate::support::*;

const SETTLE: Duration = Duration::from_secs(60);
const SENSOR: &str = "nats_everything.sensor";

/// `nats-server` on a free port, killed on drop.
struct Nats(Child, u16);

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nats() -> Nats {
    let port = free_port();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nats-server: install it (`apt-get install nats-server`)");
    let nats = Nats(child, port);
    wait_for("nats-server", SETTLE, || {
        TcpStream::connect(("127.0.0.1", port)).ok()
    });
    nats
}

/// Publishes `payload` on `subject` and waits for the server to have it.
fn publish(port: u16, subject: &str, payload: &str) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    write!(
        stream,
        "CONNECT {{\"verbose\":false}}\r\nPUB {subject} {}\r\n{payload}\r\nPING\r\n",
        payload.len()
    )
    .unwrap();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.trim_end() == "PONG" {
            return;
        }
    }
}

fn status(d: &Drover) -> Option<Value> {
    let all = d.json(0, &["sensor", "list"]);
    all.as_array()?
        .iter()
        .find(|s| s["name"] == SENSOR)
        .cloned()
}

fn serve(d: &Drover, nats: &Nats) -> Server {
    let url = format!("nats://127.0.0.1:{}", nats.1);
    Server::start_with(d, &["--grace", "5s", "--nats", &url])
}

/// Publishes another team's message until the sensor shows it heard it or
/// is blocked; its status then.
fn settle(d: &Drover, nats: &Nats) -> Value {
    wait_for("the sensor to hear a message or be blocked", SETTLE, || {
        publish(
            nats.1,
            "payroll.private",
            r#"{"trigger": "nats_everything.heard"}"#,
        );
        let s = status(d)?;
        (s["state"] == "blocked" || s["messages"].as_u64() > Some(0)).then_some(s)
    })
}

fn heard(d: &Drover) -> usize {
    d.json(
        0,
        &[
            "trigger",
            "list",
            "--type",
            "nats_everything.heard",
            "--limit",
            "100",
        ],
    )
    .as_array()
    .unwrap()
    .len()
}

#[test]
fn a_sensor_subscribes_only_to_what_is_granted() {
    let d = Drover::new();
    d.install(&["tests/redteam/packs/nats_everything"]);
    set_secret(&d, "nats_everything.token", "t0ken");
    let nats = nats();

    // No grant: blocked, nothing heard, the grant to give named, audited.
    let server = serve(&d, &nats);
    let s = settle(&d, &nats);
    assert_eq!(
        s["state"], "blocked",
        "a sensor subscribed to `>` without a grant and heard {} messages: {s}",
        s["messages"]
    );
    assert_eq!(s["messages"], 0, "{s}");
    assert_eq!(heard(&d), 0);
    let why = s["last_error"].as_str().unwrap();
    assert!(
        why.contains("drover grant add nats_everything@0.1.0 subscribe --scope 'nats:>'"),
        "{why}"
    );
    assert!(why.contains("webhook:hook"), "{why}");
    let audit = d.json(
        0,
        &[
            "audit",
            "list",
            "--pack",
            "nats_everything",
            "--decision",
            "denied",
        ],
    );
    let targets: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["capability"] == "subscribe")
        .filter_map(|r| r["target"].as_str())
        .collect();
    assert!(targets.contains(&"nats:>"), "{audit}");
    assert!(targets.contains(&"webhook:hook"), "{audit}");
    // Its webhook is not served either.
    let hook = format!(
        "http://{}/api/v1/webhooks/nats_everything.hook",
        server.addr
    );
    let answer = agent(Duration::from_secs(5))
        .post(&hook)
        .header("x-drover-token", "t0ken")
        .send(r#"{"trigger": "nats_everything.heard"}"#);
    let code = match &answer {
        Ok(resp) => resp.status().as_u16(),
        Err(ureq::Error::StatusCode(code)) => *code,
        Err(e) => panic!("{e}"),
    };
    // Refused like an unknown webhook (401, whatever the credentials), so
    // a client cannot tell a blocked subscription from a missing one.
    assert_eq!(
        code, 401,
        "an ungranted webhook subscription answered {answer:?}"
    );
    let text = stdout(&d.expect(0, &["sensor", "list"]));
    assert!(text.contains("blocked"), "{text}");
    drop(server);

    // Wildcards cover only what they match: `*` is one token, and nothing
    // but `nats:>` covers `>`.
    d.grant(
        "nats_everything@0.1.0",
        "subscribe",
        "*, nats:payroll.>, webhook:*",
    );
    let server = serve(&d, &nats);
    let s = wait_for("the sensor's status after a restart", SETTLE, || {
        status(&d).filter(|s| {
            s["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("outside"))
        })
    });
    assert_eq!(s["state"], "blocked", "{s}");
    assert!(
        s["last_error"]
            .as_str()
            .unwrap()
            .contains("nats:> is outside the granted scope"),
        "{s}"
    );
    drop(server);

    // Granted explicitly, it runs and hears.
    d.grant("nats_everything@0.1.0", "subscribe", "nats:>");
    let _server = serve(&d, &nats);
    wait_for("the granted sensor to hear a message", SETTLE, || {
        publish(
            nats.1,
            "payroll.private",
            r#"{"trigger": "nats_everything.heard"}"#,
        );
        (heard(&d) > 0).then_some(())
    });
    assert_eq!(status(&d).unwrap()["state"], "running");
}

#[test]
fn scopes_of_subscribe_say_what_they_cover() {
    let d = Drover::new();
    d.install(&["tests/redteam/packs/nats_everything"]);
    let out = d.expect(
        0,
        &[
            "grant",
            "add",
            "nats_everything@0.1.0",
            "subscribe",
            "--scope",
            "batch.health",
        ],
    );
    assert!(
        stdout(&out).contains("scope 'nats:batch.health'"),
        "{}",
        stdout(&out)
    );
    let out = d.expect(
        2,
        &[
            "grant",
            "add",
            "nats_everything@0.1.0",
            "subscribe",
            "--scope",
            "batch..x",
        ],
    );
    assert!(
        stderr(&out).contains("invalid subscription"),
        "{}",
        stderr(&out)
    );
    // Not a capability a plugin lists: its subscriptions declare it.
    let dir = d.copy_pack("tests/redteam/packs/nats_everything", "declares");
    edit_manifest(
        &dir,
        "capabilities: [log, kv,",
        "capabilities: [subscribe, log, kv,",
    );
    let out = d.run(&["pack", "install", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("subscriptions:"), "{}", stderr(&out));
}
