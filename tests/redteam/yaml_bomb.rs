//! Hole 11a: YAML that expands without bound. A pack's workflow of a few
//! hundred bytes whose nested aliases ("billion laughs") stand for 9^9
//! values must be refused at install at once, in bounded memory, with the
//! file and line; the same for a rule (read by the other YAML reader) and
//! for a pack file too large to be a real one.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// Peak resident memory allowed to a `drover pack install` of a bomb.
pub const MAX_RSS_KB: u64 = 200 << 10;

/// How a bounded run ended.
pub struct Bounded {
    pub output: Output,
    /// Peak resident set of the process (`ru_maxrss`), KiB.
    pub peak_kb: u64,
    pub elapsed: Duration,
    /// Why it was killed, if it was.
    pub killed: Option<String>,
}

/// Runs `cmd`, killing it (SIGKILL) once its resident memory passes
/// `max_kb` or it runs longer than `max_time` (so that the test cannot
/// take the machine down before the fix), and reports its peak memory.
pub fn run_bounded(mut cmd: Command, max_kb: u64, max_time: Duration) -> Bounded {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn drover");
    let pid = child.id() as libc::pid_t;
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out_pipe, &mut v).ok();
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err_pipe, &mut v).ok();
        v
    });
    let mut killed = None;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: plain syscall on our own child; `usage` is written by it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break (status, usage);
        }
        assert_eq!(r, 0, "wait4: {}", std::io::Error::last_os_error());
        // Not reaped yet, so the pid is still our child's.
        let rss_kb = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .unwrap_or(0);
        if killed.is_none() {
            if rss_kb > max_kb {
                killed = Some(format!("resident memory reached {rss_kb} KiB"));
            } else if started.elapsed() > max_time {
                killed = Some(format!("still running after {max_time:?}"));
            }
            if killed.is_some() {
                // SAFETY: signalling our own unreaped child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    // The child is reaped by wait4; std's handle must not wait again.
    std::mem::forget(child);
    let output = Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(status),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    Bounded {
        output,
        peak_kb: usage.ru_maxrss as u64,
        elapsed,
        killed,
    }
}

/// A redteam pack (components copied in) in this test's directory.
pub fn hostile_pack(d: &Drover, name: &str) -> std::path::PathBuf {
    let src = repo().join("tests/redteam/packs").join(name);
    let dst = d.dir.path().join("packs").join(name);
    copy_dir(&src, &dst);
    dst
}

fn install_bounded(d: &Drover, dir: &std::path::Path) -> Bounded {
    let mut cmd = d.cmd();
    cmd.args(["pack", "install", dir.to_str().unwrap()]);
    run_bounded(cmd, MAX_RSS_KB * 2, Duration::from_secs(60))
}

fn assert_refused_small(b: &Bounded, what: &str) {
    assert!(
        b.killed.is_none(),
        "{what}: drover was killed: {} (after {:?})\nstderr:\n{}",
        b.killed.as_deref().unwrap_or(""),
        b.elapsed,
        stderr(&b.output)
    );
    assert_ne!(b.output.status.code(), Some(0), "{what} was installed");
    assert!(
        b.peak_kb < MAX_RSS_KB,
        "{what}: drover peaked at {} KiB resident (limit {MAX_RSS_KB} KiB)",
        b.peak_kb
    );
    assert!(
        b.elapsed < Duration::from_secs(10),
        "{what}: took {:?}",
        b.elapsed
    );
}

#[test]
fn a_workflow_alias_bomb_is_refused_quickly_in_bounded_memory() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    let dir = hostile_pack(&d, "yaml_bomb");
    let text = std::fs::read_to_string(dir.join("workflows/laughs.yaml")).unwrap();
    assert!(text.len() < 600, "the bomb is small: {} bytes", text.len());

    let b = install_bounded(&d, &dir);
    assert_refused_small(&b, "the workflow bomb");
    let err = stderr(&b.output);
    // File, line (the alias that crossed the limit), and what to do.
    assert!(err.contains("laughs.yaml:"), "{err}");
    assert!(err.contains("aliases expand this document beyond"), "{err}");
    assert!(err.contains("at vars["), "the field: {err}");
    assert!(err.contains("write the values out"), "{err}");
    // Nothing was installed.
    let packs = d.json(0, &["pack", "list"]);
    assert!(!packs.to_string().contains("yaml_bomb"), "{packs}");
}

#[test]
fn a_rule_alias_bomb_is_refused_with_its_file_and_line() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    let dir = hostile_pack(&d, "yaml_bomb_rule");
    let b = install_bounded(&d, &dir);
    assert_refused_small(&b, "the rule bomb");
    let err = stderr(&b.output);
    // `rules/laughs.yaml:LINE:COLUMN: action.parameters.…: …`
    let at = err.find("rules/laughs.yaml:").expect("names the file") + "rules/laughs.yaml:".len();
    assert!(
        err[at..].starts_with(|c: char| c.is_ascii_digit()),
        "names the line: {err}"
    );
    assert!(err.contains("action.parameters."), "names the field: {err}");
    assert!(
        err.contains("once its aliases are expanded") && err.contains("write the values out"),
        "{err}"
    );
    let packs = d.json(0, &["pack", "list"]);
    assert!(!packs.to_string().contains("yaml_bomb_rule"), "{packs}");
}

#[test]
fn an_oversized_pack_file_is_refused_unread() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    let dir = hostile_pack(&d, "yaml_bomb");
    // 8 MiB of comments: valid YAML, but no pack file is that large.
    let big = format!(
        "{}version: 1.0\ntasks:\n  t:\n    action: core.noop\n",
        "# padding padding padding padding padding padding padding padding\n".repeat(128 << 10)
    );
    std::fs::write(dir.join("workflows/laughs.yaml"), big).unwrap();
    let b = install_bounded(&d, &dir);
    assert_refused_small(&b, "the oversized workflow");
    let err = stderr(&b.output);
    assert!(
        err.contains("laughs.yaml") && err.contains("larger than 1024 KiB"),
        "{err}"
    );
}
