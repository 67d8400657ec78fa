//! The drive loop of one run: dispatch what the conductor returns, run
//! children on up to [`PARALLEL`] threads, feed their ends back, store each
//! batch of changes in one transaction, read the run's control requests at
//! each turn, and finish or park when nothing is left to run.
//!
//! The conductor is not shared: only this thread touches it; child threads
//! get an action and send back its end. Writes are pipelined (group
//! commit) and waited for before anything that needs them durable: a
//! non-idempotent child's start, parking, finishing.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use drover_app::App;
use drover_core::{ExecStatus, Execution, ExecutionId, LogLevel, LogLine, PlannedEffect, now_ms};
use drover_host::{Prepared, RunError, RunOptions};
use drover_pack::{ActionRef, Pack, Plugin};
use drover_store::{ChildLink, Pending, StoreError};
use drover_workflow::{ActionEvent, Conductor, Status};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ask::{self, AskCheck};
use super::{Meta, Outcome, WorkflowError, exec_status, resume, start, state_write, validate};

/// Most children of one run executing at once (with-items `concurrency`
/// and parallel branches are further bounded by the workflow itself).
pub(crate) const PARALLEL: usize = 8;
/// How often a run with children in flight re-reads its control requests.
const CONTROL_POLL: Duration = Duration::from_millis(200);
/// Writes kept in flight before waiting for them.
const MAX_PENDING: usize = 256;
/// Longest a change stays unwritten when only idempotent children ended
/// (a crash then runs them again, which they allow): one write carries
/// many transitions, so a chain of quick actions is not one commit each.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Under serve, a run left with only a delay this long parks for it.
const PARK_DELAY: Duration = Duration::from_secs(1);
/// A child this fast may run on the driving thread (see [`drive`]).
const QUICK: Duration = Duration::from_millis(2);
/// Most child records held before a write.
const FLUSH_CHILDREN: usize = 8192;
/// Most log lines a workflow execution lists its task runs in.
const MAX_LOG_LINES: usize = 1000;

/// A child started (or about to start) and not recorded yet.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Inflight {
    pub(crate) task: String,
    pub(crate) route: u32,
    pub(crate) item: Option<usize>,
    pub(crate) action: String,
    pub(crate) child: ExecutionId,
    pub(crate) input: Value,
    /// Whether it may have started (what a crash leaves unknown). Runs
    /// stored before this field recorded only started children.
    #[serde(default = "started_default")]
    pub(crate) started: bool,
    /// A `core.ask` waiting on its inquiry (`child` is the inquiry id).
    #[serde(default)]
    pub(crate) ask: bool,
    /// Not a child: a task waiting out its `delay` until this time (epoch
    /// ms), stored when the run parks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) due_ms: Option<i64>,
}

fn started_default() -> bool {
    true
}

/// The stored `inflight` column: a list (or, from older runs, one child).
pub(crate) fn parse_inflight(v: Option<Value>) -> Result<Vec<Inflight>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|i| serde_json::from_value(i).map_err(|e| e.to_string()))
            .collect(),
        Some(one) => Ok(vec![
            serde_json::from_value(one).map_err(|e| e.to_string())?,
        ]),
    }
}

/// What an action reference resolves to (looked up once per run).
enum Resolved {
    Wasm(Box<Prepared>),
    Workflow(Arc<Pack>, Box<Plugin>),
    Missing(String),
}

impl Resolved {
    /// Whether running it again after a crash is safe.
    fn repeatable(&self) -> bool {
        match self {
            // A shadow pack's action runs dry: no effect to repeat.
            Resolved::Wasm(p) => p.plugin.idempotent || p.shadow,
            Resolved::Workflow(..) => true,
            Resolved::Missing(_) => true,
        }
    }
}

/// How a child ended.
enum ChildEnd {
    Done(Box<Execution>),
    /// It could not run at all (unknown action, bad input): the task fails.
    CouldNotRun(String),
    /// A subworkflow that parked (paused, waiting on an inquiry).
    Parked(String),
}

type Job = (Inflight, Arc<Resolved>);
type End = (Inflight, Result<ChildEnd, WorkflowError>);

