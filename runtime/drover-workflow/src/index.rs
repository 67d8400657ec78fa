//! The execution index: the workflow's graph, computed once at load.
//!
//! Upstream Orquesta keeps a networkx graph and re-derives facts from it on
//! every event (inbound transitions of a join, whether a task splits, whether
//! it sits in a cycle via `simple_cycles`, ...). Here every such fact is a
//! field, computed once in [`Graph::build`]:
//!
//! - nodes (tasks reachable from a start task, plus the engine commands
//!   `continue`/`fail`/`noop` they lead to), **numbered in name order**, so
//!   ordering by node number is upstream's ordering by task id;
//! - outbound edges per node, sorted by (target, key) as upstream's
//!   `get_next_transitions`; inbound edges per node;
//! - per node: join requirement, number of distinct inbound tasks, the
//!   barrier targets it feeds (with the edge positions), split flag, cycle
//!   flag (Tarjan's SCC), retry spec.
//!
//! Edge `k` from `a` to `b` is the k-th transition from `a` to `b` in
//! definition order: `b__tk` in the source entry's `next`, `a__tk` in routes
//! and back references.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::expr::Template;
use crate::spec::{IntOrExpr, Join, RetrySpec, TaskSpec};

/// The engine commands that are graph nodes (`retry` is not: it sets the
/// task's retry spec instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    Continue,
    Fail,
    Noop,
}

#[derive(Debug, Clone)]
pub(crate) struct GNode {
    pub name: Arc<str>,
    /// Index into `Workflow::tasks`; `None` for engine commands.
    pub task: Option<u32>,
    pub engine: Option<Engine>,
    pub join: Option<Join>,
    /// For joins: how many satisfied inbound tasks make the join ready.
    pub requirement: u32,
    /// Distinct tasks with a transition into this node.
    pub sources: u32,
    pub split: bool,
    pub in_cycle: bool,
    pub retry: Option<RetrySpec>,
    /// Edge ids, sorted by (target, key).
    pub out: Vec<u32>,
    /// Join targets of `out`: (target node, positions in `out`).
    pub barrier_targets: Vec<(u32, Vec<u32>)>,
    /// Edge ids into this node.
    pub inbound: Vec<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct GEdge {
    pub source: u32,
    pub target: u32,
    pub key: u32,
    /// Index into the source task's `next`.
    pub transition: u32,
    /// The transition's condition (shared with the spec), kept here so an
    /// event reads the edge only.
    pub when: Option<Template>,
    /// `target__tk`.
    pub tid: Arc<str>,
    /// `source__tk`.
    pub backref: Arc<str>,
}

/// The graph of a workflow (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    pub nodes: Vec<GNode>,
    pub edges: Vec<GEdge>,
    pub by_name: Arc<FxMap<Arc<str>, u32>>,
    pub roots: Vec<u32>,
}

