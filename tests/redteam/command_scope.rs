//! Hole 5: a `command` grant is scoped to nodes.
//!
//! `drover grant add P command --scope uptime` used to let P run `uptime`
//! on every node of the fleet, although the scope docs said the node is
//! checked. A command scope is now `NODES: COMMANDS` (a label selector,
//! then argv patterns), checked against the node's labels when the command
//! runs; a grant without a node part is refused, and one stored before
//! matches no node and is flagged by `drover grant list`.
//!
//! The default simulated fleet answers `uptime` for its nodes (n001 is in
//! rack r01, n900 in rack r23), so no ssh server is needed.

use serde_json::Value;

use crate::support::{Drover, stderr, stdout};

fn testkit() -> Drover {
    let d = Drover::new();
    d.install(&["tests/packs/testkit"]);
    d
}

/// `uptime` on `node` through testkit.remote, whatever the exit code.
fn uptime_on(d: &Drover, node: &str) -> Value {
    let node = format!("node={node}");
    let out = d.run(&[
        "run",
        "testkit.remote",
        &node,
        r#"argv=["uptime"]"#,
        "--json",
    ]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}{}", stdout(&out), stderr(&out)))
}

#[test]
fn a_command_grant_covers_only_the_nodes_it_names() {
    let d = testkit();
    let unscoped = d.run(&[
        "grant",
        "add",
        "testkit@0.1.0",
        "command",
        "--scope",
        "uptime",
    ]);
    let far = uptime_on(&d, "n900");
    assert_ne!(
        far["status"], "succeeded",
        "`uptime` ran on n900 (rack r23) under a grant that named no node: {far}"
    );

    // A grant must name its nodes; the refusal shows the form.
    assert_eq!(unscoped.status.code(), Some(2), "{}", stdout(&unscoped));
    let err = stderr(&unscoped);
    assert!(
        err.contains(
            "invalid command scope \"uptime\": a command grant names the nodes and the \
             commands, `NODES: COMMANDS`: write e.g. `rack=r01: uptime` (or `*: uptime` \
             for every node)"
        ),
        "{err}"
    );
    assert_eq!(
        err.matches("invalid command scope").count(),
        1,
        "the message once, not repeated by its cause: {err}"
    );

    let grant = d.grant("testkit@0.1.0", "command", "rack=r01: uptime");
    let near = uptime_on(&d, "n001");
    assert_eq!(near["status"], "succeeded", "{near}");
    assert!(
        near["result"]["stdout"]
            .as_str()
            .unwrap()
            .contains("load average"),
        "{near}"
    );

    let far = uptime_on(&d, "n900");
    assert_eq!(far["status"], "denied", "{far}");
    assert_eq!(
        far["error"],
        format!(
            "denied: n900: uptime is outside the granted scope of command: \
             'rack=r01: uptime' (grant {grant})"
        )
    );
    let audit = d.json(0, &["audit", "list", "--exec", far["id"].as_str().unwrap()]);
    assert_eq!(audit[0]["capability"], "command");
    assert_eq!(audit[0]["target"], "n900: uptime");
    assert_eq!(audit[0]["decision"], "denied");
}

#[test]
fn a_stored_grant_without_nodes_matches_no_node_and_is_flagged() {
    let d = testkit();
    let grant = d.grant("testkit@0.1.0", "command", "rack=r01: uptime");
    // A grant given before scopes named nodes, as it is stored.
    let conn = rusqlite::Connection::open(d.db()).unwrap();
    conn.execute("UPDATE grants SET scope = 'uptime' WHERE id = ?1", [&grant])
        .unwrap();
    drop(conn);

    let near = uptime_on(&d, "n001");
    assert_eq!(
        near["status"], "denied",
        "a grant without a node part still ran `uptime` on n001: {near}"
    );
    let error = near["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "'uptime' (grant {grant}: no node part: it matches no node; revoke it and grant \
             `NODES: uptime`"
        )),
        "{error}"
    );

    let list = stdout(&d.expect(0, &["grant", "list"]));
    assert!(list.contains("MATCHES NOTHING"), "{list}");
    assert!(
        list.contains(&format!(
            "grant {grant} (testkit@0.1.0 command): no node part: it matches no node"
        )),
        "{list}"
    );
}
