//! The rule tester: reports, verdicts and the trigger-instance format.

use std::path::Path;

use serde_json::json;

use super::*;

const RULE: &str = r##"---
name: relay_mentions
pack: chat
description: Relay IRC messages that mention us
enabled: true
trigger:
  type: irc.pubmsg
criteria:
  trigger.message:
    type: icontains
    pattern: drover
  trigger.source.nick:
    type: nexists
    pattern: ""
action:
  ref: chat.post
  parameters:
    text: "{{ trigger.source.nick | default('someone') }} on {{ trigger.channel }}: {{ trigger.message }}"
    channel: "#relay"
"##;

fn rule(text: &str) -> Rule {
    Rule::parse(Path::new("rule.yaml"), text).unwrap()
}

fn instance(text: &str) -> TriggerInstance {
    TriggerInstance::parse(Path::new("instance.yaml"), text).unwrap()
}

fn cx() -> Context {
    Context::new("2026-01-01T00:00:00Z".parse().unwrap())
}

#[test]
fn a_match_shows_every_criterion_and_the_parameters() {
    let r = rule(RULE);
    let i = instance(
        "trigger: irc.pubmsg\npayload:\n  channel: '#ops'\n  message: Drover is cool\n  source: {host: gw}\n",
    );
    let report = test_rule(&r, &i, &cx());
    assert_eq!(report.verdict, Verdict::Match);
    assert!(report.matched && report.trigger_matches);
    assert_eq!(report.criteria.len(), 2);
    let c = &report.criteria[0];
    assert_eq!(
        (
            c.key.as_str(),
            c.found,
            &c.value,
            c.operator.as_str(),
            &c.pattern,
            c.passed
        ),
        (
            "trigger.message",
            true,
            &json!("Drover is cool"),
            "icontains",
            &Some(json!("drover")),
            true
        )
    );
    assert!(!report.criteria[1].found);
    assert!(report.criteria[1].passed);
    assert_eq!(
        report.parameters,
        Some(
            json!({"text": "someone on #ops: Drover is cool", "channel": "#relay"})
                .as_object()
                .unwrap()
                .clone()
        )
    );
    let text = report.to_string();
    assert!(text.contains("result: MATCH"), "{text}");
    assert!(text.contains("PASS  trigger.message"), "{text}");
    assert!(text.contains("(missing)"), "{text}");
    assert!(
        text.contains("text: \"someone on #ops: Drover is cool\""),
        "{text}"
    );
}

#[test]
fn a_miss_says_which_criterion_and_why() {
    let r = rule(RULE);
    let i = instance("trigger: irc.pubmsg\npayload: {message: blah, source: {nick: kami}}");
    let report = test_rule(&r, &i, &cx());
    assert_eq!(report.verdict, Verdict::NoMatch);
    assert!(!report.criteria[0].passed);
    assert!(!report.criteria[1].passed);
    assert_eq!(report.parameters, None);
    let text = report.to_string();
    assert!(text.contains("FAIL  trigger.message"), "{text}");
    assert!(text.contains("result: NO MATCH"), "{text}");
}

#[test]
fn type_mismatches_and_missing_keys_are_explained() {
    let r = rule(
        "name: r\ntrigger: {type: t}\ncriteria:\n  trigger.n: {type: lt, pattern: 5}\n  trigger.gone: {type: gt, pattern: 5}\n  trigger.z: {type: exists}\naction: {ref: p.a}",
    );
    let report = test_rule(
        &r,
        &instance("trigger: t\npayload: {n: '3', z: null}"),
        &cx(),
    );
    let reasons: Vec<Option<&str>> = report
        .criteria
        .iter()
        .map(|c| c.reason.as_deref())
        .collect();
    assert_eq!(
        reasons,
        [
            Some("'<' not supported between instances of 'str' and 'int'"),
            Some(
                "the key is missing ('>' not supported between instances of 'NoneType' and 'int')"
            ),
            Some("the value is null, which st2 treats like a missing key"),
        ]
    );
    assert!(report.criteria[2].found);
}

