//! Related incidents: when one cause stops or fails many remediations, an
//! operator should see one incident with its members, not as many
//! unrelated failures.
//!
//! Two causes are grouped, over a time range:
//!
//! - **held**: fleet requests that a gate held or refused (the storm
//!   brake, the fleet pause, a maintenance window, a node in
//!   intervention), grouped by that gate. The fleet keeps on each request
//!   the last gate that held it (`held_by`), so an incident stays whole
//!   after the brake is released and its members proceed. Budgets and
//!   settling are the normal course and are not incidents.
//! - **failed**: top-level executions that failed, were denied a
//!   capability or timed out, grouped by
//!   action and the shape of their error (digits and node names folded,
//!   so "n017 did not come back" and "n021 did not come back" are one
//!   cause). A run already counted in a held incident is not counted again.
//!
//! A group splits where its members are more than [`GAP_MS`] apart. Reads
//! are bounded (indexes by time and status, at most [`SCAN`] rows of each
//! kind), so the page costs the same with a million executions.

use std::collections::{BTreeMap, HashSet};

use drover_core::{ExecStatus, ExecutionId, id_floor};
use drover_fleet::{Fleet, Gate, Request};
use drover_store::{ExecutionQuery, Store, StoreError};
use serde::Serialize;

/// Members further apart than this start a new incident (15 minutes).
pub const GAP_MS: i64 = 15 * 60 * 1000;
/// An incident whose last member is this recent is ongoing.
const ONGOING_MS: i64 = GAP_MS;
/// At most this many fleet requests, and this many failed runs per status
/// (the newest), are read for one range.
pub const SCAN: u32 = 1_000;

/// Incidents in a range.
#[derive(Clone, Debug, Serialize)]
pub struct Incidents {
    /// The most recent first.
    pub items: Vec<Incident>,
    /// More requests or failed runs than [`SCAN`] were in the range: only
    /// the newest were grouped, and counts are lower than the truth.
    pub truncated: bool,
}

/// How much to read: how many rows of each kind, and of each member.
#[derive(Clone, Copy, Debug)]
pub struct Depth {
    /// Fleet requests, and failed runs per status, read (the newest).
    pub scan: u32,
    /// Members per incident whose run and event are looked up (the rest
    /// are listed without them); 0 for a summary.
    pub traced: usize,
}

impl Depth {
    /// Enough for a page: [`SCAN`] rows of each kind, the run and event
    /// of the first 20 members of each incident.
    pub const PAGE: Depth = Depth {
        scan: SCAN,
        traced: 20,
    };
    /// Titles of what is going on now (the dashboard, which redraws on
    /// every change): the newest 200 rows of each kind, no member traced.
    pub const SUMMARY: Depth = Depth {
        scan: 200,
        traced: 0,
    };
}

/// The range `since` names (`1h`, `24h`, `7d`), in milliseconds back from
/// now: a minute to 30 days.
pub fn range_ms(since: &str) -> Result<i64, String> {
    let d = humantime::parse_duration(since)
        .map_err(|e| format!("since: {e} (a duration such as 1h, 24h or 7d)"))?;
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    if !(60_000..=30 * 86_400_000).contains(&ms) {
        return Err(format!("since: {since:?} is out of range: from 1m to 30d"));
    }
    Ok(ms)
}

/// Why incidents could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Fleet(#[from] drover_fleet::FleetError),
}

/// A group of remediations with one cause.
#[derive(Clone, Debug, Serialize)]
pub struct Incident {
    /// Stable while the incident grows: its kind, cause key and first
    /// member's time.
    pub id: String,
    /// `held` or `failed`.
    pub kind: &'static str,
    /// The gate (`brake`, `pause`, `window`, `intervention`) of a held one.
    pub gate: Option<String>,
    /// The action of a failed one.
    pub action: Option<String>,
    /// One line: what happened to how many.
    pub title: String,
    /// The cause in words: the gate's reason, or the first member's error.
    pub cause: String,
    pub first_ms: i64,
    pub last_ms: i64,
    /// Its last member is recent: it may still be growing.
    pub ongoing: bool,
    /// Distinct nodes among the members.
    pub nodes: usize,
    /// Members per rule that started them (`(none)`: an operator).
    pub rules: Vec<(String, usize)>,
    /// Members per status (a request's: denied, queued, done, …; a run's).
    pub statuses: Vec<(String, usize)>,
    pub members: Vec<Member>,
}

/// One remediation in an incident.
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    pub at_ms: i64,
    pub node: Option<String>,
    /// The fleet request, for a held member.
    pub request_id: Option<String>,
    /// The execution that asked (a held member) or failed.
    pub execution_id: Option<ExecutionId>,
    /// The top-level run it belongs to and what started it, when a rule
    /// did (looked up for the first members only).
    pub root: Option<ExecutionId>,
    pub rule: Option<String>,
    pub trigger_id: Option<String>,
    pub status: String,
    pub detail: String,
}

