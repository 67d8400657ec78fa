//! Budgets: how many nodes may be out at once. A group semaphore allows
//! at most `max` unavailable nodes per value of a label (`rack` max 1:
//! never two nodes of one rack out); max unavailable bounds the whole
//! fleet, as a count or a percentage of the inventory (rounded down, at
//! least 1). A node that is not in `production` is unavailable, whatever
//! put it there, so a node in intervention holds its rack's slot until a
//! person resolves it.
//!
//! [`Usage`] counts what is out and answers "may this node go out now?"
//! in O(budgets); both the controller's admission and the planner use it.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::FleetError;
use crate::model::Node;

/// A budget's rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case")]
pub enum Rule {
    /// At most `max` unavailable nodes per value of `label`.
    #[serde(rename = "groupsemaphore")]
    GroupSemaphore { label: String, max: u32 },
    /// At most `max` (or `percent` of the inventory) unavailable nodes.
    #[serde(rename = "maxunavailable")]
    MaxUnavailable {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        percent: Option<f64>,
    },
}

/// A named budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub name: String,
    #[serde(flatten)]
    pub rule: Rule,
}

impl Budget {
    /// A count (`20`) or a percentage (`2%`) for max unavailable.
    pub fn parse_max_unavailable(text: &str) -> Result<Rule, FleetError> {
        let bad = || {
            FleetError::Invalid(format!(
                "--max-unavailable {text:?}: write a count (20) or a percentage of the inventory (2%)"
            ))
        };
        if let Some(p) = text.trim().strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(FleetError::Invalid(format!(
                    "--max-unavailable {text}: a percentage must be above 0 and at most 100"
                )));
            }
            Ok(Rule::MaxUnavailable {
                max: None,
                percent: Some(p),
            })
        } else {
            let n: u32 = text.trim().parse().map_err(|_| bad())?;
            Ok(Rule::MaxUnavailable {
                max: Some(n),
                percent: None,
            })
        }
    }

    /// The most unavailable nodes allowed in a fleet of `total`.
    pub fn limit(&self, total: usize) -> u32 {
        match &self.rule {
            Rule::GroupSemaphore { max, .. } => *max,
            Rule::MaxUnavailable { max: Some(m), .. } => *m,
            Rule::MaxUnavailable {
                percent: Some(p), ..
            } => ((p / 100.0 * total as f64).floor() as u32).max(1),
            Rule::MaxUnavailable { .. } => u32::MAX,
        }
    }

    /// The rule for people: `groupsemaphore rack max 1`,
    /// `max unavailable 2% (20 of 1000 nodes)`.
    pub fn describe(&self, total: usize) -> String {
        match &self.rule {
            Rule::GroupSemaphore { label, max } => format!("groupsemaphore {label} max {max}"),
            Rule::MaxUnavailable { max: Some(m), .. } => format!("max unavailable {m}"),
            Rule::MaxUnavailable {
                percent: Some(p), ..
            } => format!(
                "max unavailable {p}% ({} of {total} nodes)",
                self.limit(total)
            ),
            Rule::MaxUnavailable { .. } => "max unavailable (unbounded)".into(),
        }
    }
}

/// Why a node may not go out now: the full budget and who holds it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hold {
    pub budget: String,
    /// The rule, as [`Budget::describe`] says it.
    pub rule: String,
    /// For a group semaphore: `label=value` of the full group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Nodes holding the budget, with their state (at most
    /// [`MAX_HOLDERS_SHOWN`]), and how many hold it in all.
    pub holders: Vec<(String, String)>,
    pub held_by: usize,
}

/// How many holders a message lists by name.
pub const MAX_HOLDERS_SHOWN: usize = 5;

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "budget {} ({}) is full", self.budget, self.rule)?;
        if let Some(g) = &self.group {
            write!(f, " for {g}")?;
        }
        let names: Vec<String> = self
            .holders
            .iter()
            .map(|(n, s)| format!("{n} ({s})"))
            .collect();
        write!(f, ": held by {}", names.join(", "))?;
        if self.held_by > self.holders.len() {
            write!(f, " and {} more", self.held_by - self.holders.len())?;
        }
        Ok(())
    }
}

/// What is out, per budget and group.
pub struct Usage<'a> {
    nodes: &'a [Node],
    budgets: &'a [Budget],
    limits: Vec<u32>,
    /// Per budget, per node: the node's group (None: the budget does not
    /// constrain it, e.g. a node without the label).
    group_of: Vec<Vec<Option<u32>>>,
    group_names: Vec<Vec<String>>,
    /// Per budget, per group: unavailable nodes.
    used: Vec<Vec<u32>>,
    /// Whether each node counts as out.
    out: Vec<bool>,
}

