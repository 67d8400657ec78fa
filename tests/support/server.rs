//! `drover serve` for end-to-end tests: start it on a free port of
//! 127.0.0.1, post webhooks, poll the CLI until the pipeline has done its
//! work. Every wait is a poll with a deadline; every server is killed when
//! its guard drops, even when the test panics.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;

/// The HMAC key of `events.ping` (secret `events.webhook`).
pub const HMAC_KEY: &str = "webhook-key-for-tests";
/// The token of `events.token_ping` (secret `events.token`).
pub const TOKEN: &str = "token-for-tests";

/// How long a server may take to answer `/healthz` after it starts.
pub const STARTUP: Duration = Duration::from_secs(60);
/// How long the pipeline may take to process a handful of triggers.
pub const SETTLE: Duration = Duration::from_secs(60);
/// Between polls.
pub const POLL: Duration = Duration::from_millis(50);

/// A drover with `core` and the `events` test pack installed and the
/// webhook HMAC key set.
pub fn events_drover() -> Drover {
    let d = Drover::new();
    d.install(&["packs/core", "tests/packs/events"]);
    set_secret(&d, "events.webhook", HMAC_KEY);
    d
}

/// `printf VALUE | drover secret set NAME`.
pub fn set_secret(d: &Drover, name: &str, value: &str) {
    let out = d.run_with_input(&["secret", "set", name], value, &[]);
    assert!(
        out.status.success(),
        "drover secret set {name}: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

/// A running `drover serve`; killed (SIGKILL) and reaped on drop.
pub struct Server {
    pub child: Option<Child>,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Server {
    /// Starts `drover serve` on a free port of 127.0.0.1 and waits for
    /// `/healthz`. Retries with another port if the one picked was taken
    /// in between.
    pub fn start(d: &Drover) -> Server {
        Server::start_with(d, &["--grace", "10s"])
    }

    /// [`Server::start`] with more `drover serve` arguments.
    pub fn start_with(d: &Drover, extra: &[&str]) -> Server {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        for _attempt in 0..5 {
            let port = free_port();
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let n = STARTS.fetch_add(1, Ordering::SeqCst);
            let log = d.dir.path().join(format!("serve-{n}.log"));
            let file = std::fs::File::create(&log).unwrap();
            let child = d
                .cmd()
                .args(["serve", "--listen", &addr.to_string()])
                .args(extra)
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(file.try_clone().unwrap())
                .stderr(file)
                .spawn()
                .expect("spawn drover serve");
            let mut server = Server {
                child: Some(child),
                addr,
                log,
            };
            match server.wait_healthy() {
                Ok(()) => return server,
                Err(log) if log.contains("cannot listen") => continue,
                Err(log) => panic!("drover serve did not come up:\n{log}"),
            }
        }
        panic!("drover serve: no free port after 5 attempts");
    }

    /// Polls `/healthz` until it answers 200; on the process exiting or
    /// the deadline passing, returns its log.
    pub fn wait_healthy(&mut self) -> Result<(), String> {
        let agent = agent(Duration::from_secs(2));
        let url = format!("http://{}/healthz", self.addr);
        let child = self.child.as_mut().unwrap();
        let outcome = poll(STARTUP, POLL, || {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(Err(format!("exited {status}")));
            }
            match agent.get(&url).call() {
                Ok(resp) if resp.status() == 200 => Some(Ok(())),
                _ => None,
            }
        });
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err(why)) => Err(format!("{why}\n{}", self.log())),
            None => Err(format!(
                "no answer on /healthz within {STARTUP:?}\n{}",
                self.log()
            )),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, trigger: &str) -> String {
        format!("http://{}/api/v1/webhooks/{trigger}", self.addr)
    }

    /// Sends `signal` and waits (bounded) for the process to exit.
    pub fn signal_and_wait(&mut self, signal: i32, within: Duration) -> ExitStatus {
        // SAFETY: kill(2) on our own child's pid; it has not been reaped
        // yet, so the pid cannot have been reused.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
        let child = self.child.as_mut().unwrap();
        match poll(within, Duration::from_millis(20), || {
            child.try_wait().unwrap()
        }) {
            Some(status) => {
                self.child = None;
                status
            }
            None => panic!(
                "drover serve did not exit within {within:?} of signal {signal}\n{}",
                self.log()
            ),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP client that returns 4xx/5xx as responses, not errors.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// An HTTP answer: status and body (parsed as JSON when it is).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The `id` of a 202.
    pub fn accepted_id(&self) -> String {
        assert_eq!(self.status, 202, "expected 202, got {self:?}");
        self.json()["id"]
            .as_str()
            .unwrap_or_else(|| panic!("202 without an id: {self:?}"))
            .to_owned()
    }
}

pub fn post(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Answer, ureq::Error> {
    let mut req = agent.post(url).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body)?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()?;
    Ok(Answer { status, body })
}

pub fn signature(body: &[u8]) -> String {
    drover_api::webhooks::sign(HMAC_KEY.as_bytes(), body)
}

/// POSTs `body` to `events.ping` with a good signature.
pub fn post_signed(server: &Server, body: &[u8]) -> Answer {
    let sig = signature(body);
    post(
        &agent(Duration::from_secs(30)),
        &server.url("events.ping"),
        &[("x-drover-signature", &sig)],
        body,
    )
    .unwrap_or_else(|e| panic!("POST events.ping: {e}\n{}", server.log()))
}

/// `drover trigger list --json --limit 1000`.
pub fn triggers(d: &Drover) -> Vec<Value> {
    let v = d.json(0, &["trigger", "list", "--limit", "1000"]);
    v.as_array().expect("trigger list is an array").clone()
}

/// `drover exec list --json --limit 1000`.
pub fn executions(d: &Drover) -> Vec<Value> {
    let v = d.json(0, &["exec", "list", "--limit", "1000"]);
    v.as_array().expect("exec list is an array").clone()
}

/// Calls `f` every `every` until it returns `Some`, at most `within` and
/// at most `within / every + 1` times; `None` if it never did.
pub fn poll<T>(within: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    let max_rounds = within.as_millis() / every.as_millis().max(1) + 1;
    for _ in 0..max_rounds {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(every);
    }
    None
}

/// [`poll`] every [`POLL`], panicking on timeout.
pub fn wait_for<T>(what: &str, within: Duration, f: impl FnMut() -> Option<T>) -> T {
    poll(within, POLL, f).unwrap_or_else(|| panic!("timed out after {within:?} waiting for {what}"))
}

/// Waits until the trigger `id` is `processed`; returns its listing.
pub fn processed(d: &Drover, server: &Server, id: &str) -> Value {
    let mut last = Vec::new();
    poll(SETTLE, POLL, || {
        last = triggers(d);
        last.iter()
            .find(|t| t["id"] == id && t["state"] == "processed")
            .cloned()
    })
    .unwrap_or_else(|| {
        panic!(
            "trigger {id} not processed within {SETTLE:?}: {last:#?}\nserver log:\n{}",
            server.log()
        )
    })
}

/// Waits until execution `id` is stored; returns `drover exec get --json`.
pub fn execution(d: &Drover, server: &Server, id: &str) -> Value {
    let mut why = String::new();
    poll(SETTLE, POLL, || {
        let out = d.run(&["exec", "get", id, "--json"]);
        why = stderr(&out);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    })
    .unwrap_or_else(|| {
        panic!(
            "execution {id} not stored within {SETTLE:?}: {why}\nserver log:\n{}",
            server.log()
        )
    })
}

/// The one enforcement of a processed trigger, checked to be a scheduled
/// `events.echo_ping`; returns its execution id.
pub fn one_scheduled_echo(t: &Value) -> String {
    let enf = t["enforcements"].as_array().unwrap();
    assert_eq!(enf.len(), 1, "exactly one enforcement: {t:#}");
    assert_eq!(enf[0]["rule_ref"], "events.echo_ping", "{t:#}");
    assert_eq!(enf[0]["state"], "scheduled", "{t:#}");
    enf[0]["execution_id"]
        .as_str()
        .unwrap_or_else(|| panic!("scheduled without an execution id: {t:#}"))
        .to_owned()
}

/// `(requested, running)` requests in the execution queue, read directly
/// from the database (the CLI does not show the queue).
pub fn queue_depth(d: &Drover) -> (u64, u64) {
    drover_store::Store::open(&d.db())
        .unwrap()
        .queue_depth()
        .unwrap()
}

/// The walk a sensor pack written in another language passes
/// (tests/packs/pysensor, tests/packs/jssensor), built at `dir`: its plugin
/// `watch` ticks on every poll (`PACK.tick`, counting through kv, the
/// config's `label`), and turns a signed `report` webhook saying "down"
/// into one `PACK.no_contact`; `sensor list` counts both messages.
pub fn a_sensor_polls_and_handles_webhooks(d: &Drover, dir: &Path, pack: &str) {
    let key = format!("{pack}-hook-key");
    d.expect(0, &["pack", "install", dir.to_str().unwrap()]);
    // Shadowed (outside packs/): kv writes would only be planned.
    d.expect(0, &["pack", "promote", pack, "--reason", "reviewed"]);
    d.grant(&format!("{pack}@0.1.0"), "subscribe", "webhook:report");
    set_secret(d, &format!("{pack}.hook"), &key);
    let server = Server::start_with(d, &["--grace", "5s"]);
    let of_type = |t: &str| -> Vec<Value> {
        let t = format!("{pack}.{t}");
        let v = d.json(0, &["trigger", "list", "--type", &t, "--limit", "1000"]);
        v.as_array().expect("trigger list is an array").clone()
    };

    let ticks = wait_for("two tick triggers", Duration::from_secs(60), || {
        let list = of_type("tick");
        (list.len() >= 2).then_some(list)
    });
    let mut counts: Vec<i64> = ticks
        .iter()
        .map(|t| {
            assert_eq!(t["source"], format!("sensor:{pack}.watch"), "{t}");
            assert_eq!(t["payload"]["label"], "from-config", "{t}");
            t["payload"]["count"].as_i64().unwrap()
        })
        .collect();
    counts.sort();
    assert_eq!(&counts[..2], [1, 2], "kv counted across polls: {ticks:?}");

    let agent = agent(Duration::from_secs(30));
    let url = server.url(&format!("{pack}.report"));
    let sign = |body: &[u8]| drover_api::webhooks::sign(key.as_bytes(), body);
    let up = br#"{"host": "node-8", "status": "up"}"#;
    let down = br#"{"host": "node-9", "status": "down"}"#;
    for body in [&up[..], &down[..]] {
        let a = post(&agent, &url, &[("x-drover-signature", &sign(body))], body).unwrap();
        assert_eq!(a.status, 202, "{a:?}");
    }
    let found = wait_for("a no_contact trigger", Duration::from_secs(60), || {
        of_type("no_contact").into_iter().next()
    });
    assert_eq!(found["payload"]["node"], "node-9", "{found}");
    assert_eq!(found["payload"]["source"], "webhook:report", "{found}");
    assert_eq!(of_type("no_contact").len(), 1, "the `up` made none");

    let sensors = d.json(0, &["sensor", "list"]);
    let name = format!("{pack}.watch");
    let status = sensors
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{sensors}"));
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["messages"], 2, "{status}");
    assert_eq!(status["failures"], 0, "{status}");
    drop(server);
}