impl Graph {
    pub fn node(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// Builds the index of a validated task list.
    pub fn build(tasks: &[TaskSpec]) -> Graph {
        let task_of: HashMap<&str, usize> = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i))
            .collect();
        // (target, transition idx) per task, sorted by target (stable).
        let next_of = |t: &TaskSpec| -> Vec<(String, usize)> {
            let mut v: Vec<(String, usize)> = t
                .next
                .iter()
                .enumerate()
                .flat_map(|(i, tr)| tr.targets.iter().map(move |(n, _)| (n.clone(), i)))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        // References over all tasks, for start tasks and split flags.
        let mut refs: HashMap<String, usize> = HashMap::new();
        for t in tasks {
            for (n, _) in next_of(t) {
                *refs.entry(n).or_default() += 1;
            }
        }
        let mut starts: Vec<&str> = tasks
            .iter()
            .map(|t| t.name.as_str())
            .filter(|n| !refs.contains_key(*n))
            .collect();
        starts.sort_unstable();

        // Reachable nodes.
        let mut reachable: Vec<String> = Vec::new();
        let mut seen: std::collections::HashSet<String> = Default::default();
        let mut queue: VecDeque<String> = starts.iter().map(|s| s.to_string()).collect();
        for s in &starts {
            seen.insert(s.to_string());
        }
        while let Some(n) = queue.pop_front() {
            if let Some(&ti) = task_of.get(n.as_str()) {
                for (next, _) in next_of(&tasks[ti]) {
                    if next != "retry" && seen.insert(next.clone()) {
                        queue.push_back(next);
                    }
                }
            }
            reachable.push(n);
        }
        reachable.sort();
        let by_name: FxMap<Arc<str>, u32> = reachable
            .iter()
            .enumerate()
            .map(|(i, n)| (Arc::from(n.as_str()), i as u32))
            .collect();

        let completed = Template::compile("{{ completed() }}").expect("a valid expression");
        let mut nodes: Vec<GNode> = reachable
            .iter()
            .map(|n| {
                let ti = task_of.get(n.as_str()).copied();
                let spec = ti.map(|i| &tasks[i]);
                let engine = match n.as_str() {
                    "continue" if ti.is_none() => Some(Engine::Continue),
                    "fail" if ti.is_none() => Some(Engine::Fail),
                    "noop" if ti.is_none() => Some(Engine::Noop),
                    _ => None,
                };
                let join = spec.and_then(|s| s.join);
                GNode {
                    name: Arc::from(n.as_str()),
                    task: ti.map(|i| i as u32),
                    engine,
                    join,
                    requirement: 1,
                    sources: 0,
                    split: join.is_none() && refs.get(n).copied().unwrap_or(0) > 1,
                    in_cycle: false,
                    retry: spec.and_then(|s| s.retry.clone()),
                    out: Vec::new(),
                    barrier_targets: Vec::new(),
                    inbound: Vec::new(),
                }
            })
            .collect();

        let mut edges: Vec<GEdge> = Vec::new();
        for (si, node) in reachable.iter().enumerate() {
            let Some(&ti) = task_of.get(node.as_str()) else {
                continue;
            };
            let mut keys: HashMap<&str, u32> = HashMap::new();
            let mut added: HashSet<(String, usize)> = HashSet::new();
            for (target, tr) in next_of(&tasks[ti]) {
                if target == "retry" {
                    let when = tasks[ti].next[tr]
                        .when
                        .clone()
                        .unwrap_or_else(|| completed.clone());
                    nodes[si].retry = Some(RetrySpec {
                        when: Some(when),
                        count: IntOrExpr::Int(3),
                        delay: None,
                    });
                    continue;
                }
                if !added.insert((target.clone(), tr)) {
                    continue;
                }
                let Some(&ni) = by_name.get(target.as_str()) else {
                    continue;
                };
                let k = keys.entry(&reachable[ni as usize]).or_default();
                let key = *k;
                *k += 1;
                edges.push(GEdge {
                    source: si as u32,
                    target: ni,
                    key,
                    transition: tr as u32,
                    when: tasks[ti].next[tr].when.clone(),
                    tid: Arc::from(format!("{target}__t{key}")),
                    backref: Arc::from(format!("{node}__t{key}")),
                });
            }
        }
        for (ei, e) in edges.iter().enumerate() {
            nodes[e.source as usize].out.push(ei as u32);
            nodes[e.target as usize].inbound.push(ei as u32);
        }
        for n in &mut nodes {
            n.out
                .sort_by_key(|&e| (edges[e as usize].target, edges[e as usize].key));
            n.inbound
                .sort_by_key(|&e| (edges[e as usize].source, edges[e as usize].key));
            let mut sources: Vec<u32> = n
                .inbound
                .iter()
                .map(|&e| edges[e as usize].source)
                .collect();
            sources.dedup();
            n.sources = sources.len() as u32;
        }
        for i in 0..nodes.len() {
            nodes[i].requirement = match nodes[i].join {
                Some(Join::All) => nodes[i].sources,
                Some(Join::Count(0)) | None => 1,
                Some(Join::Count(c)) => c,
            };
            let mut targets: Vec<(u32, Vec<u32>)> = Vec::new();
            for (pos, &e) in nodes[i].out.iter().enumerate() {
                let t = edges[e as usize].target;
                if nodes[t as usize].join.is_none() {
                    continue;
                }
                match targets.last_mut() {
                    Some((last, positions)) if *last == t => positions.push(pos as u32),
                    _ => targets.push((t, vec![pos as u32])),
                }
            }
            nodes[i].barrier_targets = targets;
        }
        for (i, in_cycle) in cycles(&nodes, &edges).into_iter().enumerate() {
            nodes[i].in_cycle = in_cycle;
        }
        let roots = (0..nodes.len() as u32)
            .filter(|&i| nodes[i as usize].inbound.is_empty())
            .collect();
        Graph {
            nodes,
            edges,
            by_name: Arc::new(by_name),
            roots,
        }
    }
}

