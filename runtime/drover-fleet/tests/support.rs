//! A simulated fleet on a manual clock, driven through the pure World the
//! way the store-backed controller drives it (step, driver calls, apply,
//! admit).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use drover_fleet::budget::{Budget, Rule};
use drover_fleet::controller::perform;
use drover_fleet::driver::SecretLookup;
use drover_fleet::settings::{Rung, RungAction, Settings};
use drover_fleet::world::{Action, Changes};
use drover_fleet::{Drivers, Kind, NewRequest, Node, Origin, Policy, State, World};
use serde_json::json;

pub struct NoSecrets;
impl SecretLookup for NoSecrets {
    fn secret(&self, name: &str) -> Result<String, String> {
        Err(format!("no secret {name}"))
    }
}

pub struct Sim {
    pub world: World,
    pub clock: Arc<AtomicI64>,
    pub drivers: Drivers,
    /// Every change taken from the world, in order.
    pub log: Vec<Changes>,
}

pub fn node(name: &str, rack: &str, options: serde_json::Value) -> Node {
    Node {
        name: name.into(),
        labels: BTreeMap::from([("rack".to_owned(), rack.to_owned())]),
        state: State::Production,
        driver: "sim".into(),
        options,
        since_ms: 0,
        note: String::new(),
    }
}

pub fn rack_one() -> Budget {
    Budget {
        name: "rack-one".into(),
        rule: Rule::GroupSemaphore {
            label: "rack".into(),
            max: 1,
        },
    }
}

pub fn max_out(n: u32) -> Budget {
    Budget {
        name: "fleet".into(),
        rule: Rule::MaxUnavailable {
            max: Some(n),
            percent: None,
        },
    }
}

/// Short timeouts so tests run in simulated seconds.
pub fn quick_settings() -> Settings {
    let mut s = Settings::default();
    s.ladders.insert(
        "default".into(),
        vec![
            Rung {
                action: RungAction::GracefulRestart,
                timeout_ms: 5_000,
            },
            Rung {
                action: RungAction::ForceRestart,
                timeout_ms: 5_000,
            },
        ],
    );
    s.drain_timeout_ms = 10_000;
    s.reboot_timeout_ms = 30_000;
    s.restore_timeout_ms = 10_000;
    s
}

impl Sim {
    pub fn new(nodes: Vec<Node>, budgets: Vec<Budget>, settings: Settings) -> Sim {
        let clock = Arc::new(AtomicI64::new(1_000_000));
        let c = clock.clone();
        let drivers = Drivers::standard(Arc::new(move || c.load(Ordering::SeqCst)));
        Sim {
            world: World::new(nodes, Vec::new(), budgets, settings, Vec::new()),
            clock,
            drivers,
            log: Vec::new(),
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    pub fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn req(&self, node: &str, kind: Kind, origin: Origin) -> NewRequest {
        NewRequest {
            id: drover_fleet::new_request_id(),
            node: node.into(),
            kind,
            reason: "test".into(),
            actor: match origin {
                Origin::Operator => "user:op".into(),
                Origin::Automation => "rule:auto".into(),
            },
            origin,
            execution_id: None,
            grant: None,
            policy: Policy::Asap,
            drain_timeout_ms: None,
            reboot_timeout_ms: None,
        }
    }

    pub fn submit(&mut self, reqs: Vec<NewRequest>) -> Vec<drover_fleet::Answer> {
        let now = self.now();
        let out = self
            .world
            .submit(reqs, now)
            .into_iter()
            .map(|a| a.expect("a valid request"))
            .collect();
        let c = self.world.take_changes();
        self.log.push(c);
        out
    }

    /// One controller tick; returns the driver calls made.
    pub fn tick(&mut self) -> Vec<Action> {
        let now = self.now();
        let actions = self.world.step(now);
        let c = self.world.take_changes();
        self.log.push(c);
        let results = perform(actions.clone(), &self.drivers, &NoSecrets, 1);
        self.world.apply(results, now);
        self.world.admit(now);
        let c = self.world.take_changes();
        self.log.push(c);
        actions
    }

    /// Ticks every `step_ms` until nothing is open (or `max_ms` passes).
    pub fn run(&mut self, step_ms: i64, max_ms: i64) {
        let end = self.now() + max_ms;
        while self.world.busy() && self.now() < end {
            self.tick();
            self.advance(step_ms);
        }
    }

    pub fn state(&self, node: &str) -> State {
        let i = self.world.node_index(node).unwrap();
        self.world.nodes[i].state
    }

    pub fn effects(&self) -> Vec<&drover_fleet::world::Effect> {
        self.log.iter().flat_map(|c| c.effects.iter()).collect()
    }
}

pub fn opts(reboot: f64) -> serde_json::Value {
    json!({"reboot_seconds": reboot})
}
