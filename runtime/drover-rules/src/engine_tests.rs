//! The engine: matching, backstops, search, templates, storm control.

use std::path::Path;

use serde_json::json;

use super::*;

fn rule(text: &str) -> Rule {
    Rule::parse(Path::new("rule.yaml"), text).unwrap_or_else(|e| panic!("{e}"))
}

/// A rule named `name` on trigger `t.x` running `p.a`, with `rest` appended.
fn on(name: &str, rest: &str) -> Rule {
    rule(&format!(
        "name: {name}\npack: p\nenabled: true\ntrigger: {{type: t.x}}\naction:\n  ref: p.a\n  parameters: {{who: '{name}'}}\n{rest}"
    ))
}

fn now() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn cx() -> Context {
    let kv: Arc<dyn KvStore> = Arc::new(|_: &str, key: &str| match key {
        "maintenance.b7s02" => Some("true".to_owned()),
        "maintenance_nodes" => Some(r#"["b7s03"]"#.to_owned()),
        "payload_like" => Some("{{ 6*7 }}".to_owned()),
        _ => None,
    });
    Context::new(now()).with_kv(kv)
}

fn fired(set: &RuleSet, payload: Value) -> Vec<String> {
    set.evaluate("t.x", &payload, &cx(), &mut StormState::new())
        .into_iter()
        .filter(|m| matches!(m.outcome, Outcome::Fired { .. }))
        .map(|m| m.rule.name.clone())
        .collect()
}

fn params(set: &RuleSet, payload: Value) -> Result<Map<String, Value>, String> {
    let matches = set.evaluate("t.x", &payload, &cx(), &mut StormState::new());
    assert_eq!(matches.len(), 1, "{matches:?}");
    match &matches[0].outcome {
        Outcome::Fired { parameters, .. } => Ok(parameters.clone()),
        Outcome::RenderFailed { error } => Err(error.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn criteria_are_anded_and_rules_indexed_by_trigger() {
    let set = RuleSet::new([
        on("wild", "criteria:\n  trigger.node: {type: matchwildcard, pattern: 'b*'}\n  trigger.minutes: {type: gt, pattern: 5}"),
        on("all", ""),
        rule("name: other\npack: p\nenabled: true\ntrigger: {type: t.y}\naction: {ref: p.a}"),
        rule("name: off\npack: p\ntrigger: {type: t.x}\naction: {ref: p.a}"),
    ])
    .unwrap();
    assert_eq!(
        fired(&set, json!({"node": "b7s01", "minutes": 12})),
        ["wild", "all"]
    );
    assert_eq!(fired(&set, json!({"node": "b7s01", "minutes": 3})), ["all"]);
    assert_eq!(fired(&set, json!({"node": "a1", "minutes": 12})), ["all"]);
    // "5" is not 5: no coercion.
    assert_eq!(
        fired(&set, json!({"node": "b7s01", "minutes": "12"})),
        ["all"]
    );
    assert!(
        set.evaluate("t.z", &json!({"a": 1}), &cx(), &mut StormState::new())
            .is_empty()
    );
}

#[test]
fn empty_payloads_match_only_rules_without_criteria() {
    let set = RuleSet::new([
        on("nexists", "criteria:\n  trigger.node: {type: nexists}"),
        on("any", ""),
    ])
    .unwrap();
    assert_eq!(fired(&set, json!({})), ["any"]);
    assert_eq!(fired(&set, json!({"other": 1})), ["nexists", "any"]);
}

#[test]
fn backstops_fire_only_when_no_standard_rule_matched() {
    let set = RuleSet::new([
        on(
            "known",
            "criteria:\n  trigger.kind: {type: equals, pattern: disk}",
        ),
        on("backstop", "type: {ref: backstop}"),
    ])
    .unwrap();
    assert_eq!(fired(&set, json!({"kind": "disk"})), ["known"]);
    assert_eq!(fired(&set, json!({"kind": "cpu"})), ["backstop"]);
}

#[test]
fn parameterized_triggers_reach_only_their_rules() {
    let hook = |name: &str, url: &str| {
        rule(&format!(
            "name: {name}\npack: p\nenabled: true\ntrigger: {{type: core.st2.webhook, parameters: {{url: {url}}}}}\naction: {{ref: p.a}}"
        ))
    };
    let set = RuleSet::new([hook("a", "alpha"), hook("b", "beta")]).unwrap();
    let mut storm = StormState::new();
    let mut url = Map::new();
    url.insert("url".into(), json!("beta"));
    let m = set.evaluate_parameterized(
        "core.st2.webhook",
        &url,
        &json!({"x": 1}),
        &cx(),
        &mut storm,
    );
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].rule.name, "b");
    assert!(
        set.evaluate("core.st2.webhook", &json!({"x": 1}), &cx(), &mut storm)
            .is_empty()
    );
}

#[test]
fn tags_test_a_key_twice_and_kv_templates_work() {
    let set = RuleSet::new([on(
        "guarded",
        "criteria:\n  trigger.node: {type: matchwildcard, pattern: 'b*'}\n  trigger.node#maint:\n    type: nequals\n    pattern: \"{{ trigger.node if kv.maintenance[trigger.node] == 'true' else '' }}\"\n  trigger.node#list:\n    type: ninside\n    pattern: \"{{ kv.maintenance_nodes | from_json_string }}\"",
    )])
    .unwrap();
    assert_eq!(fired(&set, json!({"node": "b7s01"})), ["guarded"]);
    assert!(
        fired(&set, json!({"node": "b7s02"})).is_empty(),
        "in maintenance by key"
    );
    assert!(
        fired(&set, json!({"node": "b7s03"})).is_empty(),
        "in maintenance by list"
    );
}

#[test]
fn pattern_templates_keep_their_type() {
    let set = RuleSet::new([on(
        "limit",
        "criteria:\n  trigger.used: {type: greaterthan, pattern: '{{ trigger.limit }}'}",
    )])
    .unwrap();
    assert_eq!(fired(&set, json!({"used": 10, "limit": 9})), ["limit"]);
    // Numbers compare as numbers ("10" > "9" would be false as strings).
    assert!(fired(&set, json!({"used": 9, "limit": 10})).is_empty());
}

#[test]
fn broken_patterns_are_reported_not_silently_false() {
    let set = RuleSet::new([on(
        "badregex",
        "criteria:\n  trigger.a: {type: regex, pattern: '{{ trigger.re }}'}",
    )])
    .unwrap();
    let m = set.evaluate(
        "t.x",
        &json!({"a": "x", "re": "("}),
        &cx(),
        &mut StormState::new(),
    );
    let outcomes: Vec<(&str, &Outcome)> = m
        .iter()
        .map(|m| (m.rule.name.as_str(), &m.outcome))
        .collect();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    let Outcome::CriteriaFailed { criterion, error } = outcomes[0].1 else {
        panic!("{outcomes:?}")
    };
    assert_eq!(criterion, "trigger.a");
    assert!(error.contains("invalid regex"), "{error}");
}

/// st2 renders patterns with jinja's default `Undefined`: a missing value
/// is `""`, so the criterion compares against the empty string (and
/// usually does not match) instead of failing the rule.
#[test]
fn undefined_values_in_patterns_render_empty_as_in_st2() {
    let set = RuleSet::new([
        on(
            "whole",
            "criteria:\n  trigger.a: {type: equals, pattern: '{{ trigger.nope }}'}",
        ),
        on(
            "part",
            "criteria:\n  trigger.a: {type: equals, pattern: 'x-{{ trigger.nope }}'}",
        ),
        on(
            "kv",
            "criteria:\n  trigger.a: {type: equals, pattern: '{{ trigger.b }}'}",
        ),
    ])
    .unwrap();
    let outcomes = |payload: Value| -> Vec<String> {
        set.evaluate("t.x", &payload, &cx(), &mut StormState::new())
            .iter()
            .map(|m| match &m.outcome {
                Outcome::Fired { .. } => format!("{} fired", m.rule.name),
                other => format!("{} {other:?}", m.rule.name),
            })
            .collect()
    };
    // No rule is broken: none fires on "y"; on "", both patterns over a
    // missing key render "" and match.
    assert!(outcomes(json!({"a": "y"})).is_empty());
    assert_eq!(outcomes(json!({"a": ""})), ["whole fired", "kv fired"]);
    assert_eq!(outcomes(json!({"a": "x-"})), ["part fired"]);
    assert_eq!(outcomes(json!({"a": "z", "b": "z"})), ["kv fired"]);
}

/// `pattern: null` is accepted (st2 does) and never matches.
#[test]
fn a_null_pattern_never_matches() {
    let rule = on(
        "null",
        "criteria:\n  trigger.a: {type: equals, pattern: null}",
    );
    assert_eq!(rule.warnings.len(), 1, "{:?}", rule.warnings);
    assert!(rule.warnings[0].contains("null never matches"));
    let set = RuleSet::new([rule]).unwrap();
    for payload in [json!({}), json!({"a": null}), json!({"a": "x"})] {
        let m = set.evaluate("t.x", &payload, &cx(), &mut StormState::new());
        assert!(m.is_empty(), "{payload}: {:?}", m[0].outcome);
    }
}

#[test]
fn search_over_lists() {
    let checks = |condition: &str| {
        on(
            condition,
            &format!(
                "criteria:\n  trigger.checks:\n    type: search\n    condition: {condition}\n    pattern:\n      item.name: {{type: startswith, pattern: p}}\n      item.ok: {{type: equals, pattern: false}}"
            ),
        )
    };
    let set = RuleSet::new(["any", "all", "all2any", "any2any"].map(checks)).unwrap();
    let list = |items: Value| json!({ "checks": items });
    // One item fails both children... every condition checked:
    assert_eq!(
        fired(
            &set,
            list(json!([{"name": "ping", "ok": false}, {"name": "ssh", "ok": true}]))
        ),
        ["any", "any2any"]
    );
    assert_eq!(
        fired(
            &set,
            list(json!([{"name": "ping", "ok": false}, {"name": "ssh", "ok": false}]))
        ),
        ["any", "all2any", "any2any"]
    );
    assert_eq!(
        fired(
            &set,
            list(json!([{"name": "ping", "ok": false}, {"name": "probe", "ok": false}]))
        ),
        ["any", "all", "all2any", "any2any"]
    );
    assert!(fired(&set, list(json!([{"name": "ssh", "ok": true}]))).is_empty());
    // Python's all([]) is true.
    assert_eq!(fired(&set, list(json!([]))), ["all", "all2any"]);
    // A dict is searched as a one-item list; a missing key never matches.
    assert_eq!(
        fired(&set, list(json!({"name": "ping", "ok": false}))).len(),
        4
    );
    assert!(fired(&set, json!({"other": 1})).is_empty());
    assert!(fired(&set, list(json!(5))).is_empty());
}

#[test]
fn payload_templates_reach_the_action_as_text() {
    let set = RuleSet::new([rule(
        "name: r\npack: p\nenabled: true\ntrigger: {type: t.x}\naction:\n  ref: p.a\n  parameters:\n    exact: '{{ trigger.msg }}'\n    mixed: 'msg: {{ trigger.msg }}'\n    nested: {list: ['{{ trigger.msg }}']}\n    kv: '{{ kv.payload_like }}'",
    )])
    .unwrap();
    let p = params(&set, json!({"msg": "{{ 7*7 }}"})).unwrap();
    assert_eq!(p["exact"], json!("{{ 7*7 }}"));
    assert_eq!(p["mixed"], json!("msg: {{ 7*7 }}"));
    assert_eq!(p["nested"], json!({"list": ["{{ 7*7 }}"]}));
    assert_eq!(p["kv"], json!("{{ 6*7 }}"));
    let p = params(&set, json!({"msg": "{% raw %}x{% endraw %}{{ config }}"})).unwrap();
    assert_eq!(p["exact"], json!("{% raw %}x{% endraw %}{{ config }}"));
}

#[test]
fn parameters_render_with_types() {
    let set = RuleSet::new([rule(
        "name: r\npack: p\nenabled: true\ntrigger: {type: t.x}\naction:\n  ref: p.a\n  parameters:\n    node: '{{ trigger.node }}'\n    count: '{{ trigger.count }}'\n    text: 'n={{ trigger.count }}'\n    list: ['{{ trigger.count }}', 2]\n    fixed: {a: 1}\n    flag: true",
    )])
    .unwrap();
    let p = params(&set, json!({"node": "b7s01", "count": 3})).unwrap();
    assert_eq!(
        Value::Object(p),
        json!({"node": "b7s01", "count": 3, "text": "n=3", "list": [3, 2], "fixed": {"a": 1}, "flag": true})
    );
}

#[test]
fn render_failures_name_the_parameter() {
    let set = RuleSet::new([rule(
        "name: r\npack: p\nenabled: true\ntrigger: {type: t.x}\naction:\n  ref: p.a\n  parameters:\n    node: '{{ trigger.host }}'",
    )])
    .unwrap();
    let e = params(&set, json!({"node": "b7s01"})).unwrap_err();
    assert!(
        e.starts_with("failed to render parameter \"node\": undefined value"),
        "{e}"
    );
}

#[test]
fn storm_control_in_the_engine() {
    let set = RuleSet::new([on(
        "storm",
        "drover:\n  threshold: {count: 2, within: 10m, group_by: [trigger.node]}\n  throttle: {once_within: 1h, group_by: [trigger.node]}",
    )])
    .unwrap();
    let mut storm = StormState::new();
    let mut at = |secs: i64, node: &str| {
        let cx = Context::new(now() + jiff::SignedDuration::from_secs(secs));
        let m = set.evaluate("t.x", &json!({ "node": node }), &cx, &mut storm);
        m.into_iter().next().map(|m| m.outcome).unwrap()
    };
    assert!(matches!(
        at(0, "a"),
        Outcome::Waiting {
            seen: 1,
            needed: 2,
            ..
        }
    ));
    assert!(matches!(at(1, "a"), Outcome::Fired { suppressed: 0, .. }));
    assert!(matches!(at(2, "a"), Outcome::Waiting { seen: 1, .. }));
    assert!(matches!(
        at(3, "a"),
        Outcome::Throttled { suppressed: 1, .. }
    ));
    assert!(matches!(at(4, "b"), Outcome::Waiting { .. }));
    assert!(matches!(at(3700, "a"), Outcome::Waiting { .. }));
    assert!(matches!(
        at(3701, "a"),
        Outcome::Fired { suppressed: 1, .. }
    ));
    set.prune_storm(&mut storm, now() + jiff::SignedDuration::from_hours(3));
    assert!(storm.is_empty());
}

#[test]
fn engine_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RuleSet>();
    send_sync::<Rule>();
    send_sync::<Match>();
    send_sync::<StormState>();
    send_sync::<Context>();
}

#[test]
fn duplicate_references_are_refused() {
    let e = RuleSet::new([on("x", ""), on("x", "")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "rule \"p.x\" is defined twice; rule references (pack.name) must be unique"
    );
}

#[test]
fn outcomes_serialize_for_the_store() {
    let o = Outcome::Waiting {
        group: "[\"a\"]".into(),
        seen: 1,
        needed: 3,
    };
    assert_eq!(
        serde_json::to_value(&o).unwrap(),
        json!({"outcome": "waiting", "group": "[\"a\"]", "seen": 1, "needed": 3})
    );
}

/// Every enabled rule evaluated in order, without the index.
fn evaluate_naively(set: &RuleSet, payload: &Value, cx: &Context) -> Vec<(String, String)> {
    let env = Env::new(payload, cx);
    let mut out = Vec::new();
    let mut passed = Vec::new();
    for kind in [RuleKind::Standard, RuleKind::Backstop] {
        if !passed.is_empty() {
            break;
        }
        for rule in set.rules().iter().filter(|r| r.enabled && r.kind == kind) {
            match criteria_pass(rule, &env) {
                Ok(true) => passed.push(rule),
                Ok(false) => {}
                Err((c, e)) => out.push((rule.name.clone(), format!("failed {c}: {e}"))),
            }
        }
    }
    for rule in passed {
        let outcome = match render_parameters(rule, &env) {
            Ok(p) => format!("fired {}", Value::Object(p)),
            Err(e) => format!("render {e}"),
        };
        out.push((rule.name.clone(), outcome));
    }
    out
}

#[test]
fn the_index_only_prunes() {
    // Rules mixing every indexable criterion with others, against payloads
    // that hit, miss and mistype them: the indexed engine must agree with
    // evaluating every rule.
    let criteria = [
        "  trigger.rack: {type: equals, pattern: r1}",
        "  trigger.rack: {type: eq, pattern: 1}",
        "  trigger.rack: {type: inside, pattern: [r1, r2]}",
        "  trigger.rack: {type: in, pattern: [r1, 2]}",
        "  trigger.node: {type: matchwildcard, pattern: 'b1*'}",
        "  trigger.node: {type: matchwildcard, pattern: '*s1'}",
        "  trigger.node: {type: regex, pattern: 's[12]$'}",
        "  trigger.node: {type: iregex, pattern: '^B2'}",
        "  trigger.node: {type: matchregex, pattern: 'b.s'}",
        "  trigger.node: {type: startswith, pattern: b2}",
        "  trigger.node: {type: exists}",
        "  trigger.rack: {type: nequals, pattern: r1}",
        "  trigger.x: {type: equals, pattern: '{{ trigger.rack }}'}",
        "  trigger.node: {type: regex, pattern: '{{ trigger.rack }}('}",
        "  trigger.n: {type: gt, pattern: 1}",
    ];
    let mut rules = Vec::new();
    for (i, a) in criteria.iter().enumerate() {
        for (j, b) in criteria.iter().enumerate() {
            let kind = if (i + j) % 7 == 0 {
                "type: {ref: backstop}\n"
            } else {
                ""
            };
            let enabled = (i * 3 + j) % 11 != 0;
            let b = b.replacen(':', "#2:", 1);
            rules.push(rule(&format!(
                "name: r{i}_{j}\npack: p\nenabled: {enabled}\n{kind}trigger: {{type: t.x}}\ncriteria:\n{a}\n{b}\naction:\n  ref: p.a\n  parameters: {{n: '{{{{ trigger.n }}}}'}}"
            )));
        }
    }
    let set = RuleSet::new(rules).unwrap();
    let mut payloads = Vec::new();
    for rack in [
        json!("r1"),
        json!("r2"),
        json!(1),
        json!(2),
        json!(null),
        json!(["r1"]),
    ] {
        for node in [
            json!("b1s1"),
            json!("B2s2"),
            json!("b2x"),
            json!("c1s1"),
            json!(7),
        ] {
            for n in [json!(0), json!(2)] {
                payloads.push(json!({"rack": rack, "node": node, "n": n, "x": "r1"}));
            }
        }
    }
    payloads.push(json!({}));
    payloads.push(json!({"node": "b1s1"}));
    let cx = cx();
    let (mut fired, mut failed) = (0, 0);
    for payload in &payloads {
        let got: Vec<(String, String)> = set
            .evaluate("t.x", payload, &cx, &mut StormState::new())
            .into_iter()
            .map(|m| {
                let outcome = match m.outcome {
                    Outcome::Fired { parameters, .. } => {
                        format!("fired {}", Value::Object(parameters))
                    }
                    Outcome::RenderFailed { error } => format!("render {error}"),
                    Outcome::CriteriaFailed { criterion, error } => {
                        format!("failed {criterion}: {error}")
                    }
                    other => format!("{other:?}"),
                };
                (m.rule.name.clone(), outcome)
            })
            .collect();
        let want = evaluate_naively(&set, payload, &cx);
        assert_eq!(got, want, "payload {payload}");
        fired += got.iter().filter(|(_, o)| o.starts_with("fired")).count();
        failed += got.iter().filter(|(_, o)| o.starts_with("failed")).count();
    }
    assert!(
        fired > 100 && failed > 10,
        "a meaningful mix: {fired} fired, {failed} failed"
    );
}

#[test]
fn paths_shared_by_many_rules_are_looked_up_once_with_the_same_answers() {
    // Three rules read `trigger.node` (criteria and parameters) and one a
    // key the payload lacks: one memo slot per distinct path, and a
    // missing key still gets the template engine's answer.
    let p = |name: &str, params: &str, criteria: &str| {
        rule(&format!(
            "name: {name}\npack: p\nenabled: true\ntrigger: {{type: t.x}}\n\
             criteria:\n{criteria}\naction:\n  ref: p.a\n  parameters: {params}\n"
        ))
    };
    let set = RuleSet::new([
        p(
            "a",
            "{n: '{{ trigger.node }}', m: '{{ trigger.m }}'}",
            "  trigger.node: {type: startswith, pattern: b}",
        ),
        p(
            "b",
            "{n: '{{ trigger.node }}', list: ['{{ trigger.node }}', '{{ trigger.m }}']}",
            "  trigger.node: {type: equals, pattern: b7s01}\n  trigger.m: {type: gt, pattern: 1}",
        ),
        p(
            "c",
            "{gone: '{{ trigger.gone }}'}",
            "  trigger.node: {type: exists}",
        ),
    ])
    .unwrap();
    assert_eq!(set.slots.len(), 3, "node, m, gone: {:?}", set.slots);
    let payload = json!({"node": "b7s01", "m": 2});
    let matches = set.evaluate("t.x", &payload, &cx(), &mut StormState::new());
    let outcome = |name: &str| {
        &matches
            .iter()
            .find(|m| m.rule.name == name)
            .unwrap_or_else(|| panic!("{name}: {matches:?}"))
            .outcome
    };
    match outcome("a") {
        Outcome::Fired { parameters, .. } => {
            assert_eq!(
                Value::Object(parameters.clone()),
                json!({"n": "b7s01", "m": 2})
            );
        }
        other => panic!("{other:?}"),
    }
    match outcome("b") {
        Outcome::Fired { parameters, .. } => assert_eq!(
            Value::Object(parameters.clone()),
            json!({"n": "b7s01", "list": ["b7s01", 2]})
        ),
        other => panic!("{other:?}"),
    }
    match outcome("c") {
        Outcome::RenderFailed { error } => assert!(error.contains("gone"), "{error}"),
        other => panic!("{other:?}"),
    }
}
