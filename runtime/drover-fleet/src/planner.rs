//! The planner: a rolling change of many nodes as waves that respect every
//! budget. Wave 1 is what may go out now (around what is already out);
//! each later wave assumes the previous one came back. Nodes already out
//! take no budget and go in wave 1. A node no wave can take (its group is
//! held by nodes outside the plan, e.g. in intervention) is reported with
//! the hold. O(nodes × budgets) per wave.

use serde::Serialize;

use crate::budget::{Budget, Hold, Usage};
use crate::model::Node;

/// A rolling schedule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Schedule {
    /// Node indices per wave.
    pub waves: Vec<Vec<usize>>,
    /// Nodes no wave can take, and why.
    pub blocked: Vec<(usize, Hold)>,
}

/// Plans `targets` (indices into `nodes`, in the order to prefer).
pub fn plan(nodes: &[Node], budgets: &[Budget], targets: &[usize]) -> Schedule {
    let mut usage = Usage::new(nodes, budgets);
    let mut remaining: Vec<usize> = targets.to_vec();
    remaining.dedup();
    let mut waves = Vec::new();
    let mut blocked = Vec::new();
    while !remaining.is_empty() {
        let mut wave = Vec::new();
        let mut rest = Vec::with_capacity(remaining.len());
        for &t in &remaining {
            if usage.is_out(t) && !nodes[t].state.available() {
                // Already out: takes nothing.
                wave.push(t);
            } else if usage.check(t).is_ok() {
                usage.take(t);
                wave.push(t);
            } else {
                rest.push(t);
            }
        }
        if wave.is_empty() {
            let index = usage.holders_index();
            for t in rest {
                if let Some(h) = usage.hold_in(t, &index) {
                    blocked.push((t, h));
                }
            }
            break;
        }
        for &t in &wave {
            if nodes[t].state.available() {
                usage.release(t);
            }
        }
        waves.push(wave);
        remaining = rest;
    }
    Schedule { waves, blocked }
}

/// Checks a schedule against the budgets: the violations found (none for
/// a schedule from [`plan`]).
pub fn violations(nodes: &[Node], budgets: &[Budget], schedule: &Schedule) -> Vec<String> {
    let mut out = Vec::new();
    for (i, wave) in schedule.waves.iter().enumerate() {
        let mut usage = Usage::new(nodes, budgets);
        for &t in wave {
            usage.take(t);
        }
        for (budget, group, used, limit) in usage.overruns() {
            out.push(format!(
                "wave {}: budget {budget} {group} has {used} out, limit {limit}",
                i + 1
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Rule;
    use crate::model::State;

    #[test]
    fn racks_go_one_at_a_time_within_max_unavailable() {
        let nodes: Vec<Node> = (0..40)
            .map(|i| Node {
                name: format!("n{i}"),
                labels: [("rack".to_owned(), format!("r{}", i / 10))].into(),
                state: if i == 5 {
                    State::Intervention
                } else {
                    State::Production
                },
                driver: "sim".into(),
                options: serde_json::json!({}),
                since_ms: 0,
                note: String::new(),
            })
            .collect();
        let budgets = vec![
            Budget {
                name: "rack-one".into(),
                rule: Rule::GroupSemaphore {
                    label: "rack".into(),
                    max: 1,
                },
            },
            Budget {
                name: "fleet".into(),
                rule: Rule::MaxUnavailable {
                    max: Some(3),
                    percent: None,
                },
            },
        ];
        let targets: Vec<usize> = (0..40).collect();
        let s = plan(&nodes, &budgets, &targets);
        assert!(violations(&nodes, &budgets, &s).is_empty());
        // n5 (intervention) holds rack 0: the rest of rack 0 is blocked.
        assert_eq!(s.blocked.len(), 9, "{:?}", s.blocked);
        assert!(s.blocked[0].1.to_string().contains("n5 (intervention)"));
        let planned: usize = s.waves.iter().map(Vec::len).sum();
        assert_eq!(planned, 31);
        assert!(s.waves[0].contains(&5));
    }
}
