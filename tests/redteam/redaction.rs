//! Hole 7: what drover records about a call (the audit log, the
//! execution's plan, logs, error and result) is readable by every viewer
//! of `drover serve`. A pack that reads a secret and puts it into a URL's
//! user info and query, credential headers, a request body, an argv, its
//! log and its output would otherwise publish it there. drover masks URL
//! user info and query values, credential headers and argv values with
//! `***`, and every value the call read through `secrets.get` wherever it
//! appears; the requests themselves still carry the real values.
//!
//! The pack `leaky` (tests/redteam/packs/leaky, plugins/redteam/leak) does
//! all of that in one action.

use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::server::{Server, agent, set_secret};
use crate::support::{Drover, last_line, stdout};

const PACK: &str = "leaky@0.1.0";
const SECRET: &str = "s3cr3t-Value-9f2c";

/// One request as a server received it.
#[derive(Debug)]
struct Seen {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP server on 127.0.0.1 that answers 200 and sends each request it
/// received down the channel.
fn recorder() -> (u16, mpsc::Receiver<Seen>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            let seen = Seen {
                method: req.method().to_string(),
                url: req.url().to_owned(),
                headers: req
                    .headers()
                    .iter()
                    .map(|h| (h.field.to_string(), h.value.to_string()))
                    .collect(),
                body,
            };
            let _ = tx.send(seen);
            let _ = req.respond(tiny_http::Response::from_string("{}"));
        }
    });
    (port, rx)
}

/// `leaky` installed (shadowed: from outside drover's packs), a sim node,
/// the secret set and every grant the action needs.
fn leaky(port: u16) -> Drover {
    let d = Drover::new();
    d.install(&["tests/redteam/packs/leaky"]);
    let nodes = d.dir.path().join("nodes.yaml");
    std::fs::write(
        &nodes,
        "nodes:\n  - {name: n001, labels: {rack: r01}, driver: sim}\n",
    )
    .unwrap();
    d.expect(0, &["node", "import", nodes.to_str().unwrap()]);
    set_secret(&d, "leaky.token", SECRET);
    d.grant(PACK, "secrets", "leaky.token");
    d.grant(PACK, "http", &format!("127.0.0.1:{port}"));
    d.grant(PACK, "command", "*");
    d
}

fn leak(d: &Drover, port: u16, dry_run: bool) -> Value {
    let mut args = vec![
        "run".to_owned(),
        "leaky.leak".to_owned(),
        "secret=leaky.token".to_owned(),
        format!("base=http://127.0.0.1:{port}"),
        "node=n001".to_owned(),
    ];
    if dry_run {
        args.push("--dry-run".to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    d.json(0, &args)
}

/// Asserts the secret appears nowhere in `text` and the mask does.
fn masked(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what} shows the secret:\n{text}");
    assert!(text.contains("***"), "{what} shows no mask:\n{text}");
}

#[test]
fn a_secret_read_by_a_pack_appears_nowhere_a_viewer_reads() {
    let (port, received) = recorder();
    let d = leaky(port);

    // The dry run: the GET goes out live, the POST and the command are
    // planned (with the POST's headers and body).
    let dry = leak(&d, port, true);
    assert_eq!(dry["status"], "succeeded", "{dry:#}");
    let plan = serde_json::to_string_pretty(&dry["plan"]).unwrap();
    assert_eq!(dry["plan"].as_array().unwrap().len(), 2, "{plan}");
    masked("the plan", &plan);
    let post = &dry["plan"][0];
    assert_eq!(post["operation"], "POST", "{plan}");
    assert_eq!(
        post["target"],
        format!("http://***@127.0.0.1:{port}/leak?token=***&plain=***")
    );
    assert_eq!(post["request"]["headers"]["Authorization"], "***", "{plan}");
    assert_eq!(post["request"]["headers"]["X-Api-Key"], "***", "{plan}");
    assert_eq!(post["request"]["headers"]["X-Innocent"], "***", "{plan}");
    assert_eq!(post["request"]["body"], r#"{"token":"***"}"#, "{plan}");
    let command = &dry["plan"][1];
    assert_eq!(
        command["target"], "n001: echo --password *** token=***",
        "{plan}"
    );

    // The live run: the POST and the command happen too.
    let live = leak(&d, port, false);
    assert_eq!(live["status"], "succeeded", "{live:#}");

    // What the server received carried the real secret.
    let seen: Vec<Seen> = received.try_iter().collect();
    let get = seen
        .iter()
        .find(|s| s.method == "GET")
        .unwrap_or_else(|| panic!("no GET arrived: {seen:#?}"));
    assert_eq!(get.url, format!("/leak?token={SECRET}&plain=yes"));
    assert_eq!(
        get.header("Authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    assert_eq!(get.header("X-Api-Key"), Some(SECRET));
    if !live["dry_run"].as_bool().unwrap_or(true) {
        let post = seen
            .iter()
            .find(|s| s.method == "POST")
            .unwrap_or_else(|| panic!("no POST arrived: {seen:#?}"));
        assert_eq!(post.body, format!(r#"{{"token":"{SECRET}"}}"#));
    }

    // The executions, as the CLI shows them.
    for exec in [&dry, &live] {
        let id = exec["id"].as_str().unwrap();
        let shown = d.json(0, &["exec", "get", id]);
        let text = serde_json::to_string_pretty(&shown).unwrap();
        masked("drover exec get", &text);
        assert_eq!(shown["result"]["leaked"], "***", "{text}");
        let logs = serde_json::to_string(&shown["logs"]).unwrap();
        masked("the execution's logs", &logs);
        assert!(logs.contains("read the secret: ***"), "{logs}");
        assert!(logs.contains("[stdout] stdout: ***"), "{logs}");
        assert!(logs.contains("[stderr] stderr: ***"), "{logs}");
    }

    // The audit log, as the CLI shows it.
    let audit = d.json(0, &["audit", "list"]);
    let text = serde_json::to_string_pretty(&audit).unwrap();
    masked("drover audit list", &text);
    assert!(
        text.contains(&format!(
            "http://***@127.0.0.1:{port}/leak?token=***&plain=***"
        )),
        "{text}"
    );
    assert!(
        text.contains("n001: echo --password *** token=***"),
        "{text}"
    );

    // The audit log and the executions, as a viewer of the API reads them.
    let out = d.expect(
        0,
        &["token", "create", "--role", "viewer", "--name", "viewer"],
    );
    let viewer = last_line(&out);
    assert!(viewer.starts_with("drover_"), "{}", stdout(&out));
    let server = Server::start(&d);
    let http = agent(Duration::from_secs(30));
    for path in [
        "/api/v1/audit".to_owned(),
        format!("/api/v1/executions/{}", dry["id"].as_str().unwrap()),
        format!("/api/v1/executions/{}", live["id"].as_str().unwrap()),
    ] {
        let url = format!("http://{}{path}", server.addr);
        let mut resp = http
            .get(&url)
            .header("Authorization", &format!("Bearer {viewer}"))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(resp.status(), 200, "GET {path}");
        let body = resp.body_mut().read_to_string().unwrap();
        masked(&format!("GET {path} as a viewer"), &body);
    }
}