/// A fast hasher (FxHash) for the conductor's keys: task numbers and
/// routes it assigns itself, and task names from a validated workflow.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;
pub(crate) type FxSet<K> = HashSet<K, BuildHasherDefault<Fx>>;

/// A map keyed by (node, route), stored per node: the slot of route 0 is
/// inline, other routes in a small list. Nodes are numbered densely, so this
/// is an array walk in node order (cache friendly), with no hashing.
#[derive(Debug, Clone)]
pub(crate) struct NodeMap<V> {
    slots: Vec<Slot<V>>,
}

#[derive(Debug, Clone)]
struct Slot<V> {
    first: Option<V>,
    rest: Vec<(u32, V)>,
}

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Slot {
            first: None,
            rest: Vec::new(),
        }
    }
}

impl<V> Default for NodeMap<V> {
    fn default() -> Self {
        NodeMap { slots: Vec::new() }
    }
}

impl<V> NodeMap<V> {
    pub fn get(&self, &(node, route): &(u32, u32)) -> Option<&V> {
        let slot = self.slots.get(node as usize)?;
        if route == 0 {
            slot.first.as_ref()
        } else {
            slot.rest.iter().find(|(r, _)| *r == route).map(|(_, v)| v)
        }
    }

    pub fn contains_key(&self, key: &(u32, u32)) -> bool {
        self.get(key).is_some()
    }

    fn slot(&mut self, node: u32) -> &mut Slot<V> {
        let n = node as usize;
        if n >= self.slots.len() {
            self.slots.resize_with(n + 1, Slot::default);
        }
        &mut self.slots[n]
    }

    pub fn insert(&mut self, (node, route): (u32, u32), v: V) -> Option<V> {
        let slot = self.slot(node);
        if route == 0 {
            return slot.first.replace(v);
        }
        match slot.rest.iter_mut().find(|(r, _)| *r == route) {
            Some((_, old)) => Some(std::mem::replace(old, v)),
            None => {
                slot.rest.push((route, v));
                None
            }
        }
    }

    pub fn remove(&mut self, &(node, route): &(u32, u32)) -> Option<V> {
        let slot = self.slots.get_mut(node as usize)?;
        if route == 0 {
            return slot.first.take();
        }
        let i = slot.rest.iter().position(|(r, _)| *r == route)?;
        Some(slot.rest.swap_remove(i).1)
    }

    pub fn entry_or_default(&mut self, (node, route): (u32, u32)) -> &mut V
    where
        V: Default,
    {
        let slot = self.slot(node);
        if route == 0 {
            return slot.first.get_or_insert_with(V::default);
        }
        let i = match slot.rest.iter().position(|(r, _)| *r == route) {
            Some(i) => i,
            None => {
                slot.rest.push((route, V::default()));
                slot.rest.len() - 1
            }
        };
        &mut slot.rest[i].1
    }

    pub fn clear(&mut self) {
        self.slots.clear();
    }

    pub fn iter(&self) -> impl Iterator<Item = ((u32, u32), &V)> {
        self.slots.iter().enumerate().flat_map(|(n, slot)| {
            let n = n as u32;
            slot.first
                .iter()
                .map(move |v| ((n, 0), v))
                .chain(slot.rest.iter().map(move |(r, v)| ((n, *r), v)))
        })
    }
}

impl<V> std::ops::Index<&(u32, u32)> for NodeMap<V> {
    type Output = V;
    fn index(&self, key: &(u32, u32)) -> &V {
        self.get(key).expect("a key present in the map")
    }
}

/// A set of task state entry indices (the active ones): a bitmap over the
/// sequence plus a count.
#[derive(Debug, Clone, Default)]
pub(crate) struct IndexSet {
    bits: Vec<u64>,
    len: u32,
}

