//! A discrimination index: which rules of a trigger can possibly match an
//! event, without evaluating each.
//!
//! A fleet's rules on one trigger mostly differ by one fixed criterion
//! (`trigger.rack equals r07`, `trigger.node matchwildcard "b7*"`). For each
//! enabled rule the index picks one such criterion on a payload key and
//! files the rule under it:
//!
//! - **exact**: `equals` with a string pattern, `inside` with a list of
//!   strings — a hash lookup of the value finds the rules;
//! - **regex set**: `regex`, `iregex`, `matchregex`, `matchwildcard` and
//!   `startswith` with a fixed pattern — one `RegexSet` per key finds, in
//!   one pass over the value, every rule whose pattern matches;
//! - **sorted thresholds**: `greaterthan`/`lessthan` with a number — rules
//!   sorted by threshold, a binary search on a numeric value finds those
//!   whose threshold it passes (compared as f64 with ties kept, a superset
//!   of Python's exact comparison; a value that is not a number keeps them
//!   all).
//!
//! Rules with no such criterion are always candidates. The index only
//! prunes: every candidate is then evaluated in full, so results are
//! exactly those of evaluating every rule. It picks a criterion only if
//! every criterion before it is fixed too, so a rule the index skips could
//! not have reported a broken (templated) pattern either.

use std::collections::HashMap;

use regex::{RegexSet, RegexSetBuilder};
use serde_json::Value;

use crate::operators::{Matcher, Operator};
use crate::path::{KeyPath, Root};
use crate::rule::{Pattern, Rule};

/// Cap on one key's compiled regex set; past it the rules stay unindexed.
const MAX_SET_SIZE: usize = 32 << 20;

/// The index of one trigger's rules (standard or backstop).
#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    /// Distinct keys the index looks up.
    paths: Vec<KeyPath>,
    /// Per path: string value → rules.
    exact: Vec<(usize, HashMap<String, Vec<u32>>)>,
    /// Per path: a regex set and the rule of each of its patterns.
    sets: Vec<(usize, RegexSet, Vec<u32>)>,
    /// Per path: `greaterthan` thresholds, ascending, with their rules.
    above: Vec<(usize, Vec<(f64, u32)>)>,
    /// Per path: `lessthan` thresholds, ascending, with their rules.
    below: Vec<(usize, Vec<(f64, u32)>)>,
    /// Rules always evaluated.
    always: Vec<u32>,
}

enum Key {
    Exact(Vec<String>),
    Regex(String),
    /// Matches only values above this.
    Above(f64),
    /// Matches only values below this.
    Below(f64),
}

impl Index {
    /// Indexes the enabled rules among `members` (positions in `rules`).
    pub(crate) fn build(rules: &[std::sync::Arc<Rule>], members: &[usize]) -> Index {
        let mut index = Index::default();
        let mut exact: HashMap<usize, HashMap<String, Vec<u32>>> = HashMap::new();
        let mut sets: HashMap<usize, (Vec<String>, Vec<u32>)> = HashMap::new();
        let mut thresholds: HashMap<(usize, bool), Vec<(f64, u32)>> = HashMap::new();
        for &m in members {
            let rule = &rules[m];
            if !rule.enabled {
                continue;
            }
            let id = m as u32;
            match choose(rule) {
                Some((path, Key::Exact(values))) => {
                    let p = index.path_id(path);
                    let map = exact.entry(p).or_default();
                    for v in values {
                        let list = map.entry(v).or_default();
                        if list.last() != Some(&id) {
                            list.push(id);
                        }
                    }
                }
                Some((path, Key::Regex(source))) => {
                    let p = index.path_id(path);
                    let (sources, ids) = sets.entry(p).or_default();
                    sources.push(source);
                    ids.push(id);
                }
                Some((path, Key::Above(t))) => {
                    let p = index.path_id(path);
                    thresholds.entry((p, true)).or_default().push((t, id));
                }
                Some((path, Key::Below(t))) => {
                    let p = index.path_id(path);
                    thresholds.entry((p, false)).or_default().push((t, id));
                }
                None => index.always.push(id),
            }
        }
        for ((p, above), mut list) in thresholds {
            list.sort_by(|a, b| a.0.total_cmp(&b.0));
            if above {
                index.above.push((p, list));
            } else {
                index.below.push((p, list));
            }
        }
        index.exact = exact.into_iter().collect();
        for (p, (sources, ids)) in sets {
            match RegexSetBuilder::new(&sources)
                .size_limit(MAX_SET_SIZE)
                .dfa_size_limit(MAX_SET_SIZE)
                .build()
            {
                Ok(set) => index.sets.push((p, set, ids)),
                Err(_) => index.always.extend(ids),
            }
        }
        index.always.sort_unstable();
        index
    }

