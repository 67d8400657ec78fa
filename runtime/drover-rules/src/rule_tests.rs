//! Rule parsing: st2 rules load unchanged; mistakes get a place and a hint.

use std::path::Path;

use serde_json::json;

use super::*;

fn parse(text: &str) -> Result<Rule, ParseError> {
    Rule::parse(Path::new("rule.yaml"), text)
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const FULL: &str = r#"---
name: on_no_contact
pack: batchops
description: Reboot nodes that stopped reporting
enabled: true
trigger:
  type: batch.no_contact
  parameters: {}
criteria:
  trigger.node:
    type: matchwildcard
    pattern: "b*"
  trigger.node#maint:
    type: ninside
    pattern: "{{ kv.maintenance_nodes | from_json_string }}"
  trigger.minutes:
    type: gt
    pattern: 5
  trigger.checks:
    type: search
    condition: any
    pattern:
      item.name:
        type: equals
        pattern: ping
      item.ok:
        type: equals
        pattern: false
action:
  ref: batchops.handle_no_contact
  parameters:
    node: "{{ trigger.node }}"
    note: "no contact for {{ trigger.minutes }} min"
    fixed: 3
    nested: {a: ["{{ trigger.node }}", 1]}
drover:
  throttle: {once_within: 1h, group_by: [trigger.node]}
  threshold: {count: 3, within: 10m, group_by: ["trigger.node"]}
"#;

#[test]
fn parses_a_full_rule() {
    let r = parse(FULL).unwrap();
    assert_eq!(r.reference, "batchops.on_no_contact");
    assert!(r.enabled);
    assert_eq!(r.kind, RuleKind::Standard);
    assert_eq!(r.trigger.type_, "batch.no_contact");
    assert_eq!(r.action.reference, "batchops.handle_no_contact");
    let keys: Vec<&str> = r.criteria.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "trigger.node",
            "trigger.node#maint",
            "trigger.minutes",
            "trigger.checks"
        ]
    );
    assert_eq!(r.criteria[1].path.to_string(), "trigger.node");
    assert!(r.criteria[1].is_templated());
    assert_eq!(r.criteria[2].operator, Operator::GreaterThan);
    assert_eq!(r.criteria[2].operator_name, "gt");
    assert_eq!(r.criteria[2].pattern_source, Some(json!(5)));
    let (condition, children) = r.criteria[3].search().unwrap();
    assert_eq!(condition, Condition::Any);
    assert_eq!(children.len(), 2);
    assert_eq!(children[0].path.root(), crate::path::Root::Item);
    assert_eq!(
        r.throttle,
        Some(Throttle {
            once_within: std::time::Duration::from_secs(3600),
            group_by: vec![
                crate::path::KeyPath::parse("trigger.node", crate::path::Root::Trigger).unwrap()
            ],
        })
    );
    assert_eq!(
        r.threshold.as_ref().map(|t| (t.count, t.within.as_secs())),
        Some((3, 600))
    );
    let names: Vec<&str> = r.params.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["node", "note", "fixed", "nested"]);
    assert!(r.warnings.is_empty());
}

#[test]
fn st2_defaults() {
    let r = parse("name: r\ntrigger: {type: core.st2.webhook}\naction: {ref: core.local}").unwrap();
    assert_eq!(r.pack, "default");
    assert_eq!(r.reference, "default.r");
    assert!(!r.enabled, "st2's default is disabled");
    assert!(r.criteria.is_empty());
    assert!(r.action.parameters.is_empty());
    assert_eq!(r.throttle, None);
}

#[test]
fn accepts_st2_bookkeeping_and_shapes() {
    // As `st2 rule get -j` prints it, and as st2's own fixtures write it.
    let text = r#"{
        "id": "5f0c", "uid": "rule:examples:x", "ref": "examples.x",
        "name": "x", "pack": "examples", "enabled": true,
        "tags": [{"name": "t", "value": "v"}], "context": {"user": "admin"},
        "metadata_file": "rules/x.yaml",
        "type": {"ref": "backstop", "parameters": {}},
        "trigger": {"type": "core.st2.webhook", "parameters": {"url": "sample"},
                    "ref": "core.abc", "description": "d"},
        "criteria": {"trigger.body.name": {"pattern": "st2", "type": "equals"}},
        "action": {"ref": "core.local", "parameters": {"cmd": "echo {{trigger.body}}"},
                   "description": "d"}
    }"#;
    let r = parse(text).unwrap();
    assert_eq!(r.kind, RuleKind::Backstop);
    assert_eq!(r.trigger.parameters["url"], json!("sample"));
    // Names with spaces are st2-valid.
    assert!(parse("name: rule space\ntrigger: {type: t}\naction: {ref: p.a}").is_ok());
    // `criteria: null` and an empty map are no criteria.
    assert!(parse("name: r\ntrigger: {type: t}\ncriteria:\naction: {ref: p.a}").is_ok());
    assert!(parse("name: r\ntrigger: {type: t}\ncriteria: {}\naction: {ref: p.a}").is_ok());
}

