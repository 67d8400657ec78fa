//! Tests of the timer schedules and of the no-double-fire logic, with a
//! fake clock.

use std::path::Path;

use drover_rules::{Rule, RuleSet};
use drover_store::Store;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::schedule::{CRON, DATE, INTERVAL, TimerSpec};
use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn params(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn spec(type_: &str, v: Value) -> TimerSpec {
    TimerSpec::parse(type_, &params(v)).unwrap()
}

/// The first `n` slots after `from`.
fn slots(spec: &TimerSpec, from: &str, n: usize) -> Vec<String> {
    let anchor = ts(from);
    let mut t = anchor;
    let mut out = Vec::new();
    for _ in 0..n {
        let Some(next) = spec.schedule.next_after(t, anchor) else {
            break;
        };
        out.push(next.to_string());
        t = next;
    }
    out
}

#[test]
fn interval_counts_from_its_anchor() {
    let s = spec(INTERVAL, json!({"unit": "seconds", "delta": 30}));
    assert_eq!(
        slots(&s, "2026-01-01T00:00:10Z", 3),
        [
            "2026-01-01T00:00:40Z",
            "2026-01-01T00:01:10Z",
            "2026-01-01T00:01:40Z"
        ]
    );
    // From any point, the next slot on the anchor's grid.
    let anchor = ts("2026-01-01T00:00:10Z");
    let next = s.schedule.next_after(ts("2026-01-01T01:00:00Z"), anchor);
    assert_eq!(next, Some(ts("2026-01-01T01:00:10Z")));
    let w = spec(INTERVAL, json!({"unit": "weeks", "delta": "2"}));
    assert_eq!(
        slots(&w, "2026-01-01T00:00:00Z", 1),
        ["2026-01-15T00:00:00Z"]
    );
    assert_eq!(w.canonical, params(json!({"unit": "weeks", "delta": 2})));
}

#[test]
fn invalid_parameters_name_the_field() {
    let e = |t: &str, v: Value| TimerSpec::parse(t, &params(v)).unwrap_err();
    assert_eq!(
        e(INTERVAL, json!({"unit": "fortnights", "delta": 1})).field,
        "unit"
    );
    assert_eq!(
        e(INTERVAL, json!({"unit": "seconds", "delta": 0})).field,
        "delta"
    );
    assert_eq!(e(INTERVAL, json!({"unit": "seconds"})).field, "delta");
    assert_eq!(
        e(INTERVAL, json!({"unit": "seconds", "delta": 1, "x": 1})).field,
        "x"
    );
    assert_eq!(e(CRON, json!({"minute": 60})).field, "minute");
    assert_eq!(e(CRON, json!({"hour": "5-2"})).field, "hour");
    assert_eq!(e(CRON, json!({"second": "*/0"})).field, "second");
    assert_eq!(
        e(CRON, json!({"day_of_week": "funday"})).field,
        "day_of_week"
    );
    assert_eq!(
        e(CRON, json!({"timezone": "Mars/Olympus"})).field,
        "timezone"
    );
    assert_eq!(e(DATE, json!({"date": "tomorrow-ish"})).field, "date");
    let msg = e(CRON, json!({"minute": 60})).to_string();
    assert!(msg.contains("trigger.parameters.minute"), "{msg}");
}

#[test]
fn cron_steps_ranges_and_defaults() {
    let s = spec(CRON, json!({"second": "*/20"}));
    assert_eq!(
        slots(&s, "2026-01-01T00:00:05Z", 4),
        [
            "2026-01-01T00:00:20Z",
            "2026-01-01T00:00:40Z",
            "2026-01-01T00:01:00Z",
            "2026-01-01T00:01:20Z"
        ]
    );
    // Fields below the least significant one given default to their minimum.
    let s = spec(CRON, json!({"hour": "9-10", "minute": 30}));
    assert_eq!(
        slots(&s, "2026-01-01T09:45:00Z", 3),
        [
            "2026-01-01T10:30:00Z",
            "2026-01-02T09:30:00Z",
            "2026-01-02T10:30:00Z"
        ]
    );
    // Lists, and `a/n`.
    let s = spec(CRON, json!({"minute": "5,50/5"}));
    assert_eq!(
        slots(&s, "2026-01-01T00:00:00Z", 4),
        [
            "2026-01-01T00:05:00Z",
            "2026-01-01T00:50:00Z",
            "2026-01-01T00:55:00Z",
            "2026-01-01T01:05:00Z"
        ]
    );
    // Nothing given: yearly (APScheduler's defaults).
    let s = spec(CRON, json!({}));
    assert_eq!(
        slots(&s, "2026-03-01T00:00:00Z", 1),
        ["2027-01-01T00:00:00Z"]
    );
    // Day 31 of February: never.
    let s = spec(CRON, json!({"month": 2, "day": 31}));
    assert!(slots(&s, "2026-01-01T00:00:00Z", 1).is_empty());
}

#[test]
fn cron_day_of_week_is_monday_zero_and_takes_names() {
    // 2026-01-01 is a Thursday.
    let s = spec(CRON, json!({"day_of_week": "mon-wed", "hour": 8}));
    assert_eq!(
        slots(&s, "2026-01-01T00:00:00Z", 4),
        [
            "2026-01-05T08:00:00Z",
            "2026-01-06T08:00:00Z",
            "2026-01-07T08:00:00Z",
            "2026-01-12T08:00:00Z"
        ]
    );
    let numeric = spec(CRON, json!({"day_of_week": 0, "hour": 8}));
    assert_eq!(
        slots(&numeric, "2026-01-01T00:00:00Z", 1),
        ["2026-01-05T08:00:00Z"]
    );
    let s = spec(CRON, json!({"day_of_week": "Sun", "hour": 8}));
    assert_eq!(
        slots(&s, "2026-01-01T00:00:00Z", 1),
        ["2026-01-04T08:00:00Z"]
    );
    // Month names, `last`, and `2nd fri`.
    let s = spec(CRON, json!({"month": "feb", "day": "last"}));
    assert_eq!(
        slots(&s, "2026-01-01T00:00:00Z", 1),
        ["2026-02-28T00:00:00Z"]
    );
    let s = spec(CRON, json!({"day": "2nd fri"}));
    assert_eq!(
        slots(&s, "2026-01-01T00:00:00Z", 2),
        ["2026-01-09T00:00:00Z", "2026-02-13T00:00:00Z"]
    );
    let s = spec(CRON, json!({"day": "last sun"}));
    assert_eq!(
        slots(&s, "2026-01-01T00:00:00Z", 1),
        ["2026-01-25T00:00:00Z"]
    );
}

#[test]
fn cron_in_a_time_zone_across_dst_changes() {
    // New York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
    let daily = spec(CRON, json!({"timezone": "America/New_York", "hour": 9}));
    assert_eq!(
        slots(&daily, "2026-03-07T00:00:00Z", 2),
        // 09:00 EST is 14:00Z, then 09:00 EDT is 13:00Z.
        ["2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z"]
    );
    // 02:30 does not exist on the day DST starts: skipped that day.
    let s = spec(
        CRON,
        json!({"timezone": "America/New_York", "hour": 2, "minute": 30}),
    );
    assert_eq!(
        slots(&s, "2026-03-07T12:00:00Z", 2),
        ["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"]
    );
    // 01:30 happens twice on the day DST ends: fires once, the first time.
    let s = spec(
        CRON,
        json!({"timezone": "America/New_York", "hour": 1, "minute": 30}),
    );
    assert_eq!(
        slots(&s, "2026-10-31T12:00:00Z", 3),
        [
            "2026-11-01T05:30:00Z",
            "2026-11-02T06:30:00Z",
            "2026-11-03T06:30:00Z"
        ]
    );
    // Every 30 minutes across the fold: 01:00 and 01:30 once each.
    let s = spec(
        CRON,
        json!({"timezone": "America/New_York", "minute": "*/30"}),
    );
    assert_eq!(
        slots(&s, "2026-11-01T04:45:00Z", 4),
        [
            "2026-11-01T05:00:00Z", // 01:00 EDT
            "2026-11-01T05:30:00Z", // 01:30 EDT
            "2026-11-01T07:00:00Z", // 02:00 EST
            "2026-11-01T07:30:00Z"
        ]
    );
    assert_eq!(s.canonical["timezone"], json!("America/New_York"));
}

#[test]
fn date_fires_once_and_never_when_past() {
    let s = spec(
        DATE,
        json!({"date": "2026-06-01 12:00:00", "timezone": "Europe/Paris"}),
    );
    assert_eq!(
        slots(&s, "2026-01-01T00:00:00Z", 3),
        ["2026-06-01T10:00:00Z"]
    );
    assert!(slots(&s, "2026-07-01T00:00:00Z", 1).is_empty());
    let z = spec(DATE, json!({"date": "2026-06-01T10:00:00Z"}));
    assert_eq!(z.key(), s.key(), "one instant, one timer");
}

fn rule(name: &str, trigger: &str) -> Rule {
    let text = format!(
        "name: {name}\npack: t\nenabled: true\ntrigger: {trigger}\naction: {{ref: core.noop}}\n"
    );
    Rule::parse(Path::new(name), &text).unwrap()
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("d.db")).unwrap();
    (dir, s)
}

