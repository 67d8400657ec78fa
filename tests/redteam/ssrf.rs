//! Hole 6: `http` and `probe` grants name hosts, but what a pack reaches is
//! an address. A name granted for the outside that resolves to loopback,
//! link-local (169.254.169.254, cloud metadata) or a private network
//! would reach drover's own API or the internal network. drover resolves
//! the host once, refuses special-use addresses unless a grant names them
//! by address or network, and connects to exactly the address it checked.
//!
//! The pack `ssrf` (tests/redteam/packs/ssrf) is the bundled `core.http`
//! and `testkit.probe` components under a hostile name: what it asks for
//! is ordinary; the operator's grant is what it abuses.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::support::Drover;
use crate::support::server::Server;

const PACK: &str = "ssrf@0.1.0";

fn ssrf() -> Drover {
    let d = Drover::new();
    d.install(&["tests/redteam/packs/ssrf"]);
    d
}

fn fetch(d: &Drover, code: i32, url: &str) -> Value {
    d.json(code, &["run", "ssrf.fetch", &format!("url={url}")])
}

fn audit_of(d: &Drover, exec: &Value) -> Vec<Value> {
    let id = exec["id"].as_str().unwrap();
    d.json(0, &["audit", "list", "--exec", id])
        .as_array()
        .unwrap()
        .clone()
}

/// An HTTP server on 127.0.0.1 that answers 200 and records the request
/// lines it received.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for req in server.incoming_requests() {
                log.lock()
                    .unwrap()
                    .push(format!("{} {}", req.method(), req.url()));
                let _ = req.respond(tiny_http::Response::from_string("{}"));
            }
        });
        Recorder { port, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn error(exec: &Value) -> &str {
    exec["error"].as_str().unwrap_or_default()
}

#[test]
fn a_granted_name_resolving_to_loopback_does_not_reach_drovers_own_api() {
    let d = ssrf();
    let server = Server::start(&d);
    let port = server.addr.port();

    // The operator grants a name; the name is loopback.
    d.grant(PACK, "http", "localhost");
    let url = format!("http://localhost:{port}/healthz");
    let exec = fetch(&d, 1, &url);
    assert_eq!(exec["status"], "denied", "{exec:#}");
    let why = error(&exec);
    assert!(
        why.contains("localhost resolved to") && why.contains("a loopback address"),
        "{why}"
    );
    assert!(
        why.contains("never through a name or `*`"),
        "the operator is told why: {why}"
    );
    assert!(
        why.contains(&format!("drover grant add {PACK} http --scope '")),
        "and what to do if it is meant: {why}"
    );

    // Audited, with the address the name resolved to and the reason.
    let audit = audit_of(&d, &exec);
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["capability"], "http");
    assert_eq!(audit[0]["decision"], "denied");
    let target = audit[0]["target"].as_str().unwrap();
    assert!(
        target.starts_with(&format!("{url} -> ")) && target.contains("127.0.0.1"),
        "{target}"
    );
    assert!(
        audit[0]["reason"]
            .as_str()
            .unwrap()
            .contains("a loopback address"),
        "{audit:#?}"
    );

    // A grant that names the address explicitly reaches it.
    d.grant(PACK, "http", &format!("127.0.0.1:{port}"));
    let exec = fetch(&d, 0, &format!("http://127.0.0.1:{port}/healthz"));
    assert_eq!(exec["result"]["status"], 200, "{exec:#}");
}

#[test]
fn star_reaches_no_special_use_address_and_nothing_is_sent() {
    let d = ssrf();
    let rec = Recorder::start();
    let port = rec.port;
    d.grant(PACK, "http", "*");

    for (url, kind) in [
        (
            format!("http://127.0.0.1:{port}/x"),
            "127.0.0.1 is a loopback address",
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/x"),
            "::ffff:127.0.0.1 is a loopback address",
        ),
        (
            format!("http://0.0.0.0:{port}/x"),
            "0.0.0.0 is an unspecified (\"this network\") address",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "169.254.169.254 is a link-local address",
        ),
        (
            "http://10.0.0.1:8330/".to_owned(),
            "10.0.0.1 is a private address",
        ),
        (
            "http://100.64.0.1/".to_owned(),
            "100.64.0.1 is a carrier-grade NAT address",
        ),
    ] {
        let exec = fetch(&d, 1, &url);
        assert_eq!(exec["status"], "denied", "{url}: {exec:#}");
        assert!(error(&exec).contains(kind), "{url}: {}", error(&exec));
        let audit = audit_of(&d, &exec);
        assert_eq!(audit[0]["decision"], "denied", "{url}");
        assert_eq!(audit[0]["target"], url.as_str());
    }

    // A dry-run POST to a name that is loopback is planned as refused.
    d.grant(PACK, "http", "localhost");
    let exec = d.json(
        1,
        &[
            "run",
            "ssrf.fetch",
            "method=POST",
            &format!("url=http://localhost:{port}/x"),
            "--dry-run",
        ],
    );
    let plan = exec["plan"].as_array().unwrap();
    assert_eq!(plan.len(), 1, "{exec:#}");
    assert_eq!(plan[0]["decision"], "denied");
    assert!(
        plan[0]["reason"]
            .as_str()
            .unwrap()
            .contains("a loopback address"),
        "{exec:#}"
    );
    assert_eq!(
        rec.seen(),
        Vec::<String>::new(),
        "a refused request was sent"
    );

    // A network entry names the range: then a name resolving into it works.
    d.grant(PACK, "http", "localhost, 127.0.0.0/8");
    let exec = fetch(&d, 0, &format!("http://localhost:{port}/named"));
    assert_eq!(exec["result"]["status"], 200, "{exec:#}");
    assert_eq!(rec.seen(), ["GET /named"]);
}

#[test]
fn probes_of_a_name_resolving_to_loopback_are_refused() {
    let d = ssrf();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    d.grant(PACK, "probe", "localhost");

    let exec = d.json(
        1,
        &[
            "run",
            "ssrf.probe",
            "host=localhost",
            &format!("port={port}"),
        ],
    );
    assert_eq!(exec["status"], "denied", "{exec:#}");
    assert!(
        error(&exec).contains("localhost resolved to") && error(&exec).contains("loopback"),
        "{exec:#}"
    );
    let audit = audit_of(&d, &exec);
    assert_eq!(audit[0]["capability"], "probe");
    assert_eq!(audit[0]["decision"], "denied");
    let target = audit[0]["target"].as_str().unwrap();
    assert!(
        target.starts_with(&format!("localhost:{port} -> ")) && target.contains("127.0.0.1"),
        "{target}"
    );
    assert_eq!(
        listener.accept().map(drop).map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock),
        "a refused probe connected"
    );

    // Ping too.
    let exec = d.json(1, &["run", "ssrf.probe", "host=localhost"]);
    assert_eq!(exec["status"], "denied", "{exec:#}");
    assert!(error(&exec).contains("loopback"), "{exec:#}");

    // Granted by address, the probe connects.
    d.grant(PACK, "probe", "127.0.0.1");
    let exec = d.json(
        0,
        &[
            "run",
            "ssrf.probe",
            "host=127.0.0.1",
            &format!("port={port}"),
        ],
    );
    assert_eq!(exec["result"]["reachable"], true, "{exec:#}");
}
