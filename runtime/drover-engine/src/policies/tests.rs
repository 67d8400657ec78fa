use std::path::Path;

use drover_core::{ExecStatus, ExecutionId, ExecutionRequest};
use serde_json::{Value, json};

use super::*;

fn parse(text: &str) -> Result<Policy, String> {
    let actions = vec!["reboot".to_owned(), "power".to_owned()];
    Policy::parse(Path::new("policies/p.yaml"), text, "ops", Some(&actions))
        .map_err(|e| e.to_string())
}

fn request(action: &str, parameters: Value) -> ExecutionRequest {
    ExecutionRequest {
        id: ExecutionId::new(),
        action: action.into(),
        parameters,
        dry_run: false,
        actor: "user:t".into(),
        enforcement_id: None,
        requested_at_ms: 1,
        pack_version: None,
    }
}

#[test]
fn a_keyed_shared_semaphore_parses_and_renders_per_node() {
    let p = parse(
        "name: bmc\nresource_ref: ops.reboot\npolicy_type: action.concurrency\nparameters:\n  \
         threshold: 1\n  semaphore: bmc\n  key: \"{{ node }}\"\n",
    )
    .unwrap();
    assert_eq!(p.reference, "ops.bmc");
    let policies = Policies::new(vec![p]);
    let needs = policies
        .slots(&request("ops.reboot", json!({"node": "b7s01"})))
        .unwrap();
    assert_eq!(
        needs,
        vec![SlotNeed {
            semaphore: "ops:bmc".into(),
            key: "b7s01".into(),
            threshold: 1,
            cancel: false,
            policy: "ops.bmc".into()
        }]
    );
    // Another action has no policy; a dry run takes no slot.
    assert!(
        policies
            .slots(&request("ops.power", json!({})))
            .unwrap()
            .is_empty()
    );
    let mut dry = request("ops.reboot", json!({"node": "b7s01"}));
    dry.dry_run = true;
    assert!(policies.slots(&dry).unwrap().is_empty());
    // A key that cannot render refuses the request with the reason.
    let err = policies
        .slots(&request("ops.reboot", json!({})))
        .unwrap_err();
    assert!(err.contains("policy ops.bmc"), "{err}");
}

#[test]
fn a_key_renders_once_so_parameters_stay_data() {
    let p = parse(
        "name: k\nresource_ref: ops.reboot\npolicy_type: action.concurrency\nparameters:\n  \
         threshold: 2\n  key: \"{{ node }}\"\n",
    )
    .unwrap();
    let needs = Policies::new(vec![p])
        .slots(&request("ops.reboot", json!({"node": "{{ 7*7 }}"})))
        .unwrap();
    assert_eq!(needs[0].key, "{{ 7*7 }}");
    // Without `semaphore:`, the count is per action (st2).
    assert_eq!(needs[0].semaphore, "ops.reboot");
}

#[test]
fn st2_attr_policies_and_retry_policies_parse() {
    let p = parse(
        "name: a\nresource_ref: ops.reboot\npolicy_type: action.concurrency.attr\nparameters:\n  \
         threshold: 1\n  action: cancel\n  attributes: [node]\n",
    )
    .unwrap();
    let needs = Policies::new(vec![p])
        .slots(&request("ops.reboot", json!({"node": "x"})))
        .unwrap();
    assert_eq!(needs[0].key, "\"x\"");
    assert!(needs[0].cancel);

    let r = parse(
        "name: r\nresource_ref: ops.power\npolicy_type: action.retry\nparameters:\n  \
         retry_on: [failure, timeout]\n  max_retry_count: 3\n  delay: 500ms\n",
    )
    .unwrap();
    assert_eq!(
        r.kind,
        PolicyKind::Retry(RetryRule {
            on: vec![ExecStatus::Failed, ExecStatus::Timeout],
            max_retries: 3,
            delay_ms: 500
        })
    );
    let policies = Policies::new(vec![r]);
    assert_eq!(policies.retry("ops.power", false).unwrap().max_retries, 3);
    assert!(policies.retry("ops.reboot", false).is_none());
}

