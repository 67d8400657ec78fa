//! Merges of context lists, composed ahead of time.
//!
//! Upstream merges a list of contexts into a mapping one by one
//! (`merge_dicts(left, right, overwrite=True)`: nested mappings merge,
//! anything else replaces). A conductor that forgets stored contexts cannot
//! replay them, so each of its lists also carries a [`Patch`]: those merges
//! composed into one. Applied to any mapping, a patch gives exactly what
//! merging the contexts one by one gives. It tells "replace with" from
//! "merge into" because the two do not compose alike: a key merged with
//! `{a: 1}` keeps what the mapping had there, while one set to `5` and
//! then merged with `{a: 1}` ends as `{a: 1}` whatever the mapping had.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::expr::JsonMap;

/// Contexts merged one after another, as one change.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Patch(BTreeMap<String, Change>);

#[derive(Debug, Clone, PartialEq)]
enum Change {
    /// The key ends with this value, whatever it held.
    Set(Value),
    /// A mapping merged into the key's mapping (into `{}` if it holds
    /// something else).
    Merge(Patch),
}

impl Patch {
    /// Then merges `ctx` (upstream's `merge_dicts` of it).
    pub(super) fn push(&mut self, ctx: &JsonMap) {
        for (k, v) in ctx {
            match (self.0.get_mut(k), v) {
                (Some(Change::Merge(p)), Value::Object(o)) => p.push(o),
                (Some(Change::Set(Value::Object(x))), Value::Object(o)) => super::merge_into(x, o),
                (Some(Change::Set(x)), Value::Object(_)) => *x = v.clone(),
                (None, Value::Object(o)) => {
                    let mut p = Patch::default();
                    p.push(o);
                    self.0.insert(k.clone(), Change::Merge(p));
                }
                (_, v) => {
                    self.0.insert(k.clone(), Change::Set(v.clone()));
                }
            }
        }
    }

    /// Then applies `other`.
    pub(super) fn then(&mut self, other: &Patch) {
        for (k, change) in &other.0 {
            let q = match change {
                Change::Set(v) => {
                    self.0.insert(k.clone(), Change::Set(v.clone()));
                    continue;
                }
                Change::Merge(q) => q,
            };
            match self.0.get_mut(k) {
                Some(Change::Merge(p)) => p.then(q),
                Some(Change::Set(Value::Object(x))) => q.apply(x),
                Some(Change::Set(x)) => {
                    let mut o = JsonMap::new();
                    q.apply(&mut o);
                    *x = Value::Object(o);
                }
                None => {
                    self.0.insert(k.clone(), Change::Merge(q.clone()));
                }
            }
        }
    }

    /// Merges into `to` what the contexts would have.
    pub(super) fn apply(&self, to: &mut JsonMap) {
        for (k, change) in &self.0 {
            match change {
                Change::Set(v) => {
                    to.insert(k.clone(), v.clone());
                }
                Change::Merge(q) => match to.get_mut(k) {
                    Some(Value::Object(o)) => q.apply(o),
                    _ => {
                        let mut o = JsonMap::new();
                        q.apply(&mut o);
                        to.insert(k.clone(), Value::Object(o));
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A small deterministic generator (xorshift): no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A mapping over keys a..c, nested two deep, mixing mappings and
        /// scalars so that replace-then-merge and merge-then-replace occur.
        fn map(&mut self, depth: u32) -> JsonMap {
            let mut m = JsonMap::new();
            for k in ["a", "b", "c"] {
                match self.next() % 4 {
                    0 => {}
                    1 if depth > 0 => {
                        m.insert(k.into(), Value::Object(self.map(depth - 1)));
                    }
                    2 => {
                        m.insert(k.into(), json!(self.next() % 3));
                    }
                    _ => {
                        m.insert(k.into(), Value::Object(JsonMap::new()));
                    }
                }
            }
            m
        }
    }

    fn one_by_one(base: &JsonMap, ctxs: &[JsonMap]) -> JsonMap {
        let mut out = base.clone();
        for c in ctxs {
            super::super::merge_into(&mut out, c);
        }
        out
    }

    #[test]
    fn a_patch_merges_as_its_contexts_one_by_one() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2_000 {
            let base = rng.map(2);
            let ctxs: Vec<JsonMap> = (0..(rng.next() % 5)).map(|_| rng.map(2)).collect();
            let cut = (rng.next() as usize) % (ctxs.len() + 1);
            // Built by pushes, and by composing two halves.
            let mut pushed = Patch::default();
            ctxs.iter().for_each(|c| pushed.push(c));
            let (mut left, mut right) = (Patch::default(), Patch::default());
            ctxs[..cut].iter().for_each(|c| left.push(c));
            ctxs[cut..].iter().for_each(|c| right.push(c));
            left.then(&right);
            let want = one_by_one(&base, &ctxs);
            for p in [&pushed, &left] {
                let mut got = base.clone();
                p.apply(&mut got);
                assert_eq!(got, want, "base {base:?}, contexts {ctxs:?}");
            }
        }
    }

    #[test]
    fn replace_then_merge_forgets_what_was_there() {
        let mut p = Patch::default();
        p.push(json!({"k": 5}).as_object().unwrap());
        p.push(json!({"k": {"a": 1}}).as_object().unwrap());
        let mut m = json!({"k": {"b": 2}}).as_object().unwrap().clone();
        p.apply(&mut m);
        assert_eq!(Value::Object(m), json!({"k": {"a": 1}}));
    }
}
