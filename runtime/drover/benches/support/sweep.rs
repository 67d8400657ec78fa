//! The webhook benchmarks' harness (`webhook_sweep`, `retention`): a pack
//! whose one rule runs `core.noop` on every signed webhook, the real
//! `drover serve` binary, an open-loop HTTP client, and reading back from
//! the database which webhook became which execution.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const SECRET: &str = "bench-hmac-key";
/// Keep-alive connections per step: a quarter of the rate, within these
/// bounds. More than `--max-in-flight` (4,096) at the top rates, so an
/// overloaded server must answer 429 rather than hold them all.
pub const CONNECTIONS: (u64, u64) = (64, 8_192);

pub const PACK: &str = "name: bench
version: 0.1.0
description: Benchmark pack - one webhook trigger type, core.noop as an action.
plugins:
  noop:
    kind: action
    description: core.noop.
    component: components/core_noop.wasm
    idempotent: true
    parameters: {}
triggers:
  event:
    description: One event.
    payload:
      i: {type: integer, required: true}
      status: {type: string}
    webhook:
      hmac_secret: bench.webhook
";

pub const RULE: &str = "name: down
pack: bench
description: Every event the sweep sends.
enabled: true
trigger: {type: bench.event}
criteria:
  trigger.i: {type: exists}
  trigger.status: {type: equals, pattern: down}
action: {ref: bench.noop}
";

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One request's outcome.
pub struct Sample {
    /// When it was due (wall clock, ms since the epoch).
    pub due_ms: i64,
    pub status: u16,
    /// The trigger instance id of a 202.
    pub id: Option<String>,
    pub retry_after: bool,
    pub round_trip: Duration,
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The `drover serve` process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set of the server so far, in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    }
}

pub fn drover(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_drover"));
    c.env("DROVER_DB", db).env("USER", "bench");
    c
}

pub fn run(db: &Path, args: &[&str], stdin: Option<&str>) {
    let mut child = drover(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run drover");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "drover {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn start_server(dir: &Path, db: &Path, extra: &[&str]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let child = drover(db)
        .args(["serve", "--listen", &addr.to_string(), "--workers", "4"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn drover serve");
    let server = Server { child, addr };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "drover serve did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// Reads one HTTP/1.1 response: status, whether it has Retry-After, body.
async fn read_response(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<(u16, bool, Vec<u8>)> {
    let eof = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed");
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(eof());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let retry_after = head.lines().any(|l| l.starts_with("retry-after:"));
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(eof());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + length].to_vec();
    buf.drain(..head_end + length);
    Ok((status, retry_after, body))
}

/// One keep-alive connection sending the requests it takes from `next`.
#[allow(clippy::too_many_arguments)]
async fn connection(
    mut stream: Option<TcpStream>,
    addr: SocketAddr,
    next: Arc<AtomicU64>,
    total: u64,
    rate: u64,
    start: tokio::time::Instant,
    start_ms: i64,
    base: u64,
) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            return out;
        }
        let offset = Duration::from_nanos(i * 1_000_000_000 / rate);
        tokio::time::sleep_until(start + offset).await;
        let body = format!(r#"{{"i":{},"status":"down"}}"#, base + i);
        let signature = drover_api::webhooks::sign(SECRET.as_bytes(), body.as_bytes());
        let request = format!(
            "POST /api/v1/webhooks/bench.event HTTP/1.1\r\nhost: {addr}\r\n\
             content-type: application/json\r\nx-drover-signature: {signature}\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        let sent = Instant::now();
        let due_ms = start_ms + offset.as_millis() as i64;
        let mut outcome = None;
        for _attempt in 0..3 {
            if stream.is_none() {
                buf.clear();
                stream = TcpStream::connect(addr).await.ok();
                if let Some(s) = &stream {
                    let _ = s.set_nodelay(true);
                }
            }
            let Some(s) = stream.as_mut() else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            if s.write_all(request.as_bytes()).await.is_err() {
                stream = None;
                continue;
            }
            match read_response(s, &mut buf).await {
                Ok(r) => {
                    outcome = Some(r);
                    break;
                }
                Err(_) => stream = None,
            }
        }
        let (status, retry_after, body) = outcome.unwrap_or((0, false, Vec::new()));
        let id = (status == 202)
            .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok())
            .flatten()
            .and_then(|v| v["id"].as_str().map(str::to_owned));
        out.push(Sample {
            due_ms,
            status,
            id,
            retry_after,
            round_trip: sent.elapsed(),
        });
    }
}

/// Sends `rate × seconds` webhooks open loop; returns every outcome and
/// the time sending took.
pub fn offer(addr: SocketAddr, rate: u64, seconds: f64, base: u64) -> (Vec<Sample>, Duration) {
    let total = (rate as f64 * seconds).round() as u64;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let next = Arc::new(AtomicU64::new(0));
        // Connected before the clock starts: a burst of thousands of
        // connects overflows the listen backlog, and a dropped SYN is
        // retried after a second, which would show up as latency.
        let conns = (rate / 4)
            .clamp(CONNECTIONS.0, CONNECTIONS.1)
            .min(total.max(1));
        let mut streams = Vec::with_capacity(conns as usize);
        for _ in 0..conns {
            let s = TcpStream::connect(addr).await.ok();
            if let Some(s) = &s {
                let _ = s.set_nodelay(true);
            }
            streams.push(s);
        }
        let start = tokio::time::Instant::now() + Duration::from_millis(20);
        let start_ms = now_ms() + 20;
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|stream| {
                tokio::spawn(connection(
                    stream,
                    addr,
                    next.clone(),
                    total,
                    rate,
                    start,
                    start_ms,
                    base,
                ))
            })
            .collect();
        let mut all = Vec::with_capacity(total as usize);
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        (all, start.elapsed())
    })
}

/// Each accepted trigger's executions: (count, latest finished_at).
pub fn executions_by_trigger(db: &Path) -> HashMap<String, (u32, i64)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT en.trigger_instance_id, x.finished_at FROM enforcements en
             JOIN executions x ON x.id = en.execution_id",
        )
        .unwrap();
    let mut out: HashMap<String, (u32, i64)> = HashMap::new();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .unwrap();
    for row in rows {
        let (id, at) = row.unwrap();
        let e = out.entry(id).or_default();
        e.0 += 1;
        e.1 = e.1.max(at);
    }
    out
}