#[test]
fn unknown_keys_get_a_suggestion() {
    assert_eq!(
        error("name: r\ntriger: {type: t}\naction: {ref: p.a}"),
        "rule.yaml:2:1: triger: unknown key \"triger\"; did you mean \"trigger\"? (valid keys: \
         name, pack, description, enabled, type, trigger, criteria, action, drover)"
    );
    let e = error("name: r\ntrigger: {type: t}\naction: {ref: p.a, params: {}}");
    assert!(
        e.contains("action.params: unknown key \"params\"; did you mean \"parameters\"?"),
        "{e}"
    );
    let e = error(
        "name: r\ntrigger: {type: t}\naction: {ref: p.a}\ndrover:\n  throttel: {once_within: 1h}",
    );
    assert!(e.starts_with("rule.yaml:5:3: drover.throttel:"), "{e}");
    assert!(e.contains("did you mean \"throttle\""), "{e}");
}

#[test]
fn operators_are_checked_where_they_are_written() {
    let text = "name: r\ntrigger: {type: t}\ncriteria:\n  trigger.node:\n    type: matchwildcards\n    pattern: b*\naction: {ref: p.a}";
    let e = error(text);
    assert!(
        e.starts_with("rule.yaml:5:11: criteria.trigger.node.type: unknown operator \"matchwildcards\"; did you mean \"matchwildcard\"?"),
        "{e}"
    );
    let e = error(&text.replace("matchwildcards", "Equal"));
    assert!(e.contains("did you mean \"equals\"?"), "{e}");
    // Any case is accepted, as st2 does, with a note for the author.
    let rule = Rule::parse(
        Path::new("rule.yaml"),
        &text.replace("matchwildcards", "MatchWildcard"),
    )
    .unwrap();
    assert_eq!(rule.criteria[0].operator, Operator::MatchWildcard);
    assert_eq!(
        rule.warnings,
        [
            "criteria.trigger.node.type: `MatchWildcard` is read as `matchwildcard` (operator names ignore case, as in StackStorm)"
        ]
    );
}

#[test]
fn keys_are_checked() {
    let e = error(
        "name: r\ntrigger: {type: t}\ncriteria:\n  payload.node: {type: exists}\naction: {ref: p.a}",
    );
    assert!(
        e.starts_with("rule.yaml:4:3: criteria.payload.node: invalid key \"payload.node\""),
        "{e}"
    );
    assert!(e.contains("write \"trigger.node\""), "{e}");
    let e = error(
        "name: r\ntrigger: {type: t}\ncriteria:\n  trigger.x-key: {type: exists}\naction: {ref: p.a}",
    );
    assert!(e.contains("write `['x-key']`"), "{e}");
    let e = error(
        "name: r\ntrigger: {type: t}\ncriteria:\n  trigger.list:\n    type: search\n    condition: any\n    pattern:\n      trigger.name: {type: equals, pattern: x}\naction: {ref: p.a}",
    );
    assert!(
        e.contains("inside a search pattern keys start with `item`"),
        "{e}"
    );
    assert!(e.starts_with("rule.yaml:8:"), "{e}");
    // Tags make a key usable twice.
    let e = error(
        "name: r\ntrigger: {type: t}\ncriteria:\n  trigger.a: {type: exists}\n  trigger.a: {type: exists}\naction: {ref: p.a}",
    );
    assert!(
        e.contains("add a tag: \\\"trigger.a#2\\\"") || e.contains("trigger.a#2"),
        "{e}"
    );
}

