//! Hole 13: `drover serve` as an anonymous client sees it. Connections
//! that never finish their request head are cut off, connections past the
//! cap get a 503 (and the server serves again once they go), webhook
//! bodies are refused before they are read when their headers already
//! say no, webhook names cannot be told apart without credentials, and
//! every page carries the security headers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::server::{
    Server, agent, events_drover, post, post_signed, signature, triggers,
};
use crate::support::{Drover, last_line};

/// Sends `request` on a new connection and reads until the server closes
/// it or `within` passes; returns what arrived.
fn raw(addr: SocketAddr, request: &[u8], within: Duration) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    read_answer(&mut s, within)
}

/// Reads until the connection closes, an answer's head and declared body
/// have arrived, or `within` passes.
fn read_answer(s: &mut TcpStream, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok());
            if len.is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Whether the server closed `s` within `within` (EOF or reset).
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 256];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn half_sent_request_heads_are_cut_off_and_do_not_stop_service() {
    let d = events_drover();
    // The default header timeout (10 s) and connection cap (512).
    let server = Server::start_with(&d, &["--grace", "2s"]);
    let started = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..300)
        .map(|i| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            let part: &[u8] = if i % 3 == 0 {
                b""
            } else {
                b"POST /api/v1/webhooks/events.ping HTTP/1.1\r\nHost: x\r\nContent-Le"
            };
            s.write_all(part).unwrap();
            s
        })
        .collect();
    // With 300 stalled clients, a normal client is served at once.
    let health = agent(Duration::from_secs(5))
        .get(format!("http://{}/healthz", server.addr))
        .call()
        .unwrap_or_else(|e| panic!("/healthz with 300 stalled clients: {e}\n{}", server.log()));
    assert_eq!(health.status(), 200);
    let id = post_signed(&server, br#"{"node":"a1","message":"served"}"#).accepted_id();
    assert!(!id.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "served only after {:?}",
        started.elapsed()
    );

    // Every stalled connection is closed by the server after the header
    // timeout, not before.
    let mut open = 0;
    for s in &mut stalled {
        let left = Duration::from_secs(25).saturating_sub(started.elapsed());
        if !closed_within(s, left) {
            open += 1;
        }
    }
    let took = started.elapsed();
    assert_eq!(
        open, 0,
        "{open} of 300 half-sent connections still open after {took:?}"
    );
    assert!(
        took >= Duration::from_secs(9),
        "closed after {took:?}, before the 10 s header timeout"
    );
    eprintln!("300 stalled connections closed after {took:?}");

    // And the server still serves.
    let health = agent(Duration::from_secs(5))
        .get(format!("http://{}/healthz", server.addr))
        .call()
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[test]
fn past_the_connection_cap_new_connections_get_503_and_service_resumes() {
    let d = events_drover();
    let server = Server::start_with(
        &d,
        &[
            "--grace",
            "2s",
            "--max-connections",
            "16",
            "--header-timeout",
            "30s",
        ],
    );
    let mut held: Vec<TcpStream> = (0..16)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // The server takes them in order; on a loaded machine it may not have
    // accepted all 16 yet, and a 17th is then still served. And a closing
    // connection holds its slot while it lingers (up to 2 s): the start's
    // readiness probe can make the cap refuse one of the 16, leaving 15.
    // So ask again, holding one more each time, until the cap is reached
    // (a server without one never refuses, and the deadline fails it).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let answer = raw(
            server.addr,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            Duration::from_secs(5),
        );
        if answer.starts_with("HTTP/1.1 503") || std::time::Instant::now() > deadline {
            break answer;
        }
        held.push(TcpStream::connect(server.addr).unwrap());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "the 17th connection: {answer:?}\n{}",
        server.log()
    );
    assert!(
        held.len() <= 18,
        "refused only after {} held connections: the cap is 16",
        held.len()
    );
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("retry-after: 1"), "{answer}");
    assert!(lower.contains("--max-connections"), "says why: {answer}");
    // The operator sees it in the log.
    assert!(
        server.log().contains("refusing connections"),
        "{}",
        server.log()
    );

    // Once the held connections go, the server serves again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = raw(
            server.addr,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        );
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not serving after the held connections closed: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = post_signed(&server, br#"{"node":"a1","message":"after"}"#).accepted_id();
    assert!(!id.is_empty());
}