#[test]
fn disabled_rules_and_other_triggers() {
    let r = rule(&RULE.replace("enabled: true", "enabled: false"));
    let report = test_rule(
        &r,
        &instance("trigger: irc.pubmsg\npayload: {message: drover, channel: x, source: {}}"),
        &cx(),
    );
    assert_eq!(
        report.verdict,
        Verdict::Match,
        "the tester evaluates disabled rules"
    );
    assert!(report.notes[0].contains("disabled"), "{:?}", report.notes);
    let report = test_rule(
        &r,
        &instance("trigger: irc.other\npayload: {message: drover, channel: x, source: {}}"),
        &cx(),
    );
    assert_eq!(report.verdict, Verdict::NoMatch);
    assert!(!report.trigger_matches);
    assert!(report.to_string().contains("MISMATCH"));
    let report = test_rule(&r, &instance("trigger: irc.pubmsg"), &cx());
    assert_eq!(report.verdict, Verdict::NoMatch);
    assert!(
        report.notes.iter().any(|n| n.contains("payload is empty")),
        "{:?}",
        report.notes
    );
}

#[test]
fn render_and_pattern_errors_are_errors() {
    let r = rule(
        "name: r\ntrigger: {type: t}\naction: {ref: p.a, parameters: {x: '{{ trigger.nope }}'}}",
    );
    let report = test_rule(&r, &instance("trigger: t\npayload: {a: 1}"), &cx());
    assert_eq!(report.verdict, Verdict::Error);
    assert!(report.matched);
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .starts_with("failed to render parameter \"x\"")
    );
    let r = rule(
        "name: r\ntrigger: {type: t}\ncriteria:\n  trigger.a: {type: regex, pattern: '{{ trigger.re }}'}\naction: {ref: p.a}",
    );
    let report = test_rule(&r, &instance("trigger: t\npayload: {a: x, re: '('}"), &cx());
    assert_eq!(report.verdict, Verdict::Error);
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .starts_with("criterion trigger.a: broken pattern: invalid regex"),
        "{:?}",
        report.error
    );
}

#[test]
fn search_reports_each_item() {
    let r = rule(
        "name: r\ntrigger: {type: t}\ncriteria:\n  trigger.checks:\n    type: search\n    condition: any\n    pattern:\n      item.name: {type: equals, pattern: ping}\n      item.ok: {type: equals, pattern: false}\naction: {ref: p.a}",
    );
    let report = test_rule(
        &r,
        &instance(
            "trigger: t\npayload:\n  checks: [{name: ssh, ok: false}, {name: ping, ok: false}]",
        ),
        &cx(),
    );
    assert_eq!(report.verdict, Verdict::Match);
    let items = &report.criteria[0].items;
    assert_eq!(items.len(), 2);
    assert!(!items[0].criteria[0].passed && items[0].criteria[1].passed);
    assert!(items[1].criteria.iter().all(|c| c.passed));
    let text = report.to_string();
    assert!(text.contains("item[1]: every child passes"), "{text}");
}

#[test]
fn json_output_has_the_verdict() {
    let r = rule(RULE);
    let report = test_rule(
        &r,
        &instance("trigger: irc.pubmsg\npayload: {message: drover, channel: x, source: {}}"),
        &cx(),
    );
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["verdict"], json!("match"));
    assert_eq!(v["criteria"][1]["found"], json!(false));
    assert_eq!(v["parameters"]["channel"], json!("#relay"));
}

#[test]
fn trigger_instance_files() {
    let json = TriggerInstance::parse(
        Path::new("i.json"),
        r#"{"trigger": "batch.no_contact", "payload": {"node": "b7s01"}, "id": "x", "occurrence_time": "2026-01-01T00:00:00Z", "status": "processed"}"#,
    )
    .unwrap();
    assert_eq!(json.trigger, "batch.no_contact");
    assert_eq!(json.payload, json!({"node": "b7s01"}));
    let e = TriggerInstance::parse(
        Path::new("i.json"),
        "{\"trigger\": \"t\",\n \"payload\": {]}",
    )
    .unwrap_err();
    assert!(
        e.to_string().starts_with("i.json:2:14: invalid JSON:"),
        "{e}"
    );
    let e = TriggerInstance::parse(Path::new("i.json"), r#"{"trigger": "t", "paylaod": {}}"#)
        .unwrap_err();
    assert!(e.to_string().contains("did you mean \"payload\"?"), "{e}");
    let e = TriggerInstance::parse(Path::new("i.yaml"), "payload: {a: 1}").unwrap_err();
    assert!(
        e.to_string().contains("missing required key \"trigger\""),
        "{e}"
    );
    let e = TriggerInstance::parse(Path::new("i.yaml"), "trigger: t\npayload: [1]").unwrap_err();
    assert!(e.to_string().contains("must be an object"), "{e}");
}
