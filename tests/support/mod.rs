//! Shared harness for the end-to-end tests: a scratch database per test,
//! the real `drover` binary, and the bundled packs' built components.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

pub mod history;
pub mod ports;
pub mod registry;
pub mod server;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A pack directory of the repository, e.g. `packs/core` or
/// `tests/packs/hostile`, with its components built.
pub fn pack_dir(rel: &str) -> PathBuf {
    let dir = repo().join(rel);
    let components = dir.join("components");
    assert!(
        components.is_dir() && std::fs::read_dir(&components).unwrap().next().is_some(),
        "{} has no built components: run `cargo xtask plugins` first (`cargo xtask test` does)",
        dir.display()
    );
    dir
}

/// One test's drover: its own database in a temporary directory.
pub struct Drover {
    pub dir: tempfile::TempDir,
}

impl Drover {
    pub fn new() -> Drover {
        Drover {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("drover.db")
    }

    pub fn cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_drover"));
        c.env("DROVER_DB", self.db())
            .env("USER", "tester")
            .current_dir(repo());
        c
    }

    /// Runs drover with `args`; returns the output whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run drover")
    }

    /// Runs drover with `input` on its standard input and `envs` set;
    /// returns the output whatever the exit code.
    pub fn run_with_input(&self, args: &[&str], input: &str, envs: &[(&str, &str)]) -> Output {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .cmd()
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run drover");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().expect("run drover")
    }

    /// Runs drover and asserts it exited with `code`.
    pub fn expect(&self, code: i32, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "drover {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs drover with `--json` appended and parses stdout.
    pub fn json(&self, code: i32, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.expect(code, &all);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "drover {all:?} printed no JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Installs packs by repository-relative path.
    pub fn install(&self, rels: &[&str]) {
        for rel in rels {
            let dir = pack_dir(rel);
            self.expect(0, &["pack", "install", dir.to_str().unwrap()]);
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The last non-empty line a command printed, trimmed (e.g. the id that
/// `grant add` prints last).
pub fn last_line(o: &Output) -> String {
    stdout(o)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// Copies a directory tree (a pack with its components) to `dst`.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// Rewrites one line of `<dir>/pack.yaml`: `from` must occur exactly once.
pub fn edit_manifest(dir: &Path, from: &str, to: &str) {
    edit_file(&dir.join("pack.yaml"), from, to);
}

/// Replaces `from`, which must occur exactly once in file `path`, by `to`.
pub fn edit_file(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} in {}",
        path.display()
    );
    std::fs::write(path, text.replace(from, to)).unwrap();
}

impl Drover {
    /// Copies the repository pack `rel` (with its built components) into
    /// this test's directory as `name`, for a test to alter.
    pub fn copy_pack(&self, rel: &str, name: &str) -> PathBuf {
        let dst = self.dir.path().join("packs").join(name);
        copy_dir(&pack_dir(rel), &dst);
        dst
    }

    /// `drover token create --role ROLE --name ROLE`: the token (alone on
    /// the last line).
    pub fn token(&self, role: &str) -> String {
        last_line(&self.expect(0, &["token", "create", "--role", role, "--name", role]))
    }

    /// `drover key new --name NAME --dir DIR/keys`: the private key's path
    /// (the public one is beside it, `NAME.pub`).
    #[allow(dead_code)]
    pub fn new_key(&self, name: &str) -> PathBuf {
        let keys = self.dir.path().join("keys");
        self.expect(
            0,
            &[
                "key",
                "new",
                "--name",
                name,
                "--dir",
                keys.to_str().unwrap(),
            ],
        );
        keys.join(name)
    }

    /// `drover pack sign TARGET --key KEY` (an archive or a directory).
    #[allow(dead_code)]
    pub fn sign(&self, target: &Path, key: &Path) {
        let out = self.expect(
            0,
            &[
                "pack",
                "sign",
                target.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        );
        assert!(stdout(&out).contains("signed "), "{}", stdout(&out));
    }

    /// `drover grant add PACK CAP --scope SCOPE`; returns the grant id.
    pub fn grant(&self, pack: &str, capability: &str, scope: &str) -> String {
        let out = self.expect(0, &["grant", "add", pack, capability, "--scope", scope]);
        last_line(&out)
    }

    /// `drover budget set rack-one --strategy groupsemaphore --label rack
    /// --max 1`: at most one node per rack out.
    pub fn budget_rack_one(&self) {
        self.expect(
            0,
            &[
                "budget",
                "set",
                "rack-one",
                "--strategy",
                "groupsemaphore",
                "--label",
                "rack",
                "--max",
                "1",
            ],
        );
    }

    /// Whether the audit log has a release of the storm brake whose reason
    /// contains `said` (the operator's "why", or just "released").
    pub fn brake_release_audited(&self, said: &str) -> bool {
        let audit = self.json(0, &["audit", "list", "--pack", "drover"]);
        audit.as_array().unwrap().iter().any(|a| {
            a["capability"] == "fleet.brake" && a["reason"].as_str().unwrap_or("").contains(said)
        })
    }

    /// Reports `node`'s health as monitoring would, through
    /// `demo.report_health` (which needs the `nodes.health` grant).
    pub fn report_health(&self, node: &str, health: &str, detail: &str) {
        self.expect(
            0,
            &[
                "run",
                "demo.report_health",
                &format!("node={node}"),
                &format!("health={health}"),
                &format!("detail={detail}"),
            ],
        );
    }
}

/// The most nodes of one rack that were out of production at the same
/// time, replayed from the database's node history (every state change
/// the fleet controller made), with each node's `rack` label.
pub fn most_out_per_rack(db: &Path) -> usize {
    use std::collections::{HashMap, HashSet};
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut rack_of = HashMap::new();
    let mut stmt = conn.prepare("SELECT name, labels FROM nodes").unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    for row in rows {
        let (name, labels) = row.unwrap();
        let labels: Value = serde_json::from_str(&labels).unwrap();
        rack_of.insert(name, labels["rack"].as_str().unwrap_or("").to_owned());
    }
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    let mut most = 0;
    let mut stmt = conn
        .prepare(
            "SELECT node, to_state FROM node_history WHERE from_state != to_state ORDER BY at, id",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    for row in rows {
        let (node, to) = row.unwrap();
        let rack = out.entry(rack_of[&node].clone()).or_default();
        if to == "production" {
            rack.remove(&node);
        } else {
            rack.insert(node);
        }
        most = most.max(rack.len());
    }
    most
}
