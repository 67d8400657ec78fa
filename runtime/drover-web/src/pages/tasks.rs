//! A workflow's tasks as its execution page shows them: one row per run
//! of a task, its retried attempts folded into it (a polling task refused
//! five times, then answered, is one task "retried 5 times" that
//! succeeded, not five red failures), and a timeline of when each ran,
//! drawn as SVG bars (attributes, not inline styles: the CSP allows none).
//!
//! Children are stored one row per attempt, in start order. The run's
//! state says how many attempts each task entry took (its retry tally):
//! a task entry that was retried `n` times owns `n + 1` consecutive
//! children of its task and route. When the counts do not add up (a
//! with-items task, a rerun that took over older entries), the rows are
//! shown one per child, unfolded.

use std::collections::{HashMap, VecDeque};

use drover_core::ExecStatus;
use drover_store::ChildRow;
use drover_workflow::WorkflowState;
use serde::Serialize;

/// One run of a task: its last attempt, and the attempts before it that
/// failed and were retried.
#[derive(Serialize, Debug)]
pub struct TaskRun {
    pub task: String,
    pub route: u32,
    /// The attempt that counts (the last one stored).
    pub last: ChildRow,
    /// Earlier attempts, oldest first: each failed and was retried.
    pub retried: Vec<ChildRow>,
    /// The attempt after `last` has not ended yet (`last` itself failed
    /// and was retried): the task is retrying.
    pub retrying: bool,
    /// The status to show: the last attempt's, or `retrying`.
    pub status: String,
}

/// How many stored attempts each entry of `(task, route)` took, oldest
/// first, from the run's state.
fn attempts(state: &WorkflowState) -> HashMap<(String, u32), VecDeque<u64>> {
    let mut out: HashMap<(String, u32), VecDeque<u64>> = HashMap::new();
    for e in state.sequence() {
        let n = e.retry.as_ref().map_or(1, |r| r.tally + 1);
        out.entry((e.id.to_string(), e.route))
            .or_default()
            .push_back(n);
    }
    out
}

/// The children of a workflow run as task runs, retries folded by
/// `state` (see the module's doc); without a state, one per child.
pub fn fold(children: Vec<ChildRow>, state: Option<&WorkflowState>) -> Vec<TaskRun> {
    let mut sizes = state.map(attempts).unwrap_or_default();
    // Only keys whose stored children match the state's attempts: all of
    // them ended, or all but the one in flight.
    let mut count: HashMap<(String, u32), u64> = HashMap::new();
    for c in &children {
        *count.entry((c.task.clone(), c.route)).or_default() += 1;
    }
    sizes.retain(|k, v| {
        let want: u64 = v.iter().sum();
        let have = count.get(k).copied().unwrap_or(0);
        have == want || have + 1 == want
    });
    let mut runs: Vec<TaskRun> = Vec::new();
    // Per key: the run being filled and how many attempts it still owns.
    let mut open: HashMap<(String, u32), (usize, u64)> = HashMap::new();
    for c in children {
        let key = (c.task.clone(), c.route);
        let Some(queue) = sizes.get_mut(&key) else {
            runs.push(single(c));
            continue;
        };
        match open.get_mut(&key) {
            Some((at, left)) if *left > 0 => {
                let run = &mut runs[*at];
                let before = std::mem::replace(&mut run.last, c);
                run.retried.push(before);
                *left -= 1;
            }
            _ => {
                let owns = queue.pop_front().unwrap_or(1);
                open.insert(key, (runs.len(), owns.saturating_sub(1)));
                runs.push(single(c));
            }
        }
    }
    // A run that still owns an attempt waits for it: retrying.
    for (at, left) in open.values() {
        if *left > 0 {
            let run = &mut runs[*at];
            run.retried.push(run.last.clone());
            run.retrying = true;
            run.status = "retrying".into();
        }
    }
    for run in &mut runs {
        if !run.retrying {
            run.status = run.last.summary.status.as_str().to_owned();
        }
    }
    runs
}

fn single(c: ChildRow) -> TaskRun {
    TaskRun {
        task: c.task.clone(),
        route: c.route,
        status: c.summary.status.as_str().to_owned(),
        last: c,
        retried: Vec::new(),
        retrying: false,
    }
}