struct Driver<'a, 'w> {
    app: &'a App,
    meta: &'a Meta,
    c: Conductor<'w>,
    /// Mirror of the stored in-flight list.
    inflight: Vec<Inflight>,
    queue: VecDeque<Inflight>,
    /// Tasks waiting out their `delay`, and those whose delay is over.
    delayed: Vec<(Instant, String, u32)>,
    waited: HashSet<(String, u32)>,
    /// Asks waiting on their inquiry; subworkflow children that parked.
    asks: Vec<ExecutionId>,
    parked: Vec<(ExecutionId, String)>,
    resolved: HashMap<String, Arc<Resolved>>,
    /// Actions whose last run here took under [`QUICK`].
    quick: HashSet<String>,
    done: Vec<(Execution, ChildLink)>,
    pending: Vec<Pending<()>>,
    dirty: bool,
    forced: Vec<String>,
    /// The control request last applied (`None`: not read yet).
    control: Option<Option<String>>,
    last_control: Instant,
    last_write: Instant,
    /// How long the last write took to build (the state grows with the
    /// workflow): deferred writes wait 20× that, so they cost ≤ 5%.
    write_cost: Duration,
    /// A child that must not run twice ended since the last write.
    must_write: bool,
    /// The tree reached its ceiling of task runs: nothing more starts.
    exhausted: bool,
}

/// Dispatches until the conductor has nothing left, then finishes (or
/// parks, when it waits on something no thread should wait for).
pub(crate) fn drive(
    app: &App,
    meta: &Meta,
    c: Conductor<'_>,
    inherited: Vec<Inflight>,
) -> Result<Outcome, WorkflowError> {
    meta.steps.seen(c.task_runs());
    // Every delta is stored: what it hands out need not stay in memory
    // (a long loop would hold its whole history).
    let mut c = c;
    c.forget_stored();
    let mut d = Driver {
        app,
        meta,
        c,
        inflight: Vec::new(),
        queue: VecDeque::new(),
        delayed: Vec::new(),
        waited: HashSet::new(),
        asks: Vec::new(),
        parked: Vec::new(),
        resolved: HashMap::new(),
        quick: HashSet::new(),
        done: Vec::new(),
        pending: Vec::new(),
        dirty: false,
        forced: Vec::new(),
        control: None,
        last_control: Instant::now(),
        last_write: Instant::now(),
        write_cost: Duration::ZERO,
        must_write: false,
        exhausted: false,
    };
    for inf in inherited {
        d.adopt(inf)?;
    }
    d.write()?;
    let (job_tx, job_rx) = crossbeam_channel::unbounded::<Job>();
    let (end_tx, end_rx) = crossbeam_channel::unbounded::<End>();
    std::thread::scope(|s| {
        let mut workers = 0usize;
        let mut running = 0usize;
        let result = (|| loop {
            d.check_control()?;
            d.dispatch()?;
            // A lone child of an action known to be quick runs here: no
            // hand-off for chains of quick tasks. A slow one runs on a
            // worker so that this thread keeps writing on time.
            if running == 0
                && d.queue.len() == 1
                && d.delayed.is_empty()
                && d.queue.front().is_some_and(|i| d.quick.contains(&i.action))
            {
                let (inf, res) = d.next_start()?;
                let end = run_child(app, meta, &inf, &res);
                d.complete(inf, end?)?;
                d.write_soon()?;
                continue;
            }
            while running < PARALLEL && !d.queue.is_empty() {
                let job = d.next_start()?;
                if workers <= running {
                    workers += 1;
                    let (rx, tx) = (job_rx.clone(), end_tx.clone());
                    s.spawn(move || child_worker(app, meta, rx, tx));
                }
                job_tx
                    .send(job)
                    .expect("child workers live while the run does");
                running += 1;
            }
            if running == 0 {
                if let Some(wait) = d.delay_wait() {
                    if d.meta.park_delays && wait >= PARK_DELAY {
                        match d.park_for_delays()? {
                            Some(outcome) => return Ok(outcome),
                            None => continue,
                        }
                    }
                    std::thread::sleep(wait.min(CONTROL_POLL));
                    d.release_delays();
                    continue;
                }
                d.write()?;
                d.sync()?;
                if d.waits() {
                    match d.park()? {
                        Some(outcome) => return Ok(outcome),
                        None => continue,
                    }
                }
                return d.finish().map(|e| Outcome::Finished(Box::new(e)));
            }
            let flush_due = FLUSH_EVERY.saturating_sub(d.last_write.elapsed());
            let wait = d
                .delay_wait()
                .unwrap_or(CONTROL_POLL)
                .min(CONTROL_POLL)
                .min(flush_due.max(Duration::from_millis(1)));
            match end_rx.recv_timeout(wait) {
                Ok((inf, end)) => {
                    running -= 1;
                    d.complete(inf, end?)?;
                    while let Ok((inf, end)) = end_rx.try_recv() {
                        running -= 1;
                        d.complete(inf, end?)?;
                    }
                    d.write_soon()?;
                }
                Err(_) => {
                    d.release_delays();
                    d.write_soon()?;
                }
            }
        })();
        // Let the child workers end (the scope joins them). On an error
        // children still running finish; their ends are dropped and the
        // run continues from its stored state next time.
        drop(job_tx);
        result
    })
}