#[test]
fn patterns_are_checked_for_their_operator() {
    let rule = |criterion: &str| {
        format!(
            "name: r\ntrigger: {{type: t}}\ncriteria:\n  trigger.x:\n{criterion}\naction: {{ref: p.a}}"
        )
    };
    let e = error(&rule("    type: equals"));
    assert!(
        e.contains("criteria.trigger.x.type: equals needs a pattern"),
        "{e}"
    );
    assert!(parse(&rule("    type: exists")).is_ok());
    assert!(parse(&rule("    type: nexists\n    pattern: ''")).is_ok());
    let e = error(&rule("    type: regex\n    pattern: '(a'"));
    assert!(
        e.starts_with("rule.yaml:6:5: criteria.trigger.x.pattern: invalid regex"),
        "{e}"
    );
    let e = error(&rule("    type: regex\n    pattern: 'a(?!b)'"));
    assert!(e.contains("look-ahead"), "{e}");
    let e = error(&rule("    type: startswith\n    pattern: 5"));
    assert!(e.contains("quote it: pattern: \"5\""), "{e}");
    let e = error(&rule("    type: timediff_lt\n    pattern: soon"));
    assert!(e.contains("number of seconds"), "{e}");
    let e = error(&rule("    type: inside\n    pattern: 5"));
    assert!(e.contains("write a list"), "{e}");
    let e = error(&rule(
        "    type: equals\n    pattern: x\n    condition: any",
    ));
    assert!(
        e.contains("condition only applies to the search operator"),
        "{e}"
    );
    let e = error(&rule(
        "    type: search\n    pattern: {item.a: {type: exists}}",
    ));
    assert!(e.contains("search needs a condition"), "{e}");
    let e = error(&rule(
        "    type: search\n    condition: some\n    pattern: {item.a: {type: exists}}",
    ));
    assert!(e.contains("unknown search condition \"some\""), "{e}");
    let e = error(&rule(
        "    type: search\n    condition: all\n    pattern: [1]",
    ));
    assert!(e.contains("map"), "{e}");
    let e = error(&rule("    type: equals\n    pattern: '{{ trigger.x '"));
    assert!(
        e.starts_with("rule.yaml:6:5: criteria.trigger.x.pattern: invalid template"),
        "{e}"
    );
    // `pattern: null` parses (st2 accepts it) with a warning; a missing
    // pattern is still an error.
    let e = error(&rule("    type: equals"));
    assert!(e.contains("needs a pattern"), "{e}");
}

#[test]
fn storm_control_is_checked() {
    let rule = |drover: &str| {
        format!("name: r\ntrigger: {{type: t}}\naction: {{ref: p.a}}\ndrover:\n{drover}")
    };
    let e = error(&rule("  throttle: {once_within: soon}"));
    assert!(e.contains("invalid duration \"soon\""), "{e}");
    let e = error(&rule("  throttle: {once_within: 0s}"));
    assert!(e.contains("too short"), "{e}");
    let e = error(&rule("  throttle: {once_within: 400d}"));
    assert!(e.contains("too long"), "{e}");
    assert!(parse(&rule("  throttle: {once_within: 3600}")).is_ok());
    let e = error(&rule("  threshold: {count: 0, within: 10m}"));
    assert!(e.contains("count 0 is out of range"), "{e}");
    let e = error(&rule(
        "  threshold: {count: 3, within: 10m, group_by: [payload.node]}",
    ));
    assert!(e.contains("write \"trigger.node\""), "{e}");
    let e = error(&rule("  threshold: {within: 10m}"));
    assert!(e.contains("missing required key \"count\""), "{e}");
}

#[test]
fn references_are_checked() {
    let e = error("name: r\ntrigger: {type: t}\naction:\n  ref: local");
    assert!(e.starts_with("rule.yaml:4:3: action.ref: "), "{e}");
    assert!(e.contains("write PACK.ACTION"), "{e}");
    let e = error("name: r\ntrigger: {type: ''}\naction: {ref: p.a}");
    assert!(e.contains("invalid trigger type"), "{e}");
    let e = error("name: r\npack: a.b\ntrigger: {type: t}\naction: {ref: p.a}");
    assert!(e.contains("invalid pack name"), "{e}");
    assert_eq!(
        error("trigger: {type: t}\naction: {ref: p.a}"),
        "rule.yaml:1:1: missing required key \"name\""
    );
}

#[test]
fn syntax_errors_have_a_place() {
    let e = parse("name: [r\n").unwrap_err();
    assert!(matches!(e, ParseError::Syntax { .. }), "{e}");
    assert!(e.location().is_some());
    assert!(e.to_string().starts_with("rule.yaml:"), "{e}");
    assert!(error("# nothing\n").contains("the rule is empty"));
}

#[test]
fn parameters_that_are_not_templates_stay_text() {
    let r = parse(
        "name: r\ntrigger: {type: t}\naction:\n  ref: p.a\n  parameters:\n    fmt: \"docker ps --format '{{.Names}}'\"",
    )
    .unwrap();
    assert_eq!(r.warnings.len(), 1);
    assert!(
        r.warnings[0].starts_with("action.parameters.fmt: not a valid template"),
        "{:?}",
        r.warnings
    );
    assert!(matches!(r.params[0].1, Tmpl::Const(_)));
}

#[test]
fn to_json_round_trips() {
    let r = parse(FULL).unwrap();
    let json = r.to_json();
    assert_eq!(json["ref"], json!("batchops.on_no_contact"));
    assert_eq!(json["drover"]["throttle"]["once_within"], json!("1h"));
    let again = Rule::parse(Path::new("<json>"), &json.to_string()).unwrap();
    assert_eq!(again.to_json(), json);
}