impl IndexSet {
    pub fn insert(&mut self, i: u32) {
        let (w, b) = ((i / 64) as usize, i % 64);
        if w >= self.bits.len() {
            self.bits.resize(w + 1, 0);
        }
        if self.bits[w] & (1 << b) == 0 {
            self.bits[w] |= 1 << b;
            self.len += 1;
        }
    }

    pub fn remove(&mut self, i: u32) {
        let (w, b) = ((i / 64) as usize, i % 64);
        if let Some(word) = self.bits.get_mut(w)
            && *word & (1 << b) != 0
        {
            *word &= !(1 << b);
            self.len -= 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The members, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.bits.iter().enumerate().flat_map(|(w, &word)| {
            (0..64u32)
                .filter(move |b| word & (1 << b) != 0)
                .map(move |b| w as u32 * 64 + b)
        })
    }
}

/// Which nodes lie on a cycle (Tarjan's strongly connected components,
/// iterative): a node is in a cycle if its component has more than one node
/// or it has an edge to itself.
fn cycles(nodes: &[GNode], edges: &[GEdge]) -> Vec<bool> {
    let n = nodes.len();
    let succ = |v: usize| {
        nodes[v]
            .out
            .iter()
            .map(|&e| edges[e as usize].target as usize)
    };
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut result = vec![false; n];
    let mut counter = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, next successor position)
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            let next = nodes[v]
                .out
                .get(*pos)
                .map(|&e| edges[e as usize].target as usize);
            *pos += 1;
            match next {
                Some(w) if index[w] == usize::MAX => {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                }
                Some(w) => {
                    if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                }
                None => {
                    work.pop();
                    if let Some(&(parent, _)) = work.last() {
                        low[parent] = low[parent].min(low[v]);
                    }
                    if low[v] == index[v] {
                        let mut component = Vec::new();
                        while let Some(w) = stack.pop() {
                            on_stack[w] = false;
                            component.push(w);
                            if w == v {
                                break;
                            }
                        }
                        let self_loop = succ(v).any(|w| w == v);
                        if component.len() > 1 || self_loop {
                            for w in component {
                                result[w] = true;
                            }
                        }
                    }
                }
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use crate::spec::Workflow;

    fn wf(tasks: &str) -> Workflow {
        Workflow::parse("t.yaml", &format!("version: 1.0\ntasks:\n{tasks}"), None).unwrap()
    }

    #[test]
    fn nodes_are_in_name_order_with_edges_and_flags() {
        let w = wf(
            "  b:\n    action: x\n    next: [{do: c}, {when: '{{ failed() }}', do: c}]\n  a:\n    action: x\n    next: [{do: b}]\n  c:\n    join: all\n    action: x\n    next: [{do: a2}]\n  a2:\n    action: x\n    next: [{do: c}]\n",
        );
        let g = &w.graph;
        let names: Vec<&str> = g.nodes.iter().map(|n| &*n.name).collect();
        // a2 and c form a loop with no entry other than b, which enters it.
        assert_eq!(names, ["a", "a2", "b", "c"]);
        let b = &g.nodes[2];
        let tids: Vec<&str> = b.out.iter().map(|&e| &*g.edges[e as usize].tid).collect();
        assert_eq!(tids, ["c__t0", "c__t1"]);
        let c = &g.nodes[3];
        assert_eq!(c.sources, 2);
        assert_eq!(c.requirement, 2);
        assert!(c.in_cycle && g.nodes[1].in_cycle && !b.in_cycle);
        assert_eq!(b.barrier_targets, vec![(3, vec![0, 1])]);
        assert_eq!(g.roots, [0]);
    }

    #[test]
    fn retry_command_sets_a_retry_spec_and_split_flags() {
        let w = wf(
            "  a:\n    action: x\n    next: [{when: '{{ failed() }}', do: retry}, {do: 'b, c'}]\n  b:\n    action: x\n    next: [{do: d}]\n  c:\n    action: x\n    next: [{do: d}]\n  d:\n    action: x\n",
        );
        let g = &w.graph;
        let a = &g.nodes[g.node("a").unwrap() as usize];
        assert!(a.retry.is_some());
        assert!(g.nodes[g.node("d").unwrap() as usize].split);
        assert!(g.node("retry").is_none());
        assert!(g.node("continue").is_none());
    }
}