fn child_worker(app: &App, meta: &Meta, jobs: Receiver<Job>, ends: Sender<End>) {
    for (inf, res) in jobs {
        let end = run_child(app, meta, &inf, &res);
        if ends.send((inf, end)).is_err() {
            return;
        }
    }
}

impl<'w> Driver<'_, 'w> {
    fn conductor_err(&self, source: drover_workflow::ConductorError) -> WorkflowError {
        WorkflowError::Conductor {
            action: self.meta.action.clone(),
            source,
        }
    }

    fn event(
        &mut self,
        task: &str,
        route: u32,
        item: Option<usize>,
        e: ActionEvent,
    ) -> Result<(), WorkflowError> {
        let e = match item {
            Some(i) => e.for_item(i),
            None => e,
        };
        self.c
            .on_action_event(task, route, e)
            .map_err(|e| self.conductor_err(e))?;
        self.dirty = true;
        Ok(())
    }

    fn inflight_json(&self) -> Result<Option<Value>, WorkflowError> {
        if self.inflight.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            serde_json::to_value(&self.inflight).map_err(StoreError::from)?,
        ))
    }

    /// Writes now if a non-idempotent child ended, or enough time or
    /// children piled up; otherwise leaves the changes for a later write.
    fn write_soon(&mut self) -> Result<(), WorkflowError> {
        if self.must_write
            || self.done.len() >= FLUSH_CHILDREN
            || self.last_write.elapsed() >= FLUSH_EVERY.max(self.write_cost * 20)
        {
            self.write()?;
        }
        Ok(())
    }

    /// Stores what changed since the last write (pipelined).
    fn write(&mut self) -> Result<(), WorkflowError> {
        self.last_write = Instant::now();
        self.must_write = false;
        if !self.dirty && self.done.is_empty() {
            return Ok(());
        }
        self.c.set_task_runs(self.meta.steps.used());
        let state = state_write(&mut self.c);
        let inflight = self.inflight_json()?;
        self.write_cost = self.last_write.elapsed();
        let pending = self.app.store().workflow_children_done(
            self.meta.id,
            state,
            std::mem::take(&mut self.done),
            inflight,
        )?;
        self.pending.push(pending);
        self.dirty = false;
        if self.pending.len() >= MAX_PENDING {
            self.sync()?;
        }
        Ok(())
    }

    /// Waits until every write so far is durable.
    fn sync(&mut self) -> Result<(), WorkflowError> {
        for p in self.pending.drain(..) {
            p.wait()?;
        }
        Ok(())
    }

    fn resolve(&mut self, action: &str) -> Arc<Resolved> {
        if let Some(r) = self.resolved.get(action) {
            return r.clone();
        }
        // The workflow's own pack's actions run in the same version as the
        // workflow (a candidate's, or the one it started with before a
        // promotion); other packs' in their live version.
        let own = &self.meta.pack;
        let version = |a: &ActionRef| (a.pack == own.name).then_some(own.version.as_str());
        let r = Arc::new(match action.parse::<ActionRef>() {
            Err(e) => Resolved::Missing(format!("{e}")),
            Ok(a) => match self.app.runtime().action_plugin_version(&a, version(&a)) {
                Err(e) => Resolved::Missing(e.to_string()),
                Ok((pack, plugin)) if plugin.is_workflow() => {
                    Resolved::Workflow(pack, Box::new(plugin))
                }
                Ok(_) => match self.app.runtime().prepare_version(&a, version(&a)) {
                    Ok(p) => Resolved::Wasm(Box::new(p)),
                    Err(e) => Resolved::Missing(e.to_string()),
                },
            },
        });
        self.resolved.insert(action.to_owned(), r.clone());
        r
    }

    /// Takes a child from a previous drive of this run.
    fn adopt(&mut self, mut inf: Inflight) -> Result<(), WorkflowError> {
        if let Some(due) = inf.due_ms {
            // A delay the run parked for: it goes on where it was.
            let left = Duration::from_millis((due - now_ms()).max(0) as u64);
            self.delayed
                .push((Instant::now() + left, inf.task.clone(), inf.route));
            self.dirty = true;
            return Ok(());
        }
        if inf.ask {
            self.inflight.push(inf.clone());
            return self.check_ask(inf);
        }
        let again =
            !inf.started || self.meta.opts.dry_run || self.resolve(&inf.action).repeatable();
        if again {
            inf.started = false;
            self.inflight.push(inf.clone());
            self.queue.push_back(inf);
            return Ok(());
        }
        let message = format!(
            "task {:?} (route {}) was abandoned: its action {} was in flight when drover \
             stopped and is not idempotent, so it is not run again; check what it did, then \
             `drover exec rerun {} --task {}` to go on from there",
            inf.task, inf.route, inf.action, self.meta.root, inf.task
        );
        let now = now_ms();
        let child = Execution {
            id: inf.child,
            action: inf.action.clone(),
            pack_version: String::new(),
            digest: String::new(),
            parameters: inf.input.clone(),
            status: ExecStatus::Failed,
            result: Some(json!({"abandoned": true})),
            error: Some(format!("abandoned: {message}")),
            dry_run: self.meta.opts.dry_run,
            plan: self.meta.opts.dry_run.then(Vec::new),
            logs: Vec::new(),
            actor: self.meta.opts.actor.clone(),
            started_at_ms: now,
            finished_at_ms: now,
            duration_us: 0,
        };
        self.event(
            &inf.task,
            inf.route,
            inf.item,
            ActionEvent::failed(json!({"abandoned": true, "error": message})),
        )?;
        let _ = self.c.request_status(Status::Failed);
        self.done.push((child, self.link(&inf)));
        self.forced.push(message);
        Ok(())
    }

    fn link(&self, inf: &Inflight) -> ChildLink {
        ChildLink {
            parent: self.meta.id,
            task: inf.task.clone(),
            route: inf.route,
        }
    }

    /// Looks at a waiting ask's inquiry: answered, timed out or canceled
    /// completes the task; pending keeps it waiting.
    fn check_ask(&mut self, inf: Inflight) -> Result<(), WorkflowError> {
        match ask::check(self.app, inf.child)? {
            AskCheck::Pending => {
                if !self.asks.contains(&inf.child) {
                    self.asks.push(inf.child);
                }
                Ok(())
            }
            AskCheck::Ended(exec) => {
                self.asks.retain(|a| *a != inf.child);
                self.complete(inf, ChildEnd::Done(exec))
            }
        }
    }

    /// Applies the operator's pause/cancel (or its withdrawal).
    fn check_control(&mut self) -> Result<(), WorkflowError> {
        // Read at most every FLUSH_EVERY once read: a request waits that
        // long at most, and a fast chain does not pay a read per task.
        if self.control.is_some() && self.last_control.elapsed() < FLUSH_EVERY {
            return Ok(());
        }
        self.last_control = Instant::now();
        let control = self.app.store().workflow_control(self.meta.root)?;
        if self.control.as_ref() == Some(&control) {
            return Ok(());
        }
        let status = self.c.status();
        match control.as_deref() {
            Some("pause") => {
                if self.c.request_status(Status::Pausing).is_ok() {
                    self.dirty = true;
                }
                self.delayed.clear();
            }
            Some("cancel") => {
                if self.c.request_status(Status::Canceling).is_ok() {
                    self.dirty = true;
                }
                self.delayed.clear();
                for id in std::mem::take(&mut self.asks) {
                    ask::cancel(self.app, id)?;
                    if let Some(inf) = self.inflight.iter().find(|i| i.child == id).cloned() {
                        self.check_ask(inf)?;
                    }
                }
                self.wake_parked();
            }
            _ => {
                if matches!(status, Some(Status::Pausing | Status::Paused))
                    && (self.c.request_status(Status::Resuming).is_ok()
                        || self.c.request_status(Status::Running).is_ok())
                {
                    self.dirty = true;
                }
                self.wake_parked();
            }
        }
        self.control = Some(control);
        Ok(())
    }

    /// Subworkflow children that parked run again (they see the change).
    fn wake_parked(&mut self) {
        for (child, _) in std::mem::take(&mut self.parked) {
            if let Some(inf) = self.inflight.iter_mut().find(|i| i.child == child) {
                inf.started = false;
                self.queue.push_back(inf.clone());
            }
        }
    }

    /// Reports what the conductor returns as started: actions queued,
    /// asks stored, tasks without an action done, delays noted.
    fn dispatch(&mut self) -> Result<(), WorkflowError> {
        if self.exhausted {
            return Ok(());
        }
        // A dry run's asks end here and now: what follows them is
        // dispatched in the same turn (else the run would look finished).
        let mut answered = true;
        while std::mem::take(&mut answered) && !self.exhausted {
            answered = self.dispatch_once()?;
        }
        Ok(())
    }

    /// One round of [`Driver::dispatch`]; true when a dry run's ask was
    /// answered in it.
    fn dispatch_once(&mut self) -> Result<bool, WorkflowError> {
        let mut answered = false;
        let tasks = self.c.next_tasks();
        for task in tasks {
            let key = (task.task_id.clone(), task.route);
            if self
                .delayed
                .iter()
                .any(|(_, t, r)| *t == key.0 && *r == key.1)
            {
                continue;
            }
            // `drover run --dry-run` shows its plan now, without waiting;
            // under serve a dry run keeps time like a live one (a shadowed
            // candidate's retries see the world the live run changes as it
            // changes, instead of retrying in a hot loop).
            let keeps_time = !self.meta.opts.dry_run || self.meta.park_delays;
            if let Some(delay) = task.delay.filter(|d| *d > 0 && keeps_time)
                && !self.waited.contains(&key)
            {
                let due = Instant::now() + Duration::from_secs(delay);
                self.delayed.push((due, key.0, key.1));
                continue;
            }
            if let Err(message) = self.meta.steps.charge(task.actions.len().max(1) as u64) {
                // The ceiling: what runs ends, nothing more starts, the
                // workflow fails saying which limit and where to raise it.
                tracing::warn!(run = %self.meta.id, %message, "workflow stopped at its ceiling");
                self.exhausted = true;
                self.forced.push(message);
                let _ = self.c.request_status(Status::Failed);
                self.dirty = true;
                return Ok(false);
            }
            if task.actions.is_empty() {
                // A with-items task over an empty list.
                self.event(
                    &task.task_id,
                    task.route,
                    None,
                    ActionEvent::status(Status::Running),
                )?;
                self.event(
                    &task.task_id,
                    task.route,
                    None,
                    ActionEvent::succeeded(Value::Array(Vec::new())),
                )?;
            }
            for req in task.actions {
                self.event(
                    &task.task_id,
                    task.route,
                    req.item_id,
                    ActionEvent::status(Status::Running),
                )?;
                let Some(action) = req.action else {
                    self.event(
                        &task.task_id,
                        task.route,
                        req.item_id,
                        ActionEvent::succeeded(Value::Null),
                    )?;
                    continue;
                };
                let inf = Inflight {
                    task: task.task_id.clone(),
                    route: task.route,
                    item: req.item_id,
                    action,
                    child: ExecutionId::new(),
                    input: req.input,
                    started: false,
                    ask: false,
                    due_ms: None,
                };
                if inf.action == ask::ACTION {
                    answered |= self.start_ask(inf)?;
                } else {
                    self.inflight.push(inf.clone());
                    self.queue.push_back(inf);
                }
            }
        }
        Ok(answered)
    }

    /// Stores the inquiry of a `core.ask` task, or, in a dry run, answers
    /// it at once (true: the task ended).
    fn start_ask(&mut self, mut inf: Inflight) -> Result<bool, WorkflowError> {
        let inquiry = match ask::inquiry(self.meta, &inf) {
            Ok(q) => q,
            Err(message) => {
                self.event(
                    &inf.task,
                    inf.route,
                    inf.item,
                    ActionEvent::failed(json!({"error": message})),
                )?;
                return Ok(true);
            }
        };
        if self.meta.opts.dry_run {
            // A dry run asks no one: the answer is part of the plan.
            let exec = ask::dry_run_answer(
                &inquiry,
                self.meta.dry_answer.as_deref(),
                &self.meta.opts.actor,
            );
            self.inflight.push(inf.clone());
            self.complete(inf, ChildEnd::Done(Box::new(exec)))?;
            return Ok(true);
        }
        // Children ended before it go first (the ask's write holds the
        // state only).
        self.write()?;
        inf.ask = true;
        inf.started = true;
        self.inflight.push(inf.clone());
        self.asks.push(inf.child);
        self.c.set_task_runs(self.meta.steps.used());
        self.app.store().workflow_ask(
            self.meta.id,
            state_write(&mut self.c),
            self.inflight_json()?.unwrap_or(Value::Null),
            inquiry,
        )?;
        self.dirty = false;
        Ok(false)
    }

    /// The next queued child, marked started (durably first if running it
    /// twice would not be safe).
    fn next_start(&mut self) -> Result<Job, WorkflowError> {
        let mut inf = self.queue.pop_front().expect("queue checked");
        let res = self.resolve(&inf.action);
        inf.started = true;
        if let Some(i) = self.inflight.iter_mut().find(|i| i.child == inf.child) {
            i.started = true;
        }
        if !self.meta.opts.dry_run && !res.repeatable() {
            self.dirty = true;
            self.write()?;
            self.sync()?;
        }
        Ok((inf, res))
    }

    /// Feeds a child's end to the conductor and queues its record.
    fn complete(&mut self, inf: Inflight, end: ChildEnd) -> Result<(), WorkflowError> {
        let event = match &end {
            ChildEnd::Parked(why) => {
                self.parked.push((inf.child, why.clone()));
                return Ok(());
            }
            ChildEnd::Done(exec) if exec.status == ExecStatus::Succeeded => {
                ActionEvent::succeeded(exec.result.clone().unwrap_or(Value::Null))
            }
            ChildEnd::Done(exec) => ActionEvent::failed(json!({
                "status": exec.status,
                "error": exec.error,
                "result": exec.result,
            })),
            ChildEnd::CouldNotRun(message) => ActionEvent::failed(json!({"error": message})),
        };
        self.inflight.retain(|i| i.child != inf.child);
        self.event(&inf.task, inf.route, inf.item, event)?;
        let key = (inf.task.clone(), inf.route);
        if self.c.task_status(&key.0, key.1) != Some(Status::Running) {
            // The next run of this task (a retry) waits its delay again.
            self.waited.remove(&key);
        }
        if let ChildEnd::Done(exec) = &end {
            if exec.duration_us < QUICK.as_micros() as u64 {
                self.quick.insert(inf.action.clone());
            } else {
                self.quick.remove(&inf.action);
            }
        }
        if let ChildEnd::Done(exec) = end {
            // Its record must not wait: after a crash it would count as
            // in flight and be abandoned although it ended.
            let repeatable = !inf.ask
                && (self.meta.opts.dry_run
                    || self
                        .resolved
                        .get(&inf.action)
                        .is_some_and(|r| r.repeatable()));
            self.must_write |= !repeatable;
            let link = self.link(&inf);
            self.done.push((*exec, link));
        }
        Ok(())
    }

    fn delay_wait(&self) -> Option<Duration> {
        self.delayed
            .iter()
            .map(|(due, ..)| due.saturating_duration_since(Instant::now()))
            .min()
    }

    fn release_delays(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.delayed)
            .into_iter()
            .partition(|(at, ..)| *at <= now);
        self.delayed = later;
        for (_, task, route) in due {
            self.waited.insert((task, route));
        }
    }

    /// Whether the run waits on something with nothing running.
    fn waits(&self) -> bool {
        !self.asks.is_empty()
            || !self.parked.is_empty()
            || matches!(self.c.status(), Some(Status::Pausing | Status::Paused))
    }

    /// Parks a run (under serve) that only waits out delays: they are
    /// stored with their due times and serve queues the run again then.
    fn park_for_delays(&mut self) -> Result<Option<Outcome>, WorkflowError> {
        let now = (Instant::now(), now_ms());
        let due = |at: Instant| now.1 + at.saturating_duration_since(now.0).as_millis() as i64;
        let earliest = self.delayed.iter().map(|(at, ..)| due(*at)).min();
        for (at, task, route) in &self.delayed {
            self.inflight.push(Inflight {
                task: task.clone(),
                route: *route,
                item: None,
                action: String::new(),
                child: ExecutionId::new(),
                input: Value::Null,
                started: false,
                ask: false,
                due_ms: Some(due(*at)),
            });
        }
        self.dirty = true;
        let why = format!("delay until {}", earliest.unwrap_or(now.1));
        let parked = self.park_as(Some(why))?;
        if parked.is_none() {
            self.inflight.retain(|i| i.due_ms.is_none());
            self.dirty = true;
        }
        Ok(parked)
    }

    /// Stores the run as waiting and releases the thread; `None` when an
    /// inquiry was answered meanwhile (go on driving).
    fn park(&mut self) -> Result<Option<Outcome>, WorkflowError> {
        self.park_as(None)
    }

    fn park_as(&mut self, delay: Option<String>) -> Result<Option<Outcome>, WorkflowError> {
        if self.c.status() == Some(Status::Pausing)
            && self.asks.is_empty()
            && self.parked.is_empty()
        {
            let _ = self.c.request_status(Status::Paused);
            self.dirty = true;
        }
        self.write()?;
        self.sync()?;
        let why = if matches!(self.c.status(), Some(Status::Pausing | Status::Paused)) {
            "paused".to_owned()
        } else if let Some(why) = delay {
            why
        } else if let Some(q) = self.asks.first() {
            format!("inquiry {q}")
        } else {
            self.parked
                .first()
                .map_or_else(|| "paused".to_owned(), |(_, w)| w.clone())
        };
        if self.meta.link.is_none() && !self.app.store().workflow_park(self.meta.id, why.clone())? {
            // An answer arrived: look at the asks again, wake subworkflows.
            for id in self.asks.clone() {
                if let Some(inf) = self.inflight.iter().find(|i| i.child == id).cloned() {
                    self.check_ask(inf)?;
                }
            }
            self.wake_parked();
            return Ok(None);
        }
        tracing::info!(run = %self.meta.id, %why, "workflow run parked");
        Ok(Some(Outcome::Parked {
            id: self.meta.id,
            why,
        }))
    }

    /// Builds the workflow execution; a top-level run stores it (a
    /// subworkflow's parent stores it with its own state).
    fn finish(&mut self) -> Result<Execution, WorkflowError> {
        let meta = self.meta;
        let c = &mut self.c;
        c.set_task_runs(meta.steps.used());
        c.render_output();
        let forced = !self.forced.is_empty();
        let status = exec_status(c.status(), forced);
        let succeeded = status == ExecStatus::Succeeded;
        let mut messages = self.forced.clone();
        if let Some(hit) = meta.steps.hit()
            && !succeeded
            && !messages.contains(hit)
        {
            // A subworkflow reached the tree's ceiling: say so here too.
            messages.push(hit.clone());
        }
        if status == ExecStatus::Canceled {
            messages.push("canceled by an operator (drover exec cancel)".into());
        }
        let store = self.app.store();
        let mut logs = Vec::new();
        let mut plan = meta.opts.dry_run.then(Vec::new);
        // One line per task run up to a bound: a 100,000-iteration loop
        // would otherwise store (and hold) a line per iteration. Only a dry
        // run reads every child (its plan is theirs).
        let limit = plan.is_none().then_some(MAX_LOG_LINES);
        let children = store.execution_children_head(meta.id, limit)?;
        // A failure handled by a transition (remediation) is not an error
        // of a workflow that succeeded.
        for e in c.errors().iter().filter(|_| !succeeded) {
            let message = lifted_cause(e, &children.first).unwrap_or_else(|| e.message.clone());
            messages.push(match (&e.task_id, e.route) {
                (Some(task), Some(route)) => format!("task {task:?} (route {route}): {message}"),
                (Some(task), None) => format!("task {task:?}: {message}"),
                _ => message,
            });
        }
        if !succeeded && messages.is_empty() {
            messages.push(format!(
                "the workflow ended {}",
                c.status().map_or("without a status", |s| s.as_str())
            ));
        }
        for (n, child) in children.first.iter().enumerate() {
            if n < MAX_LOG_LINES {
                logs.push(LogLine {
                    at_ms: (child.summary.started_at_ms - meta.started_at_ms).max(0) as u64,
                    level: if child.summary.status == ExecStatus::Succeeded {
                        LogLevel::Info
                    } else {
                        LogLevel::Warn
                    },
                    message: format!(
                        "task {} (route {}): {} {} {}",
                        child.task,
                        child.route,
                        child.summary.action,
                        child.summary.status,
                        child.summary.id
                    ),
                });
            }
            if let Some(plan) = &mut plan
                && let Some(exec) = store.get_execution(child.summary.id)?
            {
                for effect in exec.plan.unwrap_or_default() {
                    let (task, route) = match effect.task {
                        // Already annotated by a subworkflow: keep its task.
                        Some(t) => (Some(t), effect.route),
                        None => (Some(child.task.clone()), Some(child.route)),
                    };
                    plan.push(PlannedEffect {
                        seq: plan.len() as u32 + 1,
                        task,
                        route,
                        ..effect
                    });
                }
            }
        }
        if children.count > MAX_LOG_LINES as u64 {
            let last = children.last_started_ms.unwrap_or(meta.started_at_ms);
            logs.push(LogLine {
                at_ms: (last - meta.started_at_ms).max(0) as u64,
                level: LogLevel::Info,
                message: format!(
                    "… and {} more task runs (drover exec get {} --tree lists them)",
                    children.count - MAX_LOG_LINES as u64,
                    meta.id
                ),
            });
        }
        let finished_at_ms = now_ms();
        let exec = Execution {
            id: meta.id,
            action: meta.action.clone(),
            pack_version: meta.pack.version.clone(),
            digest: meta.digest.clone(),
            parameters: meta.params.clone(),
            status,
            result: c.output().map(|o| Value::Object(o.clone())),
            error: (!messages.is_empty()).then(|| messages.join("; ")),
            dry_run: meta.opts.dry_run,
            plan,
            logs,
            actor: meta.opts.actor.clone(),
            started_at_ms: meta.started_at_ms,
            finished_at_ms,
            duration_us: ((finished_at_ms - meta.started_at_ms).max(0) as u64) * 1000,
        };
        if meta.link.is_none() {
            store.workflow_finish(state_write(c), exec.clone(), None)?;
        }
        Ok(exec)
    }
}