#[test]
fn a_fired_slot_never_fires_again_after_a_restart() {
    let (_d, store) = store();
    let mut rules = vec![
        rule(
            "a",
            "{type: core.st2.IntervalTimer, parameters: {unit: seconds, delta: 10}}",
        ),
        // The same timer, spelled differently: one timer, one instance per slot.
        rule(
            "b",
            "{type: core.st2.IntervalTimer, parameters: {unit: Seconds, delta: \"10\"}}",
        ),
    ];
    canonicalize(&mut rules);
    assert_eq!(rules[0].trigger.parameters, rules[1].trigger.parameters);
    let rules = RuleSet::new(rules).unwrap();
    let t0 = ts("2026-01-01T00:00:00Z");
    let at = |s: i64| t0 + SignedDuration::from_secs(s);

    let mut svc = TimerService::new(store.clone(), &rules, t0).unwrap();
    assert_eq!(svc.len(), 1);
    assert!(svc.tick(at(9)).is_empty());
    assert_eq!(svc.next_wake(), Some(at(10)));
    let fired = svc.tick(at(10));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].1, at(10));
    assert!(svc.tick(at(11)).is_empty(), "a slot fires once");

    // "Restart": a new service over the same database, same clock.
    let mut again = TimerService::new(store.clone(), &rules, at(11)).unwrap();
    assert!(again.tick(at(11)).is_empty(), "slot 10 is not fired twice");
    assert!(again.tick(at(19)).is_empty());
    // The anchor survived the restart: slots stay on the original grid.
    assert_eq!(again.tick(at(20)), vec![(fired[0].0.clone(), at(20))]);

    // Two services racing on one database: the store refuses the second.
    let mut other = TimerService::new(store.clone(), &rules, at(20)).unwrap();
    let mut third = TimerService::new(store.clone(), &rules, at(20)).unwrap();
    assert_eq!(other.tick(at(30)).len(), 1);
    assert!(third.tick(at(30)).is_empty());

    let listed = store.list_triggers(None, None, 100).unwrap();
    assert_eq!(listed.len(), 3);
    for t in &listed {
        assert_eq!(t.instance.source, "timer:core.st2.IntervalTimer");
        assert_eq!(t.instance.trigger_type, "core.st2.IntervalTimer");
        assert_eq!(
            t.instance.trigger_parameters.as_ref().unwrap(),
            &params(json!({"unit": "seconds", "delta": 10}))
        );
        assert_eq!(t.instance.payload["schedule"], Value::Null);
    }
    let mut at_slots: Vec<_> = listed
        .iter()
        .map(|t| {
            t.instance.payload["executed_at"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    at_slots.sort();
    assert_eq!(
        at_slots,
        [
            "2026-01-01T00:00:10Z",
            "2026-01-01T00:00:20Z",
            "2026-01-01T00:00:30Z"
        ]
    );
}

#[test]
fn missed_slots_coalesce_into_the_latest_within_the_grace() {
    let (_d, store) = store();
    let rules = RuleSet::new([rule(
        "a",
        "{type: core.st2.IntervalTimer, parameters: {unit: seconds, delta: 10}}",
    )])
    .unwrap();
    let t0 = ts("2026-01-01T00:00:00Z");
    let at = |s: i64| t0 + SignedDuration::from_secs(s);
    let mut svc = TimerService::new(store.clone(), &rules, t0)
        .unwrap()
        .with_grace(SignedDuration::from_secs(25));
    // Down from 0 to 45: slots 10..40 missed; 20, 30, 40 within the grace
    // coalesce into 40.
    assert_eq!(
        svc.tick(at(45)).iter().map(|f| f.1).collect::<Vec<_>>(),
        [at(40)]
    );
    // Down again until 200: everything older than the grace is skipped.
    let mut svc = TimerService::new(store.clone(), &rules, at(200))
        .unwrap()
        .with_grace(SignedDuration::from_secs(5));
    assert!(
        svc.tick(at(206)).is_empty(),
        "slot 200 is 6 s late: skipped"
    );
    assert_eq!(
        svc.tick(at(211)).iter().map(|f| f.1).collect::<Vec<_>>(),
        [at(210)]
    );
    assert_eq!(store.list_triggers(None, None, 100).unwrap().len(), 2);
}

#[test]
fn date_timers_fire_once_and_past_dates_never() {
    let (_d, store) = store();
    let rules = RuleSet::new([
        rule(
            "soon",
            "{type: core.st2.DateTimer, parameters: {date: \"2026-01-01 00:01:00\"}}",
        ),
        rule(
            "past",
            "{type: core.st2.DateTimer, parameters: {date: \"2025-01-01 00:00:00\"}}",
        ),
    ])
    .unwrap();
    let t0 = ts("2026-01-01T00:00:00Z");
    let at = |s: i64| t0 + SignedDuration::from_secs(s);
    let mut svc = TimerService::new(store.clone(), &rules, t0).unwrap();
    assert_eq!(svc.len(), 2);
    assert_eq!(svc.tick(at(60)).len(), 1);
    assert!(svc.tick(at(61)).is_empty());
    let mut svc = TimerService::new(store.clone(), &rules, at(62)).unwrap();
    assert!(svc.tick(at(62)).is_empty());
    assert!(svc.tick(at(100_000)).is_empty());
    assert_eq!(svc.next_wake(), None);
}

#[test]
fn invalid_and_disabled_timer_rules_get_no_timer() {
    let (_d, store) = store();
    let mut off = rule(
        "off",
        "{type: core.st2.IntervalTimer, parameters: {unit: seconds, delta: 1}}",
    );
    off.enabled = false;
    let rules = RuleSet::new([
        off,
        rule(
            "bad",
            "{type: core.st2.IntervalTimer, parameters: {unit: seconds, delta: -1}}",
        ),
        rule("webhook", "{type: t.ping}"),
    ])
    .unwrap();
    let svc = TimerService::new(store, &rules, ts("2026-01-01T00:00:00Z")).unwrap();
    assert!(svc.is_empty());
    let bad = rule("bad", "{type: core.st2.CronTimer, parameters: {hour: 24}}");
    assert_eq!(check_rule(&bad).unwrap_err().field, "hour");
}