/// Where a task's link in the graph goes: its latest run's last attempt.
pub fn latest_by_task(runs: &[TaskRun]) -> HashMap<String, String> {
    runs.iter()
        .map(|r| (r.task.clone(), r.last.summary.id.to_string()))
        .collect()
}

/// Width of the timeline's drawing, in its own units.
const SPAN: f64 = 1000.0;

/// One bar segment: an attempt, placed on the run's time span.
#[derive(Serialize, Debug, PartialEq)]
pub struct Segment {
    /// Left edge and width in units of [`SPAN`] (`viewBox` coordinates).
    pub x: String,
    pub width: String,
    /// `succeeded`, `failed`, ..., or `retried` for an attempt that failed
    /// and was tried again.
    pub class: String,
    pub id: String,
}

/// One task run on the timeline.
#[derive(Serialize, Debug)]
pub struct Bar {
    pub task: String,
    /// Since the first task started, and how long the run took (first
    /// attempt's start to last attempt's end), both as text.
    pub offset: String,
    pub took: String,
    pub status: String,
    pub segments: Vec<Segment>,
}

/// The timeline of `runs`: one bar per task run, in start order.
pub fn timeline(runs: &[TaskRun]) -> Vec<Bar> {
    let attempts = |r: &TaskRun| -> Vec<(i64, i64, String, String)> {
        let mut v: Vec<(i64, i64, String, String)> = r
            .retried
            .iter()
            .map(|a| (start(a), end(a), "retried".to_owned(), id(a)))
            .collect();
        if !r.retrying {
            let l = &r.last;
            v.push((start(l), end(l), status_class(l.summary.status), id(l)));
        }
        v
    };
    let all: Vec<(i64, i64)> = runs
        .iter()
        .flat_map(|r| attempts(r).into_iter().map(|(s, e, ..)| (s, e)))
        .collect();
    let (Some(t0), Some(t1)) = (all.iter().map(|a| a.0).min(), all.iter().map(|a| a.1).max())
    else {
        return Vec::new();
    };
    let span = (t1 - t0).max(1) as f64;
    let at = |us: i64| (us - t0) as f64 / span * SPAN;
    let mut bars: Vec<Bar> = runs
        .iter()
        .map(|r| {
            let parts = attempts(r);
            let first = parts.iter().map(|p| p.0).min().unwrap_or(t0);
            let last = parts.iter().map(|p| p.1).max().unwrap_or(first);
            Bar {
                task: r.task.clone(),
                offset: crate::templates::duration_us((first - t0) as u64),
                took: crate::templates::duration_us((last - first).max(0) as u64),
                status: r.status.clone(),
                segments: parts
                    .into_iter()
                    .map(|(s, e, class, id)| {
                        let x = at(s);
                        // At least a sliver, so a 1 ms task is seen.
                        let w = (at(e) - x).max(2.0).min(SPAN - x).max(0.0);
                        Segment {
                            x: format!("{x:.1}"),
                            width: format!("{w:.1}"),
                            class,
                            id,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    bars.sort_by_key(|b| {
        b.segments
            .first()
            .map(|s| (s.x.parse::<f64>().unwrap_or(0.0) * 10.0) as i64)
    });
    bars
}

/// An attempt's start and end in microseconds since the epoch.
fn start(c: &ChildRow) -> i64 {
    c.summary.started_at_ms.saturating_mul(1000)
}

fn end(c: &ChildRow) -> i64 {
    start(c).saturating_add(c.summary.duration_us.min(i64::MAX as u64) as i64)
}

fn id(c: &ChildRow) -> String {
    c.summary.id.to_string()
}

fn status_class(s: ExecStatus) -> String {
    s.as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_core::ExecutionId;
    use drover_store::ExecutionSummary;
    use drover_workflow::{Conductor, Workflow};

    fn child(task: &str, status: ExecStatus, started_at_ms: i64) -> ChildRow {
        ChildRow {
            summary: ExecutionSummary {
                id: ExecutionId::new(),
                action: "x.y".into(),
                status,
                dry_run: false,
                actor: "t".into(),
                started_at_ms,
                duration_us: 1_000_000,
                node: None,
            },
            task: task.into(),
            route: 0,
            error: None,
        }
    }

    const WF: &str = "version: 1.0\ntasks:\n  poll:\n    action: x.y\n    retry: {count: 5, when: '{{ failed() }}'}\n    next: [{do: done}]\n  done:\n    action: x.y\n";

    /// The state of WF after `fails` failed attempts of `poll`, then (if
    /// `then_ok`) a success and `done`.
    fn state(fails: usize, then_ok: bool) -> WorkflowState {
        use drover_workflow::{ActionEvent, Status};
        let wf = Workflow::parse("wf.yaml", WF, None).unwrap();
        let mut c = Conductor::new(&wf, Default::default());
        c.request_status(Status::Running).unwrap();
        c.next_tasks();
        for _ in 0..fails {
            c.on_action_event("poll", 0, ActionEvent::status(Status::Running))
                .unwrap();
            c.on_action_event("poll", 0, ActionEvent::status(Status::Failed))
                .unwrap();
            c.next_tasks();
        }
        if then_ok {
            c.on_action_event("poll", 0, ActionEvent::status(Status::Running))
                .unwrap();
            c.on_action_event("poll", 0, ActionEvent::status(Status::Succeeded))
                .unwrap();
            c.next_tasks();
            c.on_action_event("done", 0, ActionEvent::status(Status::Running))
                .unwrap();
            c.on_action_event("done", 0, ActionEvent::status(Status::Succeeded))
                .unwrap();
        }
        c.state().clone()
    }

    #[test]
    fn retried_attempts_fold_into_the_run_that_succeeded() {
        let st = state(3, true);
        let mut kids: Vec<ChildRow> = (0..3)
            .map(|i| child("poll", ExecStatus::Failed, i * 2000))
            .collect();
        kids.push(child("poll", ExecStatus::Succeeded, 6000));
        kids.push(child("done", ExecStatus::Succeeded, 7500));
        let runs = fold(kids, Some(&st));
        assert_eq!(runs.len(), 2, "{runs:#?}");
        assert_eq!(runs[0].task, "poll");
        assert_eq!(runs[0].status, "succeeded");
        assert_eq!(runs[0].retried.len(), 3);
        assert!(!runs[0].retrying);
        assert_eq!(runs[1].task, "done");
        let bars = timeline(&runs);
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].segments.len(), 4);
        assert_eq!(bars[0].segments[0].class, "retried");
        assert_eq!(bars[0].segments[3].class, "succeeded");
        assert_eq!(bars[0].segments[0].x, "0.0");
        assert_eq!(bars[1].took, "1.00s");
        let last = bars[1].segments.last().unwrap();
        let right: f64 = last.x.parse::<f64>().unwrap() + last.width.parse::<f64>().unwrap();
        assert!((right - SPAN).abs() < 0.2, "{right}");
    }

    #[test]
    fn a_task_still_retrying_says_so() {
        let st = state(2, false);
        let kids: Vec<ChildRow> = (0..2)
            .map(|i| child("poll", ExecStatus::Denied, i * 2000))
            .collect();
        let runs = fold(kids, Some(&st));
        assert_eq!(runs.len(), 1, "{runs:#?}");
        assert_eq!(runs[0].status, "retrying");
        assert!(runs[0].retrying);
        assert_eq!(runs[0].retried.len(), 2);
        assert!(
            timeline(&runs)[0]
                .segments
                .iter()
                .all(|s| s.class == "retried")
        );
    }

    #[test]
    fn counts_that_do_not_add_up_are_shown_unfolded() {
        let st = state(1, true);
        // Five children where the state knows of two attempts (a with-items
        // task, say): one row each, nothing hidden.
        let kids: Vec<ChildRow> = (0..5)
            .map(|i| child("poll", ExecStatus::Failed, i * 10))
            .collect();
        let runs = fold(kids, Some(&st));
        assert_eq!(runs.len(), 5);
        assert!(
            runs.iter()
                .all(|r| r.status == "failed" && r.retried.is_empty())
        );
        assert_eq!(fold(Vec::new(), None).len(), 0);
        assert!(timeline(&[]).is_empty());
    }
}
