//! The `command` and `probe` host interfaces against real peers.
//!
//! `command`: each test starts an OpenSSH server (`sshd -D -e -f CONFIG`,
//! Debian's openssh-server) on a free loopback port with a fresh host key
//! and an authorized client key, running as the current user. drover finds
//! the client key, the known hosts and an ssh config mapping node `n001`
//! to that port in its ssh directory beside the database, as an operator
//! would set it up. `probe`: tcp-connect to a listening and a closed port,
//! ping of loopback. Real binary, real components, fresh database per test.

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::Drover;

const SSHD: &str = "/usr/sbin/sshd";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn keygen(path: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "drover-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen (Debian: apt-get install openssh-client)");
    assert!(out.status.success(), "{out:?}");
    std::fs::read_to_string(path.with_extension("pub")).unwrap()
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// An sshd for one test, and drover's ssh directory pointing at it.
struct Sshd {
    child: Child,
    dir: tempfile::TempDir,
    /// drover's ssh directory (beside the test's database).
    ssh_dir: PathBuf,
    host_key_line: String,
}

impl Sshd {
    fn start(d: &Drover) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install Debian's openssh-server (bash .ci/run does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let host_key = dir.path().join("host_key");
        let host_pub = keygen(&host_key);
        let ssh_dir = d.dir.path().join("ssh");
        std::fs::create_dir_all(&ssh_dir).unwrap();
        let client_pub = keygen(&ssh_dir.join("id_ed25519"));
        let authorized = dir.path().join("authorized_keys");
        std::fs::write(&authorized, client_pub).unwrap();
        let port = free_port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                 AuthorizedKeysFile {}\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                 PermitRootLogin prohibit-password\nLogLevel VERBOSE\n",
                host_key.display(),
                dir.path().join("sshd.pid").display(),
                authorized.display(),
            ),
        )
        .unwrap();
        // As root, sshd wants its privilege separation directory.
        if whoami() == "root" {
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let log = std::fs::File::create(dir.path().join("sshd.log")).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let key_fields: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        let host_key_line = format!("[127.0.0.1]:{port} {}\n", key_fields.join(" "));
        std::fs::write(ssh_dir.join("known_hosts"), &host_key_line).unwrap();
        std::fs::write(
            ssh_dir.join("config"),
            format!(
                "Host n001\n    HostName 127.0.0.1\n    Port {port}\n    User {}\n",
                whoami()
            ),
        )
        .unwrap();
        let mut sshd = Sshd {
            child,
            dir,
            ssh_dir,
            host_key_line,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = sshd.child.try_wait() {
                panic!("sshd exited ({status}):\n{}", sshd.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "sshd did not listen within 20 s:\n{}",
                sshd.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sshd
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn installed() -> Drover {
    let d = Drover::new();
    d.install(&["tests/packs/testkit"]);
    d
}

fn remote(d: &Drover, code: i32, argv: &[&str], extra: &[&str]) -> Value {
    let argv = format!("argv={}", serde_json::to_string(argv).unwrap());
    let mut args = vec!["run", "testkit.remote", "node=n001", argv.as_str()];
    args.extend_from_slice(extra);
    d.json(code, &args)
}

// ---- command ----

#[test]
fn command_runs_argv_on_the_node_over_ssh() {
    let d = installed();
    let sshd = Sshd::start(&d);
    d.grant(
        "testkit@0.1.0",
        "command",
        "name=n001: uptime; echo *; false",
    );

    let exec = remote(&d, 0, &["uptime"], &[]);
    assert_eq!(exec["status"], "succeeded", "{exec}\n{}", sshd.log());
    assert_eq!(exec["result"]["exit_code"], 0);
    let out = exec["result"]["stdout"].as_str().unwrap();
    assert!(out.contains("load average"), "{out}");

    // One element stays one argument on the node: no remote shell syntax.
    let marker = sshd.dir.path().join("pwned");
    let sneaky = format!("a; touch {}", marker.display());
    let exec = remote(&d, 0, &["echo", &sneaky], &[]);
    assert_eq!(exec["result"]["stdout"], format!("{sneaky}\n"));
    assert!(!marker.exists());

    // A non-zero exit is the command's answer, not an error.
    let exec = remote(&d, 0, &["false"], &[]);
    assert_eq!(exec["result"]["exit_code"], 1);

    let audit = d.json(
        0,
        &["audit", "list", "--exec", exec["id"].as_str().unwrap()],
    );
    assert_eq!(audit[0]["capability"], "command");
    assert_eq!(audit[0]["target"], "n001: false");
    assert_eq!(audit[0]["decision"], "allowed");
}

#[test]
fn an_argv_outside_the_grant_is_denied_and_nothing_runs() {
    let d = installed();
    let sshd = Sshd::start(&d);
    let marker = sshd.dir.path().join("touched");
    let marker = marker.to_str().unwrap();

    let exec = remote(&d, 1, &["touch", marker], &[]);
    assert_eq!(exec["status"], "denied");
    assert!(
        exec["error"]
            .as_str()
            .unwrap()
            .contains("no grant of command to testkit@0.1.0"),
        "{exec}"
    );

    let grant = d.grant(
        "testkit@0.1.0",
        "command",
        "name=n001: uptime; systemctl restart *",
    );
    let exec = remote(&d, 1, &["touch", marker], &[]);
    assert_eq!(exec["status"], "denied");
    assert_eq!(
        exec["error"],
        format!(
            "denied: n001: touch {marker} is outside the granted scope of command: \
             'name=n001: uptime; systemctl restart *' (grant {grant})"
        )
    );
    assert!(!Path::new(marker).exists());
    let audit = d.json(
        0,
        &["audit", "list", "--exec", exec["id"].as_str().unwrap()],
    );
    assert_eq!(audit[0]["decision"], "denied");
}

#[test]
fn a_dry_run_plans_the_command_and_runs_nothing() {
    let d = installed();
    let sshd = Sshd::start(&d);
    d.grant("testkit@0.1.0", "command", "*: touch *");
    let marker = sshd.dir.path().join("touched");
    let marker = marker.to_str().unwrap();

    let exec = remote(&d, 0, &["touch", marker], &["--dry-run"]);
    let plan = exec["plan"].as_array().unwrap();
    assert_eq!(plan.len(), 1, "{exec}");
    assert_eq!(plan[0]["capability"], "command");
    assert_eq!(plan[0]["operation"], "run");
    assert_eq!(plan[0]["target"], format!("n001: touch {marker}"));
    assert_eq!(plan[0]["decision"], "allowed");
    assert_eq!(exec["result"]["exit_code"], 0);
    assert!(!Path::new(marker).exists(), "a dry run ran the command");

    // The same call for real does run it.
    let exec = remote(&d, 0, &["touch", marker], &[]);
    assert_eq!(exec["result"]["exit_code"], 0, "{exec}\n{}", sshd.log());
    assert!(Path::new(marker).exists());
}

#[test]
fn an_unknown_host_key_is_refused() {
    let d = installed();
    let sshd = Sshd::start(&d);
    d.grant("testkit@0.1.0", "command", "name=n001: uptime");
    let known_hosts = sshd.ssh_dir.join("known_hosts");
    std::fs::write(&known_hosts, "").unwrap();

    let exec = remote(&d, 1, &["uptime"], &[]);
    assert_eq!(exec["status"], "failed");
    let error = exec["error"].as_str().unwrap();
    assert!(
        error.starts_with("ssh to n001 (n001) failed: ")
            && error.contains("Host key verification failed")
            && error.ends_with(&format!(
                "add the node's host key to {} (check its fingerprint first)",
                known_hosts.display()
            )),
        "{error}"
    );

    std::fs::write(&known_hosts, &sshd.host_key_line).unwrap();
    remote(&d, 0, &["uptime"], &[]);
}

#[test]
fn a_command_past_its_timeout_is_killed() {
    let d = installed();
    let _sshd = Sshd::start(&d);
    d.grant("testkit@0.1.0", "command", "name=n001: sleep *");
    let started = Instant::now();
    let exec = remote(&d, 1, &["sleep", "20"], &["timeout_ms=1500"]);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(exec["status"], "failed");
    assert_eq!(
        exec["error"],
        "`sleep 20` on n001 did not finish within 1500ms; the ssh session was killed"
    );
}

// ---- probe ----

fn probe(d: &Drover, code: i32, args: &[&str]) -> Value {
    let mut all = vec!["run", "testkit.probe"];
    all.extend_from_slice(args);
    d.json(code, &all)
}

#[test]
fn tcp_connect_tells_listening_from_closed_ports_for_granted_hosts_only() {
    let d = installed();
    let listening = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listening.local_addr().unwrap().port().to_string();
    let closed = free_port().to_string();

    let exec = probe(&d, 1, &["host=127.0.0.1", &format!("port={open}")]);
    assert_eq!(exec["status"], "denied");
    assert!(
        exec["error"]
            .as_str()
            .unwrap()
            .contains("drover grant add testkit@0.1.0 probe --scope '127.0.0.1'"),
        "{exec}"
    );

    d.grant("testkit@0.1.0", "probe", "127.0.0.1");
    let exec = probe(&d, 0, &["host=127.0.0.1", &format!("port={open}")]);
    assert_eq!(exec["result"]["reachable"], true, "{exec}");
    assert!(exec["result"]["latency_ms"].is_u64());
    assert!(
        exec["result"]["detail"]
            .as_str()
            .unwrap()
            .starts_with(&format!("connected to 127.0.0.1:{open} in ")),
        "{exec}"
    );

    let exec = probe(&d, 0, &["host=127.0.0.1", &format!("port={closed}")]);
    assert_eq!(exec["result"]["reachable"], false);
    assert_eq!(exec["result"]["latency_ms"], Value::Null);
    assert!(
        exec["result"]["detail"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{exec}"
    );

    // Probes are reads: a dry run probes for real and plans nothing.
    let exec = probe(
        &d,
        0,
        &["host=127.0.0.1", &format!("port={open}"), "--dry-run"],
    );
    assert_eq!(exec["result"]["reachable"], true);
    assert_eq!(exec["plan"], serde_json::json!([]));

    let audit = d.json(
        0,
        &["audit", "list", "--exec", exec["id"].as_str().unwrap()],
    );
    assert_eq!(audit[0]["capability"], "probe");
    assert_eq!(audit[0]["target"], format!("127.0.0.1:{open}"));
}

#[test]
fn ping_answers_for_a_granted_host() {
    let d = installed();
    d.grant("testkit@0.1.0", "probe", "127.0.0.1, localhost:22");
    let exec = probe(&d, 0, &["host=127.0.0.1"]);
    assert_eq!(exec["result"]["reachable"], true, "{exec}");
    // A host entry with a port never covers a ping.
    let exec = probe(&d, 1, &["host=localhost"]);
    assert_eq!(exec["status"], "denied");
}