impl<'a> Usage<'a> {
    /// Counts the nodes that are out now.
    pub fn new(nodes: &'a [Node], budgets: &'a [Budget]) -> Usage<'a> {
        let total = nodes.len();
        let mut group_of = Vec::with_capacity(budgets.len());
        let mut group_names = Vec::with_capacity(budgets.len());
        for b in budgets {
            match &b.rule {
                Rule::GroupSemaphore { label, .. } => {
                    let mut ids: HashMap<&str, u32> = HashMap::new();
                    let mut names = Vec::new();
                    let of = nodes
                        .iter()
                        .map(|n| {
                            n.labels.get(label).map(|v| {
                                *ids.entry(v.as_str()).or_insert_with(|| {
                                    names.push(format!("{label}={v}"));
                                    names.len() as u32 - 1
                                })
                            })
                        })
                        .collect();
                    group_of.push(of);
                    group_names.push(names);
                }
                Rule::MaxUnavailable { .. } => {
                    group_of.push(vec![Some(0); nodes.len()]);
                    group_names.push(vec![String::new()]);
                }
            }
        }
        let used = group_names.iter().map(|g| vec![0; g.len()]).collect();
        let mut usage = Usage {
            nodes,
            budgets,
            limits: budgets.iter().map(|b| b.limit(total)).collect(),
            group_of,
            group_names,
            used,
            out: vec![false; nodes.len()],
        };
        for (i, n) in nodes.iter().enumerate() {
            if !n.state.available() {
                usage.take(i);
            }
        }
        usage
    }

    pub fn is_out(&self, node: usize) -> bool {
        self.out[node]
    }

    /// Unavailable nodes in all.
    pub fn out_count(&self) -> usize {
        self.out.iter().filter(|o| **o).count()
    }

    /// May `node` go out now? A node already out takes nothing more.
    pub fn check(&self, node: usize) -> Result<(), usize> {
        if self.out[node] {
            return Ok(());
        }
        for b in 0..self.budgets.len() {
            if let Some(g) = self.group_of[b][node]
                && self.used[b][g as usize] >= self.limits[b]
            {
                return Err(b);
            }
        }
        Ok(())
    }

    /// The budget and group that refuse `node` now, if any.
    pub fn blocking(&self, node: usize) -> Option<(usize, u32)> {
        let b = self.check(node).err()?;
        Some((b, self.group_of[b][node]?))
    }

    /// The nodes out now, per (budget, group): one pass over the fleet,
    /// for explaining many refusals at once.
    pub fn holders_index(&self) -> HashMap<(usize, u32), Vec<usize>> {
        let mut idx: HashMap<(usize, u32), Vec<usize>> = HashMap::new();
        for (i, out) in self.out.iter().enumerate() {
            if !out {
                continue;
            }
            for b in 0..self.budgets.len() {
                if let Some(g) = self.group_of[b][i] {
                    idx.entry((b, g)).or_default().push(i);
                }
            }
        }
        idx
    }

    /// The name of group `g` of budget `b` (`rack=r07`; empty for max
    /// unavailable, whose one group is the fleet).
    pub fn group_name(&self, b: usize, g: u32) -> &str {
        self.group_names[b]
            .get(g as usize)
            .map_or("", String::as_str)
    }

    /// The limit of budget `b` in this fleet.
    pub fn limit_of(&self, b: usize) -> u32 {
        self.limits[b]
    }

    /// Like [`Usage::check`], explaining a refusal (one pass over the
    /// fleet; use [`Usage::hold_in`] for many).
    pub fn hold(&self, node: usize) -> Option<Hold> {
        let (b, g) = self.blocking(node)?;
        let holders: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.out[i] && self.group_of[b][i] == Some(g))
            .collect();
        Some(self.describe_hold(b, g, &holders))
    }

    /// [`Usage::hold`] with a [`Usage::holders_index`].
    pub fn hold_in(&self, node: usize, index: &HashMap<(usize, u32), Vec<usize>>) -> Option<Hold> {
        let (b, g) = self.blocking(node)?;
        Some(self.describe_hold(b, g, index.get(&(b, g)).map_or(&[][..], Vec::as_slice)))
    }

    fn describe_hold(&self, b: usize, g: u32, holders: &[usize]) -> Hold {
        let budget = &self.budgets[b];
        Hold {
            budget: budget.name.clone(),
            rule: budget.describe(self.nodes.len()),
            group: match budget.rule {
                Rule::GroupSemaphore { .. } => Some(self.group_names[b][g as usize].clone()),
                Rule::MaxUnavailable { .. } => None,
            },
            held_by: holders.len(),
            holders: holders
                .iter()
                .take(MAX_HOLDERS_SHOWN)
                .map(|&i| {
                    let n = &self.nodes[i];
                    // Taken in this pass but not moved yet.
                    let state = if n.state.available() {
                        "starting"
                    } else {
                        n.state.as_str()
                    };
                    (n.name.clone(), state.to_owned())
                })
                .collect(),
        }
    }

    /// Counts `node` as out.
    pub fn take(&mut self, node: usize) {
        if std::mem::replace(&mut self.out[node], true) {
            return;
        }
        for b in 0..self.budgets.len() {
            if let Some(g) = self.group_of[b][node] {
                self.used[b][g as usize] += 1;
            }
        }
    }

    /// Counts `node` as back.
    pub fn release(&mut self, node: usize) {
        if !std::mem::replace(&mut self.out[node], false) {
            return;
        }
        for b in 0..self.budgets.len() {
            if let Some(g) = self.group_of[b][node] {
                self.used[b][g as usize] -= 1;
            }
        }
    }

    /// The most unavailable nodes in any one group of budget `b`.
    pub fn max_used(&self, b: usize) -> u32 {
        self.used
            .get(b)
            .and_then(|u| u.iter().copied().max())
            .unwrap_or(0)
    }

    /// Budgets whose usage is above their limit (after an operator's
    /// set-state or a lowered budget): `(budget, group, used, limit)`.
    pub fn overruns(&self) -> Vec<(String, String, u32, u32)> {
        let mut out = Vec::new();
        for (b, used) in self.used.iter().enumerate() {
            for (g, &n) in used.iter().enumerate() {
                if n > self.limits[b] {
                    out.push((
                        self.budgets[b].name.clone(),
                        self.group_names[b][g].clone(),
                        n,
                        self.limits[b],
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::State;

    fn node(name: &str, rack: &str, state: State) -> Node {
        Node {
            name: name.into(),
            labels: [("rack".to_owned(), rack.to_owned())].into(),
            state,
            driver: "sim".into(),
            options: serde_json::json!({}),
            since_ms: 0,
            note: String::new(),
        }
    }

    #[test]
    fn a_rack_semaphore_names_the_holder() {
        let nodes = vec![
            node("a1", "r1", State::Draining),
            node("a2", "r1", State::Production),
            node("b1", "r2", State::Production),
        ];
        let budgets = vec![Budget {
            name: "rack-one".into(),
            rule: Rule::GroupSemaphore {
                label: "rack".into(),
                max: 1,
            },
        }];
        let u = Usage::new(&nodes, &budgets);
        assert!(u.check(2).is_ok());
        let hold = u.hold(1).unwrap();
        assert_eq!(
            hold.to_string(),
            "budget rack-one (groupsemaphore rack max 1) is full for rack=r1: held by a1 (draining)"
        );
        // A node already out takes nothing more.
        assert!(u.check(0).is_ok());
    }

    #[test]
    fn percent_rounds_down_but_allows_one() {
        let b = |p: f64| Budget {
            name: "f".into(),
            rule: Rule::MaxUnavailable {
                max: None,
                percent: Some(p),
            },
        };
        assert_eq!(b(2.0).limit(100_000), 2000);
        assert_eq!(b(2.0).limit(1000), 20);
        assert_eq!(b(2.0).limit(10), 1);
        assert!(Budget::parse_max_unavailable("0%").is_err());
        assert!(Budget::parse_max_unavailable("two").is_err());
        assert_eq!(
            Budget::parse_max_unavailable("3").unwrap(),
            Rule::MaxUnavailable {
                max: Some(3),
                percent: None
            }
        );
    }

    #[test]
    fn take_and_release_count_once() {
        let nodes = vec![
            node("a1", "r1", State::Production),
            node("a2", "r1", State::Production),
        ];
        let budgets = vec![Budget {
            name: "fleet".into(),
            rule: Rule::MaxUnavailable {
                max: Some(1),
                percent: None,
            },
        }];
        let mut u = Usage::new(&nodes, &budgets);
        u.take(0);
        u.take(0);
        assert_eq!(u.check(1), Err(0));
        let h = u.hold(1).unwrap();
        assert!(h.to_string().contains("held by a1 (starting)"), "{h}");
        u.release(0);
        assert!(u.check(1).is_ok());
        assert!(u.overruns().is_empty());
    }
}