#[test]
fn unknown_and_real_webhooks_answer_the_anonymous_the_same() {
    let d = events_drover();
    let server = Server::start(&d);
    let agent = agent(Duration::from_secs(30));
    let body = br#"{"node":"b1","message":"probe"}"#;
    let wrong = drover_api::webhooks::sign(b"a-guessed-key", body);
    let credentials: [&[(&str, &str)]; 4] = [
        &[],
        &[("x-drover-signature", &wrong)],
        &[("x-drover-token", "a-guessed-token")],
        &[("x-drover-signature", "sha256=zz"), ("x-drover-token", "t")],
    ];
    for headers in credentials {
        let real = post(&agent, &server.url("events.ping"), headers, body).unwrap();
        let token_real = post(&agent, &server.url("events.token_ping"), headers, body).unwrap();
        assert_eq!(real.status, 401, "{headers:?}: {real:?}");
        for unknown in ["events.nope", "nope.nothing", "core.echo", "events.ping.x"] {
            let a = post(&agent, &server.url(unknown), headers, body).unwrap();
            assert_eq!(
                (a.status, &a.body),
                (real.status, &real.body),
                "{unknown} vs events.ping with {headers:?}"
            );
        }
        assert_eq!(
            (token_real.status, &token_real.body),
            (real.status, &real.body),
            "events.token_ping vs events.ping with {headers:?}"
        );
    }

    // Similar timing: a wrong signature costs the same work (a secret
    // lookup, the HMAC of the body) whether the webhook exists or not.
    let median = |url: &str| {
        let mut took: Vec<Duration> = (0..25)
            .map(|_| {
                let t = Instant::now();
                let a = post(&agent, url, &[("x-drover-signature", &wrong)], body).unwrap();
                assert_eq!(a.status, 401);
                t.elapsed()
            })
            .collect();
        took.sort();
        took[took.len() / 2]
    };
    let (real, unknown) = (
        median(&server.url("events.ping")),
        median(&server.url("events.nope")),
    );
    eprintln!("median 401: real {real:?}, unknown {unknown:?}");
    let gap = real.abs_diff(unknown);
    assert!(
        gap < Duration::from_millis(20) || gap < real.max(unknown) / 2,
        "real {real:?} vs unknown {unknown:?}"
    );
    assert_eq!(triggers(&d).len(), 0, "nothing stored");
}

#[test]
fn webhook_bodies_are_refused_before_they_are_sent_when_the_head_says_no() {
    let d = events_drover();
    let server = Server::start(&d);
    let sig = signature(b"whatever");
    // (what, head) pairs; none of them gets a byte of its body sent.
    let cases = [
        (
            "100 MB declared, signed",
            format!(
                "POST /api/v1/webhooks/events.ping HTTP/1.1\r\nHost: x\r\n\
                 Content-Type: application/json\r\nX-Drover-Signature: {sig}\r\n\
                 Content-Length: 104857600\r\n\r\n"
            ),
            "413",
        ),
        (
            "100 MB declared, to an unknown webhook",
            "POST /api/v1/webhooks/events.nope HTTP/1.1\r\nHost: x\r\n\
             Content-Length: 104857600\r\n\r\n"
                .to_owned(),
            "413",
        ),
        (
            "500 kB, no credentials",
            "POST /api/v1/webhooks/events.ping HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nContent-Length: 500000\r\n\r\n"
                .to_owned(),
            "401",
        ),
        (
            "500 kB, a wrong token",
            "POST /api/v1/webhooks/events.token_ping HTTP/1.1\r\nHost: x\r\n\
             X-Drover-Token: guessed\r\nContent-Length: 500000\r\n\r\n"
                .to_owned(),
            "401",
        ),
        (
            "500 kB, a stale timestamp",
            format!(
                "POST /api/v1/webhooks/events.ping HTTP/1.1\r\nHost: x\r\n\
                 X-Drover-Signature: {sig}\r\nX-Drover-Timestamp: 1000000000\r\n\
                 Content-Length: 500000\r\n\r\n"
            ),
            "401",
        ),
    ];
    for (what, head, status) in cases {
        let started = Instant::now();
        let answer = raw(server.addr, head.as_bytes(), Duration::from_secs(8));
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{what}: the answer before the body: {answer:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: answered after {:?}",
            started.elapsed()
        );
        assert!(answer.contains("\"error\""), "{what}: {answer}");
    }

    // A body that trickles in is cut off at the body timeout (408).
    drop(server);
    let server = Server::start_with(&d, &["--body-timeout", "2s"]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    let body = br#"{"node":"a1","message":"slow"}"#;
    s.write_all(
        format!(
            "POST /api/v1/webhooks/events.ping HTTP/1.1\r\nHost: x\r\n\
             X-Drover-Signature: {}\r\nContent-Length: {}\r\n\r\n",
            signature(body),
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    s.write_all(&body[..5]).unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut s, Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(triggers(&d).len(), 0, "nothing stored");
}

/// `POST /login` as `name`; the session cookie (`name=value`).
fn login(server: &Server, name: &str, password: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let resp = agent
        .post(format!("http://{}/login", server.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .send(format!("name={name}&password={}", form_encode(password)))
        .unwrap();
    assert_eq!(resp.status(), 303, "login");
    let cookie = resp
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn every_page_carries_the_security_headers() {
    let d: Drover = events_drover();
    let server = Server::start(&d);
    let out = d.expect(0, &["user", "add", "vera", "--role", "viewer"]);
    let cookie = login(&server, "vera", &last_line(&out));
    let agent = agent(Duration::from_secs(30));
    for (path, with_session) in [
        ("/login", false),
        ("/", true),
        ("/ui/", true),
        ("/ui/executions", true),
        ("/ui/packs", true),
        ("/ui/no-such-page", true),
        ("/api/v1/executions", false),
    ] {
        let mut req = agent.get(format!("http://{}{path}", server.addr));
        if with_session {
            req = req.header("cookie", &cookie);
        }
        let resp = req.call().unwrap();
        let h = resp.headers();
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{path}: no {name} ({})", resp.status()))
                .to_owned()
        };
        let csp = get("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(get("x-frame-options"), "DENY", "{path}");
        assert!(!get("referrer-policy").is_empty(), "{path}");
    }
}
