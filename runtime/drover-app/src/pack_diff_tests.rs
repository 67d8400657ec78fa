//! The diff of two manifests, catalogs and grant sets, without a store.

use std::collections::BTreeMap;

use drover_core::{Grant, GrantId};
use drover_pack::{Pack, WorkflowEntry, parse_manifest};
use drover_store::{InstalledPack, PackCatalog};

use super::*;

const OLD: &str = "\
name: ops
version: 0.1.0
triggers:
  no_contact:
    description: A node went silent.
    payload:
      node: {type: string, required: true}
plugins:
  reboot:
    kind: action
    component: components/reboot.wasm
    parameters:
      node: {type: string, required: true}
    capabilities: [log, nodes.reboot]
  ping:
    kind: action
    component: components/ping.wasm
    parameters:
      timeout_ms: {type: integer, default: 2000}
    capabilities: [log, probe]
  heal:
    kind: action
    runner: workflow
    entry: workflows/heal.yaml
";

const WORKFLOW_OLD: &str = "\
version: 1.0
input:
  - node
tasks:
  ping:
    action: ops.ping
    next:
      - when: \"{{ failed() }}\"
        do: reboot
  reboot:
    action: ops.reboot node=\"{{ ctx().node }}\"
";

const RULE_OLD: &str = "\
name: on_no_contact
pack: ops
enabled: true
trigger:
  type: ops.no_contact
criteria:
  trigger.node:
    type: matchwildcard
    pattern: \"b*\"
action:
  ref: ops.heal
  parameters:
    node: \"{{ trigger.node }}\"
";

fn pack(text: &str, workflow: &str) -> Pack {
    let mut p = parse_manifest(Path::new("pack.yaml"), text).unwrap();
    for plugin in &mut p.plugins {
        if let Some(w) = &mut plugin.workflow {
            *w = WorkflowEntry {
                text: workflow.to_owned(),
                ..w.clone()
            };
        }
    }
    p
}

fn installed(p: &Pack, live: bool, shadow: bool) -> InstalledPack {
    InstalledPack {
        name: p.name.clone(),
        version: p.version.clone(),
        manifest: serde_json::to_value(p).unwrap(),
        source_dir: "/tmp".into(),
        installed_at_ms: 1,
        installed_by: "user:t".into(),
        shadow,
        live,
        digests: [
            ("reboot".to_owned(), format!("sha256:reboot-{}", p.version)),
            ("ping".to_owned(), "sha256:ping".to_owned()),
        ]
        .into(),
        signer: None,
    }
}

fn grant(p: &InstalledPack, plugin: &str, cap: &str, scope: &str) -> Grant {
    Grant {
        id: GrantId::new(),
        pack: p.name.clone(),
        version: p.version.clone(),
        capability: cap.into(),
        scope: scope.into(),
        digests: BTreeMap::from([(plugin.to_owned(), p.digests[plugin].clone())]),
        created_at_ms: 1,
        created_by: "user:t".into(),
        revoked_at_ms: None,
    }
}

/// 0.1.0 (live, granted nodes.reboot and probe) and a 0.2.0 that asks
/// for http in ping, narrows the rule's criterion, adds a task, raises
/// ping's timeout and reboots with a new component; only probe is
/// granted to it.
fn two() -> PackDiff {
    let old = pack(OLD, WORKFLOW_OLD);
    let new_text = OLD
        .replace("version: 0.1.0", "version: 0.2.0")
        .replace("[log, probe]", "[log, probe, http]")
        .replace("default: 2000", "default: 5000");
    let new = pack(
        &new_text,
        &format!("{WORKFLOW_OLD}  alarm:\n    action: ops.ping\n"),
    );
    let (a, b) = (installed(&old, true, false), installed(&new, false, true));
    let grants_a = [
        grant(&a, "reboot", "nodes.reboot", "cluster=batch"),
        grant(&a, "ping", "probe", "*"),
    ];
    let grants_b = [grant(&b, "ping", "probe", "*")];
    let cat = |rule: &str, policy: &str| PackCatalog {
        rules: vec![("ops.on_no_contact".into(), rule.into(), true)],
        policies: vec![("ops.one_at_a_time".into(), policy.into())],
    };
    let cat_a = cat(RULE_OLD, "name: one_at_a_time\nthreshold: 1\n");
    let cat_b = cat(
        &RULE_OLD.replace("\"b*\"", "\"b7*\""),
        "name: one_at_a_time\nthreshold: 1\n",
    );
    diff(
        &Version {
            installed: &a,
            pack: &old,
            catalog: &cat_a,
            grants: &grants_a,
        },
        &Version {
            installed: &b,
            pack: &new,
            catalog: &cat_b,
            grants: &grants_b,
        },
    )
}

