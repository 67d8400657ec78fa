//! drover's local program runner: a program run as an argument vector,
//! never through a shell, with a deadline and bounded output. Shared by the
//! fleet's `command` driver and the plugin host's `command` and `probe`
//! interfaces (which run `ssh` and `ping`), so neither depends on the other.
//!
//! The child gets its own process group, so a timeout kills everything it
//! started (a wrapper script's `sleep` too), not just the first process.
//! stdin is empty; stdout and stderr are read on threads, keeping the first
//! and the last `cap` bytes of each so a chatty program cannot eat memory.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Why a program could not be run to its end.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("an empty argv: give the program and its arguments")]
    Empty,
    #[error("program {program:?} not found (is it installed and on drover's PATH?)")]
    NotFound { program: String },
    #[error("cannot start {program:?}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// The deadline passed; the process group was killed. Carries what it
    /// had printed by then (stdout, stderr).
    #[error("{program:?} did not finish within {after:?} and was killed")]
    TimedOut {
        program: String,
        after: Duration,
        output: Box<(Captured, Captured)>,
    },
}

/// A program that ran to its end.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Captured,
    pub stderr: Captured,
    pub elapsed: Duration,
}

impl Finished {
    /// "exited with 3" or "was killed by signal 9".
    pub fn describe_status(&self) -> String {
        match (self.status.code(), self.status.signal()) {
            (Some(code), _) => format!("exited with {code}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            (None, None) => "ended without an exit code".into(),
        }
    }
}

/// One output stream: its first and last `cap` bytes and its full length.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    head: Vec<u8>,
    tail: Vec<u8>,
    total: u64,
    cap: usize,
}

impl Captured {
    fn new(cap: usize) -> Captured {
        Captured {
            cap,
            ..Captured::default()
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let room = self.cap.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        self.tail.extend_from_slice(chunk);
        if self.tail.len() > 2 * self.cap.max(1) {
            let cut = self.tail.len() - self.cap;
            self.tail.drain(..cut);
        }
    }

    /// Bytes the stream carried in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether more than `cap` bytes came.
    pub fn truncated(&self) -> bool {
        self.total > self.head.len() as u64
    }

    /// The first `cap` bytes as text, with a note when more came.
    pub fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.head).into_owned();
        if self.truncated() {
            s.push_str(&format!(
                "\n[output truncated: {} of {} bytes kept]",
                self.head.len(),
                self.total
            ));
        }
        s
    }

    /// The last `max` bytes (at most `cap`) as trimmed text, for error
    /// messages: the end of stderr usually says what went wrong.
    pub fn tail_text(&self, max: usize) -> String {
        let start = self.tail.len().saturating_sub(max.min(self.cap));
        let text = String::from_utf8_lossy(&self.tail[start..]);
        let text = text.trim();
        if (self.tail.len() - start) < self.total as usize {
            format!("…{text}")
        } else {
            text.to_owned()
        }
    }
}

/// Runs `argv` with at most `timeout` and `cap` bytes kept per stream.
pub fn run(argv: &[String], timeout: Duration, cap: usize) -> Result<Finished, ProcessError> {
    let (program, args) = argv.split_first().ok_or(ProcessError::Empty)?;
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ProcessError::NotFound {
                program: program.clone(),
            },
            _ => ProcessError::Spawn {
                program: program.clone(),
                source,
            },
        })?;
    let (done_tx, done_rx) = mpsc::channel();
    let readers = [
        reader(
            child.stdout.take().map(|s| Box::new(s) as _),
            cap,
            done_tx.clone(),
        ),
        reader(child.stderr.take().map(|s| Box::new(s) as _), cap, done_tx),
    ];
    let deadline = started + timeout;
    let status = wait_until(&mut child, deadline);
    // Readers end when every holder of the pipes is gone; a leftover
    // grandchild may keep them open, so they get until the deadline too.
    let mut pending = 2;
    while status.is_some() && pending > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        match done_rx.recv_timeout(left) {
            Ok(()) => pending -= 1,
            Err(_) => break,
        }
    }
    if status.is_none() || pending > 0 {
        kill_group(&child);
        let _ = child.wait();
    }
    let [out, err] = readers.map(|r| r.join().unwrap_or_default());
    match status {
        Some(status) => Ok(Finished {
            status,
            stdout: out,
            stderr: err,
            elapsed: started.elapsed(),
        }),
        None => Err(ProcessError::TimedOut {
            program: program.clone(),
            after: timeout,
            output: Box::new((out, err)),
        }),
    }
}

type Stream = Box<dyn Read + Send>;

fn reader(
    stream: Option<Stream>,
    cap: usize,
    done: mpsc::Sender<()>,
) -> thread::JoinHandle<Captured> {
    thread::spawn(move || {
        let mut captured = Captured::new(cap);
        if let Some(mut stream) = stream {
            let mut buf = [0u8; 8192];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => captured.push(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        }
        let _ = done.send(());
        captured
    })
}

/// Polls the child until it exits or the deadline passes (`None`).
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    let mut nap = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(_) => return child.wait().ok(),
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        thread::sleep(nap.min(deadline - now));
        nap = (nap * 2).min(Duration::from_millis(25));
    }
}

fn kill_group(child: &Child) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a negative pid signals the process group the
    // child leads (process_group(0) above); no memory is involved.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn output_and_exit_code_are_returned() {
        let done = run(
            &argv(&["sh", "-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
            1024,
        )
        .unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(done.stdout.text(), "out\n");
        assert_eq!(done.stderr.tail_text(100), "err");
        assert_eq!(done.describe_status(), "exited with 3");
    }

    #[test]
    fn a_timeout_kills_the_whole_group() {
        let started = Instant::now();
        let err = run(
            &argv(&["sh", "-c", "echo started; sleep 30; echo never"]),
            Duration::from_millis(300),
            1024,
        )
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        match err {
            ProcessError::TimedOut { output, .. } => assert_eq!(output.0.text(), "started\n"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn output_is_capped_keeping_head_and_tail() {
        let done = run(
            &argv(&["sh", "-c", "seq 1 100000"]),
            Duration::from_secs(10),
            16,
        )
        .unwrap();
        assert!(done.stdout.truncated());
        assert!(
            done.stdout.text().starts_with("1\n2\n3\n"),
            "{}",
            done.stdout.text()
        );
        assert!(done.stdout.text().contains("of 588895 bytes kept"));
        assert!(done.stdout.tail_text(7).ends_with("100000"));
    }

    #[test]
    fn a_missing_program_is_named() {
        let err = run(&argv(&["no-such-program-here"]), Duration::from_secs(1), 10).unwrap_err();
        assert!(
            matches!(err, ProcessError::NotFound { ref program } if program == "no-such-program-here")
        );
        assert!(matches!(
            run(&[], Duration::from_secs(1), 10),
            Err(ProcessError::Empty)
        ));
    }
}