/// Incidents with members in `[since_ms, until_ms)`, the most recent
/// first; `now_ms` decides which are ongoing.
pub fn incidents(
    store: &Store,
    since_ms: i64,
    until_ms: i64,
    now_ms: i64,
    depth: Depth,
) -> Result<Incidents, IncidentError> {
    let requests = Fleet::new(store.clone()).requests_between(since_ms, until_ms, depth.scan)?;
    let mut truncated = requests.len() >= depth.scan as usize;
    let mut out = held(store, requests, depth)?;
    let counted: HashSet<ExecutionId> = out
        .iter()
        .flat_map(|i| i.members.iter())
        .flat_map(|m| [m.execution_id, m.root])
        .flatten()
        .collect();
    let (failures, more) = failed(store, since_ms, until_ms, &counted, depth)?;
    out.extend(failures);
    truncated |= more;
    for i in &mut out {
        i.ongoing = now_ms - i.last_ms < ONGOING_MS;
    }
    out.sort_by(|a, b| b.last_ms.cmp(&a.last_ms).then(a.id.cmp(&b.id)));
    Ok(Incidents {
        items: out,
        truncated,
    })
}

/// The gates whose holds are incidents.
fn incident_gate(gate: Gate) -> bool {
    matches!(
        gate,
        Gate::Brake | Gate::Pause | Gate::Window | Gate::Intervention
    )
}

fn held(
    store: &Store,
    requests: Vec<Request>,
    depth: Depth,
) -> Result<Vec<Incident>, IncidentError> {
    let mut by_gate: BTreeMap<&'static str, Vec<Request>> = BTreeMap::new();
    for r in requests {
        if let Some(g) = r.life.held_by.filter(|g| incident_gate(*g)) {
            by_gate.entry(g.as_str()).or_default().push(r);
        }
    }
    let mut out = Vec::new();
    for (gate, reqs) in by_gate {
        for run in sessions(reqs, |r| r.created_ms) {
            let cause = run
                .iter()
                .find(|r| r.status.as_str() == "denied")
                .or(run.first())
                .map(|r| r.detail.clone())
                .unwrap_or_default();
            let members = run
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let execution_id = r
                        .execution_id
                        .as_deref()
                        .and_then(|x| x.parse::<ExecutionId>().ok());
                    let mut m = Member {
                        at_ms: r.created_ms,
                        node: Some(r.node.clone()),
                        request_id: Some(r.id.clone()),
                        execution_id,
                        root: None,
                        rule: r.actor.strip_prefix("rule:").map(str::to_owned),
                        trigger_id: None,
                        status: r.status.as_str().to_owned(),
                        detail: r.detail.clone(),
                    };
                    if i < depth.traced {
                        trace_member(store, &mut m)?;
                    }
                    Ok(m)
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let title = held_title(gate, &members);
            out.push(finish(
                format!("{gate}-{}", members[0].at_ms),
                "held",
                Some(gate.to_owned()),
                None,
                title,
                cause,
                members,
            ));
        }
    }
    Ok(out)
}

fn held_title(gate: &str, members: &[Member]) -> String {
    let n = members.len();
    let what = if n == 1 {
        "1 request".to_owned()
    } else {
        format!("{n} requests")
    };
    match gate {
        "brake" => format!("The storm brake held or refused {what}"),
        "pause" => format!("The fleet pause held {what}"),
        "window" => format!("Maintenance windows held {what}"),
        "intervention" => format!("Nodes in intervention refused {what}"),
        other => format!("{other} held {what}"),
    }
}

fn failed(
    store: &Store,
    since_ms: i64,
    until_ms: i64,
    counted: &HashSet<ExecutionId>,
    depth: Depth,
) -> Result<(Vec<Incident>, bool), IncidentError> {
    let mut runs = Vec::new();
    let mut truncated = false;
    for status in [ExecStatus::Failed, ExecStatus::Denied, ExecStatus::Timeout] {
        let page = store.execution_page(&ExecutionQuery {
            status: Some(status),
            top_level: true,
            min_id: Some(id_floor(since_ms)),
            max_id: Some(id_floor(until_ms)),
            limit: depth.scan,
            ..Default::default()
        })?;
        truncated |= page.next_after.is_some();
        // A dry run that fails (a shadowed candidate's, a rehearsal)
        // performed nothing: not an incident.
        runs.extend(
            page.items
                .into_iter()
                .filter(|x| !x.dry_run && !counted.contains(&x.id)),
        );
    }
    let ids: Vec<ExecutionId> = runs.iter().map(|x| x.id).collect();
    let errors = store.execution_errors(&ids)?;
    let mut by_cause: BTreeMap<(String, String), Vec<Member>> = BTreeMap::new();
    let mut causes: BTreeMap<(String, String), String> = BTreeMap::new();
    for (x, error) in runs.into_iter().zip(errors) {
        let error = error.unwrap_or_default();
        let key = (x.action.clone(), signature(&error));
        causes.entry(key.clone()).or_insert_with(|| error.clone());
        by_cause.entry(key).or_default().push(Member {
            at_ms: x.started_at_ms,
            node: x.node,
            request_id: None,
            execution_id: Some(x.id),
            root: Some(x.id),
            rule: x.actor.strip_prefix("rule:").map(str::to_owned),
            trigger_id: None,
            status: x.status.as_str().to_owned(),
            detail: error,
        });
    }
    let mut out = Vec::new();
    for (key, members) in by_cause {
        let cause = causes.remove(&key).unwrap_or_default();
        let (action, shape) = key;
        for mut run in sessions(members, |m| m.at_ms) {
            for m in run.iter_mut().take(depth.traced) {
                trace_member(store, m)?;
            }
            let n = run.len();
            let title = if n == 1 {
                format!("{action} failed once")
            } else {
                format!("{action} failed {n} times the same way")
            };
            out.push(finish(
                format!(
                    "failed-{}-{}",
                    run[0].at_ms,
                    &crate::access::sha256_hex(&format!("{action} {shape}"))[..8]
                ),
                "failed",
                None,
                Some(action.clone()),
                title,
                cause.clone(),
                run,
            ));
        }
    }
    Ok((out, truncated))
}

