//! Hole: a pack's policies applied to any pack's actions. A shadow pack's
//! concurrency policy with `action: cancel` on `core.sleep` canceled live
//! runs a trusted rule started; its retry policy re-ran another pack's
//! action. A pack governs only itself: a policy naming another pack's
//! action refuses the pack at install (file, line, field, what to do); a
//! stored one (from before this check) is ignored when the catalog loads,
//! and a shadow pack's policies never touch a live execution.

use std::time::Duration;

use crate::support::server::{
    HMAC_KEY, Server, execution, executions, post_signed, processed, set_secret, wait_for,
};
use crate::support::*;

#[test]
fn a_policy_on_another_packs_action_refuses_the_pack() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    let meddler = pack_dir("tests/redteam/packs/meddler");
    let out = d.expect(2, &["pack", "install", meddler.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains(
            "policies/cancel_sleep.yaml:2:1: resource_ref: \"core.sleep\" is an action of pack \
             \"core\": a pack's policies may govern only its own actions (meddler.*)"
        ),
        "{err}"
    );
    assert!(err.contains("declare an action of your own"), "{err}");
    let listed = d.json(0, &["pack", "list"]);
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "nothing installed: {listed:#}"
    );
}

/// The events pack (trusted) with two more rules: `s*` nodes sleep 2 s,
/// `f*` nodes run core.fail.
fn trusted_events(d: &Drover) {
    let pack = d.copy_pack("tests/packs/events", "events");
    std::fs::write(
        pack.join("rules/sleepy.yaml"),
        "name: sleepy\npack: events\ndescription: Sleep on s* nodes.\nenabled: true\n\
         trigger:\n  type: events.ping\ncriteria:\n  trigger.node:\n    type: matchwildcard\n    \
         pattern: \"s*\"\naction:\n  ref: core.sleep\n  parameters:\n    seconds: 2\n",
    )
    .unwrap();
    std::fs::write(
        pack.join("rules/failing.yaml"),
        "name: failing\npack: events\ndescription: Fail on f* nodes.\nenabled: true\n\
         trigger:\n  type: events.ping\ncriteria:\n  trigger.node:\n    type: matchwildcard\n    \
         pattern: \"f*\"\naction:\n  ref: core.fail\n",
    )
    .unwrap();
    d.expect(0, &["pack", "install", "--trusted", pack.to_str().unwrap()]);
    set_secret(d, "events.webhook", HMAC_KEY);
}

/// A database written before packs were held to their own actions: the
/// shadow pack `meddler` has a cancel policy on core.sleep and a retry
/// policy on core.fail. Neither touches the trusted rules' live runs.
#[test]
fn a_stored_policy_of_a_shadow_pack_never_touches_another_packs_live_runs() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    trusted_events(&d);
    let meddler = d.copy_pack("tests/redteam/packs/meddler", "meddler");
    std::fs::remove_dir_all(meddler.join("policies")).unwrap();
    d.expect(0, &["pack", "install", meddler.to_str().unwrap()]);
    drover_store::Store::open(&d.db())
        .unwrap()
        .replace_pack_policies(
            "meddler",
            vec![
                (
                    "meddler.cancel_sleep".into(),
                    std::fs::read_to_string(
                        pack_dir("tests/redteam/packs/meddler").join("policies/cancel_sleep.yaml"),
                    )
                    .unwrap(),
                ),
                (
                    "meddler.retry_fail".into(),
                    "name: retry_fail\nresource_ref: core.fail\npolicy_type: action.retry\n\
                     parameters:\n  max_retry_count: 3\n"
                        .into(),
                ),
            ],
        )
        .unwrap();

    let server = Server::start(&d);
    let mut sleeps = Vec::new();
    for node in ["s1", "s2"] {
        let body = format!(r#"{{"node":"{node}"}}"#);
        let id = post_signed(&server, body.as_bytes()).accepted_id();
        let t = processed(&d, &server, &id);
        sleeps.push(
            t["enforcements"][0]["execution_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for id in &sleeps {
        let e = execution(&d, &server, id);
        assert_eq!(e["dry_run"], false, "{e:#}");
        assert_eq!(
            e["status"], "succeeded",
            "a shadow pack's policy canceled a trusted rule's live run: {e:#}"
        );
    }
    let id = post_signed(&server, br#"{"node":"f1"}"#).accepted_id();
    let t = processed(&d, &server, &id);
    let failed = t["enforcements"][0]["execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = execution(&d, &server, &failed);
    assert_eq!(e["status"], "failed", "{e:#}");
    // A retry would be queued in the same transaction: give it time to run.
    std::thread::sleep(Duration::from_millis(500));
    let fails = wait_for("the core.fail executions", Duration::from_secs(10), || {
        Some(
            executions(&d)
                .into_iter()
                .filter(|e| e["action"] == "core.fail")
                .count(),
        )
    });
    assert_eq!(fails, 1, "a shadow pack's retry policy re-ran core.fail");
    assert!(
        server
            .log()
            .contains("ignoring a policy on another pack's action"),
        "the operator can see it: {}",
        server.log()
    );
}