    fn path_id(&mut self, path: &KeyPath) -> usize {
        match self.paths.iter().position(|p| p == path) {
            Some(i) => i,
            None => {
                self.paths.push(path.clone());
                self.paths.len() - 1
            }
        }
    }

    /// The rules that may match `payload`, in load order.
    pub(crate) fn candidates(&self, payload: &Value) -> Vec<u32> {
        let mut out = self.always.clone();
        if self.exact.is_empty()
            && self.sets.is_empty()
            && self.above.is_empty()
            && self.below.is_empty()
        {
            return out;
        }
        let number = |p: usize| match self.paths[p].resolve(payload).found() {
            Some(Value::Number(n)) => n.as_f64(),
            _ => None,
        };
        for (p, list) in &self.above {
            // value > t can hold only where t <= value (as f64: rounding is
            // monotonic, so ties cover it); anything else keeps them all.
            let end = match number(*p) {
                Some(v) => list.partition_point(|(t, _)| *t <= v),
                None => list.len(),
            };
            out.extend(list[..end].iter().map(|(_, id)| *id));
        }
        for (p, list) in &self.below {
            let start = match number(*p) {
                Some(v) => list.partition_point(|(t, _)| *t < v),
                None => 0,
            };
            out.extend(list[start..].iter().map(|(_, id)| *id));
        }
        if self.exact.is_empty() && self.sets.is_empty() {
            out.sort_unstable();
            return out;
        }
        let values: Vec<Option<&str>> = self
            .paths
            .iter()
            .map(|p| p.resolve(payload).found().and_then(Value::as_str))
            .collect();
        for (p, map) in &self.exact {
            if let Some(ids) = values[*p].and_then(|v| map.get(v)) {
                out.extend_from_slice(ids);
            }
        }
        for (p, set, ids) in &self.sets {
            if let Some(v) = values[*p] {
                let hits = set.matches(v);
                if hits.matched_any() {
                    out.extend(hits.iter().map(|i| ids[i]));
                }
            }
        }
        if out.len() > self.always.len() {
            out.sort_unstable();
        }
        out
    }
}