#[test]
fn a_new_capability_comes_first_then_grants_the_new_version_lacks() {
    let d = two();
    let first = &d.capabilities[0];
    assert_eq!(
        (
            first.plugin.as_str(),
            first.capability.as_str(),
            first.change
        ),
        ("ping", "http", Change::Added),
        "{:#?}",
        d.capabilities
    );
    assert!(first.needs_grant && first.missing_grant);
    assert!(
        first.note.contains("new in 0.2.0: needs a grant"),
        "{}",
        first.note
    );
    let reboot = d
        .capabilities
        .iter()
        .find(|c| c.capability == "nodes.reboot")
        .unwrap();
    assert_eq!(reboot.change, Change::Unchanged);
    assert_eq!(reboot.granted_from, ["cluster=batch"]);
    assert!(reboot.granted_to.is_empty() && reboot.missing_grant);
    assert_eq!(
        reboot.note,
        "0.1.0 has 'cluster=batch'; 0.2.0 has no grant: denied once 0.2.0 is live"
    );
    let probe = d
        .capabilities
        .iter()
        .find(|c| c.capability == "probe")
        .unwrap();
    assert!(!probe.missing_grant);
    assert_eq!(probe.note, "granted the same to both: '*'");
    // What to look at, in order: new, then grants that differ, then the rest.
    let order: Vec<&str> = d
        .capabilities
        .iter()
        .map(|c| c.capability.as_str())
        .collect();
    assert_eq!(order[..2], ["http", "nodes.reboot"], "{order:?}");
    let worth: Vec<&str> = d
        .capability_changes()
        .map(|c| c.capability.as_str())
        .collect();
    assert_eq!(worth, ["http", "nodes.reboot"]);
}

#[test]
fn a_changed_rule_shows_the_criterion_and_a_line_diff() {
    let d = two();
    assert_eq!(d.rules.len(), 1, "{:#?}", d.rules);
    let rule = &d.rules[0];
    assert_eq!(
        (rule.name.as_str(), rule.change),
        ("ops.on_no_contact", Change::Changed)
    );
    assert_eq!(
        rule.fields
            .iter()
            .map(FieldChange::line)
            .collect::<Vec<_>>(),
        ["criteria.trigger.node.pattern: b* → b7*"]
    );
    let changed: Vec<String> = rule
        .lines
        .iter()
        .filter(|l| l.tag != LineTag::Same)
        .map(DiffLine::unified)
        .collect();
    assert_eq!(
        changed,
        ["…", "-    pattern: \"b*\"", "+    pattern: \"b7*\""]
    );
    assert!(d.policies.is_empty(), "the same policy text: no change");
}

#[test]
fn workflows_actions_and_triggers_show_what_changed() {
    let d = two();
    let w = &d.workflows[0];
    assert_eq!((w.name.as_str(), w.change), ("ops.heal", Change::Changed));
    assert_eq!(w.entry, "workflows/heal.yaml");
    assert_eq!(w.tasks.len(), 1, "{:#?}", w.tasks);
    assert_eq!(
        (w.tasks[0].name.as_str(), w.tasks[0].change),
        ("alarm", Change::Added)
    );
    assert!(w.fields.is_empty(), "{:#?}", w.fields);
    assert!(
        w.lines
            .iter()
            .any(|l| l.tag == LineTag::Added && l.text == "  alarm:")
    );

    let lines = |name: &str| -> Vec<String> {
        d.plugins
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("{name}: {:#?}", d.plugins))
            .fields
            .iter()
            .map(FieldChange::line)
            .collect()
    };
    assert_eq!(
        lines("ops.ping"),
        ["parameters.timeout_ms.default: 2000 → 5000"]
    );
    assert_eq!(
        lines("ops.reboot"),
        ["component: sha256:reboot-0.1.0 → sha256:reboot-0.2.0"]
    );
    assert!(d.triggers.is_empty());
    assert!(!d.is_empty());
    assert_eq!(
        d.headline(),
        "ops@0.1.0 → 0.2.0: 1 new capability; 2 capabilities lack their grant in 0.2.0; \
         changed: 1 rule, 1 workflow, 2 actions and sensors"
    );
}

#[test]
fn the_same_version_twice_differs_in_nothing() {
    let p = pack(OLD, WORKFLOW_OLD);
    let i = installed(&p, true, false);
    let cat = PackCatalog::default();
    let v = Version {
        installed: &i,
        pack: &p,
        catalog: &cat,
        grants: &[],
    };
    let d = diff(&v, &v);
    assert!(d.is_empty(), "{d:#?}");
    assert!(d.headline().ends_with("no difference"), "{}", d.headline());
    let text = render_text(&d);
    assert!(
        text.contains("the same capabilities, granted the same"),
        "{text}"
    );
}

#[test]
fn an_added_item_is_all_added_lines_and_text_is_kept_as_text() {
    let lines = line_diff("", "name: x\nscript: \"<script>alert(1)</script>\"\n");
    assert_eq!(
        lines,
        [
            DiffLine {
                tag: LineTag::Added,
                text: "name: x".into()
            },
            DiffLine {
                tag: LineTag::Added,
                text: "script: \"<script>alert(1)</script>\"".into()
            },
        ]
    );
    let far = (0..20).map(|i| format!("l{i}\n")).collect::<String>();
    let d = line_diff(&far, &far.replace("l10\n", "ten\n"));
    assert_eq!(
        d[0].tag,
        LineTag::Gap,
        "unchanged lines before are left out"
    );
    assert_eq!(d.len(), 1 + 3 + 2 + 3, "{d:#?}");
    assert_eq!(d.last().unwrap().tag, LineTag::Same);
}
