//! Test helpers: a store of deltas, and a conductor that forgets what it
//! stored ([`Lean`]) driven beside one that holds everything.

use serde_json::Value;

use super::{Conductor, RerunRequest, StateDelta, WorkflowState};
use crate::expr::JsonMap;
use crate::{Status, Workflow};

/// A store of deltas: the head and its list items by (list, index), as
/// drover-store keeps them.
#[derive(Default)]
pub(crate) struct Deltas {
    head: Value,
    parts: std::collections::BTreeMap<(&'static str, u32), String>,
    pub(crate) written: usize,
}

impl Deltas {
    pub(crate) fn apply(&mut self, d: StateDelta) {
        if d.replace {
            self.parts.clear();
        }
        self.written += d.head.len();
        self.head = serde_json::from_str(&d.head).unwrap();
        for p in d.parts {
            self.written += p.value.len();
            self.parts.insert((p.list, p.index), p.value);
        }
    }

    /// The whole state, put back together.
    pub(crate) fn state(&self) -> Value {
        let mut v = self.head.clone();
        for ((list, i), item) in &self.parts {
            let items = v.pointer_mut(list).unwrap().as_array_mut().unwrap();
            assert_eq!(items.len(), *i as usize, "{list} has no gap");
            items.push(serde_json::from_str(item).unwrap());
        }
        v
    }
}

/// A conductor that forgets, as the runner drives it: every delta stored.
pub(crate) struct Lean<'w> {
    pub(crate) c: Conductor<'w>,
    pub(crate) store: Deltas,
}

impl<'w> Lean<'w> {
    /// A new run, started (`running`) and stored.
    pub(crate) fn start(wf: &'w Workflow, inputs: JsonMap) -> Lean<'w> {
        let mut c = Conductor::new(wf, inputs);
        let _ = c.request_status(Status::Running);
        Lean::stored(c)
    }

    /// A rerun of what `self` stored: resumed from the store, as
    /// `drover exec rerun` does (a finished run stored its last delta).
    pub(crate) fn rerun(
        mut self,
        wf: &'w Workflow,
        requests: &[RerunRequest],
    ) -> Result<Lean<'w>, String> {
        self.store.apply(self.c.take_delta());
        let st: WorkflowState =
            serde_json::from_value(self.store.state()).map_err(|e| e.to_string())?;
        let mut c = Conductor::resume(wf, st).map_err(|e| e.to_string())?;
        c.request_rerun(requests).map_err(|e| e.to_string())?;
        Ok(Lean::stored(c))
    }

    fn stored(mut c: Conductor<'w>) -> Lean<'w> {
        let mut store = Deltas::default();
        store.apply(c.take_full_delta());
        c.forget_stored();
        Lean { c, store }
    }

    /// Stores a delta; what is stored must be `pure`'s whole state, and
    /// what both tell the same.
    pub(crate) fn check(&mut self, pure: &Conductor<'_>) -> Result<(), String> {
        self.store.apply(self.c.take_delta());
        let want = serde_json::to_value(pure.state()).map_err(|e| e.to_string())?;
        let got = self.store.state();
        if got != want {
            return Err(format!("stored state differs:\n{got}\nwhole:\n{want}"));
        }
        if (self.c.status(), self.c.output(), self.c.errors())
            != (pure.status(), pure.output(), pure.errors())
        {
            return Err(format!(
                "status, output or errors differ: {:?} {:?} {:?}",
                self.c.status(),
                self.c.output(),
                self.c.errors()
            ));
        }
        Ok(())
    }
}