/// The criterion to file `rule` under, if it has a usable one.
fn choose(rule: &Rule) -> Option<(&KeyPath, Key)> {
    let mut regex = None;
    let mut threshold = None;
    for c in &rule.criteria {
        let (value, matcher) = match &c.pattern {
            Pattern::Static { value, matcher } => (value, matcher),
            Pattern::Absent => continue,
            // Anything after a template or a search could be skipped while
            // st2 would have reported that criterion as broken.
            Pattern::Template(_) | Pattern::Search { .. } | Pattern::Null => break,
        };
        if c.path.root() != Root::Trigger {
            continue;
        }
        match (c.operator, value, matcher) {
            (Operator::Equals, Value::String(s), _) => {
                return Some((&c.path, Key::Exact(vec![s.clone()])));
            }
            (Operator::Inside, Value::Array(items), _)
                if !items.is_empty() && items.iter().all(Value::is_string) =>
            {
                let values = items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                return Some((&c.path, Key::Exact(values)));
            }
            (Operator::Regex | Operator::MatchRegex, _, Some(Matcher::Regex(r)))
                if regex.is_none() =>
            {
                regex = Some((&c.path, Key::Regex(r.as_str().to_owned())));
            }
            (Operator::IRegex, _, Some(Matcher::Regex(r))) if regex.is_none() => {
                regex = Some((&c.path, Key::Regex(format!("(?i:{})", r.as_str()))));
            }
            (Operator::MatchWildcard, _, Some(Matcher::Wildcard(w))) if regex.is_none() => {
                if let Some(source) = w.regex_source() {
                    regex = Some((&c.path, Key::Regex(source.to_owned())));
                }
            }
            (Operator::StartsWith, Value::String(s), _) if regex.is_none() => {
                regex = Some((&c.path, Key::Regex(format!(r"\A{}", regex::escape(s)))));
            }
            (Operator::GreaterThan, Value::Number(n), _) if threshold.is_none() => {
                threshold = n.as_f64().map(|t| (&c.path, Key::Above(t)));
            }
            (Operator::LessThan, Value::Number(n), _) if threshold.is_none() => {
                threshold = n.as_f64().map(|t| (&c.path, Key::Below(t)));
            }
            _ => {}
        }
    }
    regex.or(threshold)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn rule(name: &str, criteria: &str) -> Arc<Rule> {
        Arc::new(
            Rule::parse(
                Path::new("r.yaml"),
                &format!("name: {name}\nenabled: true\ntrigger: {{type: t}}\ncriteria:\n{criteria}\naction: {{ref: p.a}}"),
            )
            .unwrap(),
        )
    }

    #[test]
    fn prunes_by_exact_values_and_patterns() {
        let rules = vec![
            rule("eq", "  trigger.rack: {type: equals, pattern: r07}"),
            rule("in", "  trigger.rack: {type: inside, pattern: [r01, r07]}"),
            rule(
                "wild",
                "  trigger.node: {type: matchwildcard, pattern: 'b7*'}",
            ),
            rule("re", "  trigger.node: {type: iregex, pattern: '^B8'}"),
            rule(
                "start",
                "  trigger.node: {type: startswith, pattern: 'b9.'}",
            ),
            rule("num", "  trigger.rack: {type: equals, pattern: 7}"),
            rule(
                "tmpl",
                "  trigger.x: {type: equals, pattern: '{{ trigger.y }}'}\n  trigger.rack: {type: equals, pattern: r01}",
            ),
        ];
        let index = Index::build(&rules, &(0..rules.len()).collect::<Vec<_>>());
        let names = |payload: Value| -> Vec<&str> {
            index
                .candidates(&payload)
                .into_iter()
                .map(|i| rules[i as usize].name.as_str())
                .collect()
        };
        assert_eq!(
            names(json!({"rack": "r07", "node": "b7s01"})),
            ["eq", "in", "wild", "num", "tmpl"]
        );
        assert_eq!(
            names(json!({"rack": "r01", "node": "b8s01"})),
            ["in", "re", "num", "tmpl"]
        );
        assert_eq!(
            names(json!({"rack": 7, "node": "b9.1"})),
            ["start", "num", "tmpl"]
        );
        assert_eq!(names(json!({"node": "b9x1"})), ["num", "tmpl"]);
        assert_eq!(names(json!({})), ["num", "tmpl"]);
    }

    #[test]
    fn prunes_numeric_thresholds_and_keeps_all_for_other_values() {
        let rules = vec![
            rule("gt5", "  trigger.m: {type: greaterthan, pattern: 5}"),
            rule("gt10", "  trigger.m: {type: gt, pattern: 10.5}"),
            rule("lt3", "  trigger.m: {type: lessthan, pattern: 3}"),
            rule("lt8", "  trigger.m: {type: lt, pattern: 8}"),
            // A fixed exact criterion wins over a threshold.
            rule(
                "both",
                "  trigger.m: {type: gt, pattern: 100}\n  trigger.r: {type: equals, pattern: x}",
            ),
        ];
        let index = Index::build(&rules, &(0..rules.len()).collect::<Vec<_>>());
        let names = |payload: Value| -> Vec<&str> {
            index
                .candidates(&payload)
                .into_iter()
                .map(|i| rules[i as usize].name.as_str())
                .collect()
        };
        assert_eq!(names(json!({"m": 0})), ["lt3", "lt8"]);
        // Ties stay candidates (the full evaluation decides).
        assert_eq!(names(json!({"m": 5})), ["gt5", "lt8"]);
        assert_eq!(names(json!({"m": 11})), ["gt5", "gt10"]);
        assert_eq!(names(json!({"m": 6.5, "r": "x"})), ["gt5", "lt8", "both"]);
        // Not a number: every threshold rule is a candidate.
        for v in [json!({"m": "7"}), json!({"m": true}), json!({})] {
            assert_eq!(names(v), ["gt5", "gt10", "lt3", "lt8"]);
        }
    }
}