/// Runs child `inf`: its end, or a store/state error that aborts the run.
fn run_child(
    app: &App,
    meta: &Meta,
    inf: &Inflight,
    res: &Resolved,
) -> Result<ChildEnd, WorkflowError> {
    let opts = RunOptions {
        dry_run: meta.opts.dry_run,
        actor: meta.opts.actor.clone(),
        timeout: meta.opts.timeout,
    };
    match res {
        Resolved::Missing(message) => Ok(ChildEnd::CouldNotRun(message.clone())),
        Resolved::Workflow(pack, plugin) => {
            let action = ActionRef {
                pack: pack.name.clone(),
                plugin: plugin.name.clone(),
            };
            let params = match validate(&action, plugin, inf.input.clone()) {
                Ok(p) => p,
                Err(e) => return Ok(ChildEnd::CouldNotRun(e.to_string())),
            };
            let link = ChildLink {
                parent: meta.id,
                task: inf.task.clone(),
                route: inf.route,
            };
            let sub = match app.store().get_workflow_run(inf.child)? {
                Some(run) if !run.finished => resume(app, run, Some(meta.tree())),
                _ => start(
                    app,
                    inf.child,
                    meta.tree(),
                    pack.clone(),
                    plugin,
                    params,
                    &opts,
                    Some(link),
                ),
            };
            match sub {
                Ok(Outcome::Finished(exec)) => Ok(ChildEnd::Done(exec)),
                Ok(Outcome::Parked { why, .. }) => Ok(ChildEnd::Parked(why)),
                Err(WorkflowError::Store(e)) => Err(WorkflowError::Store(e)),
                Err(e) => Ok(ChildEnd::CouldNotRun(e.to_string())),
            }
        }
        Resolved::Wasm(prepared) => {
            let params = match prepared.plugin.parameters.validate(inf.input.clone()) {
                Ok(p) => p,
                Err(problem) => {
                    let e = RunError::Params {
                        action: inf.action.clone(),
                        problem,
                        params: prepared.plugin.parameters.describe(),
                    };
                    return Ok(ChildEnd::CouldNotRun(e.to_string()));
                }
            };
            match app.runtime().execute_as(inf.child, prepared, params, &opts) {
                Ok(exec) => Ok(ChildEnd::Done(Box::new(exec))),
                Err(e @ RunError::Backend(_)) => Err(e.into()),
                Err(e) => Ok(ChildEnd::CouldNotRun(e.to_string())),
            }
        }
    }
}

/// The real cause behind Orquesta's "Execution failed. See result for
/// details.": the error of the task's latest failed run (a subworkflow's
/// is already its own first cause), so the workflow's error says what
/// went wrong (a denial, the storm brake) instead of sending the operator
/// to each child. `None` for other errors, or when that run is not among
/// the children read.
fn lifted_cause(
    e: &drover_workflow::ErrorEntry,
    children: &[drover_store::ChildRow],
) -> Option<String> {
    if e.message != drover_workflow::conductor::ACTION_FAILED {
        return None;
    }
    let task = e.task_id.as_deref()?;
    let child = children.iter().rev().find(|c| {
        c.task == task
            && e.route.is_none_or(|r| r == c.route)
            && c.summary.status != ExecStatus::Succeeded
            && c.error.is_some()
    })?;
    Some(format!(
        "{} (execution {})",
        child.error.as_deref().unwrap_or_default(),
        child.summary.id
    ))
}