pub fn queue_empty(db: &Path) -> bool {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(
        "SELECT (SELECT count(*) FROM trigger_instances WHERE state = 'pending')
              + (SELECT count(*) FROM execution_requests WHERE state IN ('requested', 'running'))",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 0
}

pub fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A database in `dir` with the bench pack installed (trusted) and its
/// webhook secret set.
pub fn install_bench_pack(dir: &Path) -> PathBuf {
    let pack = dir.join("bench");
    std::fs::create_dir_all(pack.join("components")).unwrap();
    std::fs::create_dir_all(pack.join("rules")).unwrap();
    std::fs::write(pack.join("pack.yaml"), PACK).unwrap();
    std::fs::write(pack.join("rules/down.yaml"), RULE).unwrap();
    let noop: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packs/core/components/core_noop.wasm");
    std::fs::copy(&noop, pack.join("components/core_noop.wasm"))
        .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask plugins` first", noop.display()));
    let db = dir.join("drover.db");
    run(
        &db,
        &["pack", "install", "--trusted", pack.to_str().unwrap()],
        None,
    );
    run(&db, &["secret", "set", "bench.webhook"], Some(SECRET));
    db
}

/// What became of a step's requests, once the queue has drained.
#[derive(Default)]
pub struct Summary {
    pub accepted: u64,
    pub busy: u64,
    pub other: u64,
    /// 202s without an execution, with more than one, 429s without Retry-After.
    pub lost: u64,
    pub doubled: u64,
    pub bare_429: u64,
    /// Due time to the execution's end, ms, sorted.
    pub latencies: Vec<i64>,
    /// The 202s' round trips, µs, sorted.
    pub round_trips: Vec<i64>,
}

/// Matches `samples` with the executions stored for them.
pub fn summarize(samples: &[Sample], stored: &HashMap<String, (u32, i64)>) -> Summary {
    let mut s = Summary::default();
    for sample in samples {
        match sample.status {
            202 => {
                s.accepted += 1;
                s.round_trips.push(sample.round_trip.as_micros() as i64);
                match sample.id.as_ref().and_then(|id| stored.get(id)) {
                    None => s.lost += 1,
                    Some((n, at)) => {
                        if *n > 1 {
                            s.doubled += 1;
                        }
                        s.latencies.push(at - sample.due_ms);
                    }
                }
            }
            429 => {
                s.busy += 1;
                if !sample.retry_after {
                    s.bare_429 += 1;
                }
            }
            _ => s.other += 1,
        }
    }
    s.latencies.sort_unstable();
    s.round_trips.sort_unstable();
    s
}

/// Waits (up to two minutes) until every accepted webhook has run.
pub fn drain(db: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !queue_empty(db) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}
