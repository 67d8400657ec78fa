//! The `command` driver with real processes: configured argv run without a
//! shell, `{node}` filled in, failures with exit code and stderr, timeouts
//! that kill.

use std::time::{Duration, Instant};

use drover_fleet::driver::{Driver, DriverError, NodeTarget, PowerAction, SecretLookup};
use drover_fleet::drivers::command::CommandDriver;
use serde_json::{Value, json};

struct NoSecrets;

impl SecretLookup for NoSecrets {
    fn secret(&self, name: &str) -> Result<String, String> {
        Err(format!("no secret named {name:?}"))
    }
}

fn node<'a>(name: &'a str, options: &'a Value) -> NodeTarget<'a> {
    NodeTarget {
        name,
        options,
        secrets: &NoSecrets,
    }
}

#[test]
fn drain_undrain_and_reboot_run_their_argv_with_the_node_filled_in() {
    let dir = tempfile::tempdir().unwrap();
    let at = |f: &str| dir.path().join(f).display().to_string();
    let options = json!({
        "drain": ["touch", at("{node}.drained")],
        "undrain": ["rm", at("{node}.drained")],
        "reboot": ["mkdir", at("{node}-{action}")],
        "up": ["test", "-e", at("{node}.drained")],
        // Shell syntax in an argument is plain text: no shell runs it.
        "ssh": {"address": "ignored by drivers"},
    });
    let node = node("n007", &options);
    let driver = CommandDriver;

    assert!(!driver.is_up(&node).unwrap());
    driver.drain(&node).unwrap();
    assert!(dir.path().join("n007.drained").exists());
    assert!(driver.is_up(&node).unwrap());
    driver.undrain(&node).unwrap();
    assert!(!dir.path().join("n007.drained").exists());
    driver.reboot(&node, PowerAction::ForceRestart).unwrap();
    assert!(dir.path().join("n007-ForceRestart").is_dir());
}

#[test]
fn arguments_are_never_interpreted_by_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let options = json!({
        "drain": ["echo", format!("$(touch {})", marker.display()), ";", "touch", marker.display().to_string()],
    });
    CommandDriver
        .drain(&node("n1; rm -rf /", &options))
        .unwrap();
    assert!(!marker.exists());
}

#[test]
fn a_failing_command_reports_its_exit_code_and_stderr() {
    let options = json!({
        "drain": ["ls", "/no/such/dir/{node}"],
        "undrain": ["false"],
    });
    let err = CommandDriver.drain(&node("n003", &options)).unwrap_err();
    assert!(matches!(err, DriverError::Failed { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("n003: drain command `ls /no/such/dir/n003` exited with 2: ")
            && text.contains("No such file or directory"),
        "{text}"
    );
    assert_eq!(
        CommandDriver
            .undrain(&node("n003", &options))
            .unwrap_err()
            .to_string(),
        "n003: undrain command `false` exited with 1 (no stderr)"
    );
    let missing = json!({"drain": ["no-such-drain-tool", "{node}"]});
    assert_eq!(
        CommandDriver
            .drain(&node("n003", &missing))
            .unwrap_err()
            .to_string(),
        "n003: drain command: program \"no-such-drain-tool\" not found (is it installed and on \
         drover's PATH?)"
    );
}

#[test]
fn a_command_past_its_timeout_is_killed() {
    let options = json!({"reboot": ["sleep", "10"], "timeout_seconds": 1});
    let started = Instant::now();
    let err = CommandDriver
        .reboot(&node("n004", &options), PowerAction::GracefulRestart)
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, DriverError::Timeout { seconds: 1, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "n004: the reboot command `sleep 10` (killed) did not answer within 1 s"
    );
}

#[test]
fn bad_or_missing_options_name_the_field() {
    let cases = [
        (
            json!({"drain": "scontrol update"}),
            "n001: bad driver options: drain: invalid type: string \"scontrol update\", expected a sequence",
        ),
        (
            json!({"drain": []}),
            "n001: bad driver options: drain: an empty argv; give the program and its arguments, \
             e.g. drain: [scontrol, update, \"nodename={node}\", ...]",
        ),
        (
            json!({"drain": ["scontrol", "nodename={nodes}"]}),
            "n001: bad driver options: drain[1]: unknown placeholder {nodes} in \"nodename={nodes}\" \
             (known: {node}, {action})",
        ),
        (
            json!({"drian": ["x"]}),
            "n001: bad driver options: drian: unknown field `drian`, expected one of `drain`, \
             `undrain`, `reboot`, `up`, `timeout_seconds`",
        ),
        (
            json!({"drain": ["x"], "timeout_seconds": 0}),
            "n001: bad driver options: timeout_seconds: 0 is out of range (1 to 86400)",
        ),
        (
            json!({"undrain": ["x"]}),
            "n001: bad driver options: no `drain` command: add `drain: [program, args...]` to \
             the node's options",
        ),
    ];
    for (options, want) in cases {
        let err = CommandDriver.drain(&node("n001", &options)).unwrap_err();
        assert!(matches!(err, DriverError::Config { .. }), "{err:?}");
        assert_eq!(err.to_string(), want);
    }
}