/// Sorts `items` by time and splits them where two are more than
/// [`GAP_MS`] apart.
fn sessions<T>(mut items: Vec<T>, at: impl Fn(&T) -> i64) -> Vec<Vec<T>> {
    items.sort_by_key(&at);
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut last = i64::MIN;
    for item in items {
        let t = at(&item);
        match out.last_mut() {
            Some(run) if t - last <= GAP_MS => run.push(item),
            _ => out.push(vec![item]),
        }
        last = t;
    }
    out
}

/// Fills in a member's top-level run, rule and event.
fn trace_member(store: &Store, m: &mut Member) -> Result<(), StoreError> {
    let Some(id) = m.execution_id else {
        return Ok(());
    };
    if let Some(origin) = crate::trace::origin(store, id)? {
        m.root = Some(origin.root);
        m.rule = Some(origin.rule);
        m.trigger_id = Some(origin.trigger_id);
    }
    Ok(())
}

fn finish(
    id: String,
    kind: &'static str,
    gate: Option<String>,
    action: Option<String>,
    title: String,
    cause: String,
    members: Vec<Member>,
) -> Incident {
    let count = |key: &dyn Fn(&Member) -> String| {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for m in &members {
            *counts.entry(key(m)).or_default() += 1;
        }
        let mut v: Vec<(String, usize)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    };
    let rules = count(&|m| m.rule.clone().unwrap_or_else(|| "(none)".to_owned()));
    let statuses = count(&|m| m.status.clone());
    let nodes = members
        .iter()
        .filter_map(|m| m.node.as_deref())
        .collect::<HashSet<_>>()
        .len();
    Incident {
        id,
        kind,
        gate,
        action,
        title,
        cause,
        first_ms: members.first().map_or(0, |m| m.at_ms),
        last_ms: members.last().map_or(0, |m| m.at_ms),
        ongoing: false,
        nodes,
        rules,
        statuses,
        members,
    }
}

/// The shape of an error: every word with a digit in it (node names,
/// counts, times, ids) becomes `#`, so the same failure on other nodes has
/// the same shape.
pub fn signature(error: &str) -> String {
    let shape: Vec<String> = error
        .split_whitespace()
        .map(|w| {
            if w.chars().any(|c| c.is_ascii_digit()) {
                let quoted = |q: char| w.starts_with(q);
                match (quoted('"'), w.ends_with(['"', ',', ':', ';', ')'])) {
                    (true, _) => "\"#\"".to_owned(),
                    (false, true) => format!("#{}", &w[w.len() - 1..]),
                    _ => "#".to_owned(),
                }
            } else {
                w.to_owned()
            }
        })
        .collect();
    let mut s = shape.join(" ");
    if s.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_failure_on_other_nodes_has_one_shape() {
        let a = signature("task \"reboot\": n017 did not come back within 600 s");
        let b = signature("task \"reboot\": n021 did not come back within 600 s");
        assert_eq!(a, b);
        assert_eq!(a, "task \"reboot\": # did not come back within # s");
        assert_ne!(a, signature("task \"drain\": n017 did not drain"));
        assert_eq!(
            signature("node \"b03s04\" is silent"),
            "node \"#\" is silent"
        );
        assert_eq!(signature(&"é".repeat(300)).len(), 200);
    }

    #[test]
    fn the_range_is_a_minute_to_thirty_days() {
        assert_eq!(range_ms("24h"), Ok(86_400_000));
        assert!(range_ms("31d").unwrap_err().contains("from 1m to 30d"));
        assert!(range_ms("10s").is_err());
        assert!(range_ms("soon").unwrap_err().contains("such as 1h"));
    }

    #[test]
    fn members_far_apart_are_separate_incidents() {
        let t = [0, 1_000, GAP_MS, 3 * GAP_MS, 3 * GAP_MS + 5];
        let runs = sessions(t.to_vec(), |x| *x);
        assert_eq!(
            runs,
            vec![vec![0, 1_000, GAP_MS], vec![3 * GAP_MS, 3 * GAP_MS + 5]]
        );
    }
}