#[test]
fn bad_policies_name_the_line_and_field() {
    let cases = [
        (
            "name: a\nresource_ref: ops.reboot\npolicy_type: action.concurency\n",
            "policies/p.yaml:3:1: policy_type: unknown policy type \"action.concurency\": did you mean \"action.concurrency\"?",
        ),
        (
            "name: a\nresource_ref: ops.rebot\npolicy_type: action.concurrency\nparameters: {threshold: 1}\n",
            "policies/p.yaml:2:1: resource_ref: pack ops has no action \"rebot\"; did you mean ops.reboot?",
        ),
        (
            "name: a\nresource_ref: ops.reboot\npolicy_type: action.concurrency\nparameters:\n  threshold: 0\n",
            "policies/p.yaml:5:3: parameters.threshold: 0 is out of range",
        ),
        (
            "name: a\nresource_ref: ops.reboot\npolicy_type: action.concurrency\nparameters:\n  threshold: 1\n  action: drop\n",
            "policies/p.yaml:6:3: parameters.action: unknown action \"drop\"",
        ),
        (
            "name: a\nresource_ref: ops.reboot\npolicy_type: action.retry\nparameters:\n  max_retry_count: 2\n  threshold: 1\n",
            "policies/p.yaml:6:3: parameters.threshold: threshold belongs to concurrency policies",
        ),
        (
            "name: a\nresource_ref: ops.reboot\npolicy_type: action.concurrency\nparameters:\n  threshold: 1\n  key: \"{{ node \"\n",
            "policies/p.yaml:6:3: parameters.key: not a valid template",
        ),
        (
            "name: a\nresource_ref: ops.reboot\npolicy_type: action.concurrency\nparameters:\n  treshold: 1\n",
            "policies/p.yaml:5:3: parameters.treshold: unknown key \"treshold\"; did you mean \"threshold\"?",
        ),
        (
            "name: a\npack: other\nresource_ref: ops.reboot\npolicy_type: action.retry\n",
            "policies/p.yaml:2:1: pack: the policy says pack \"other\"",
        ),
    ];
    for (text, want) in cases {
        let got = parse(text).unwrap_err();
        assert!(got.starts_with(want), "{text}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn a_pack_governs_only_its_own_actions() {
    let err = parse(
        "name: s\nresource_ref: core.sleep\npolicy_type: action.concurrency\nparameters:\n  \
         threshold: 1\n  action: cancel\n",
    )
    .unwrap_err();
    assert!(
        err.starts_with(
            "policies/p.yaml:2:1: resource_ref: \"core.sleep\" is an action of pack \"core\": a \
             pack's policies may govern only its own actions (ops.*)"
        ),
        "{err}"
    );
    // Stored before the rule: read without the pack's actions, then ignored.
    let stored = Policy::parse(
        Path::new("ops.s"),
        "name: s\nresource_ref: core.sleep\npolicy_type: action.retry\nparameters:\n  \
         max_retry_count: 3\n",
        "ops",
        None,
    )
    .unwrap();
    let policies = Policies::new(vec![stored]);
    assert!(policies.retry("core.sleep", false).is_none());
}

#[test]
fn a_shadow_packs_policies_touch_only_dry_runs() {
    let c = parse(
        "name: c\nresource_ref: ops.reboot\npolicy_type: action.concurrency\nparameters:\n  \
         threshold: 1\n  action: cancel\n",
    )
    .unwrap();
    let r = parse(
        "name: r\nresource_ref: ops.power\npolicy_type: action.retry\nparameters:\n  \
         max_retry_count: 3\n",
    )
    .unwrap();
    let policies = Policies::scoped(vec![c, r], |pack| pack == "ops");
    assert!(
        policies
            .slots(&request("ops.reboot", json!({})))
            .unwrap()
            .is_empty()
    );
    assert!(policies.retry("ops.power", false).is_none());
    assert_eq!(policies.retry("ops.power", true).unwrap().max_retries, 3);
}
