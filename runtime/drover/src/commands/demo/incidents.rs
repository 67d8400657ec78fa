//! The demo's monitoring stand-in: on a thread, it makes simulated nodes
//! hang (`drover sim hang`) and reports silent nodes to batchops' health
//! sensor (its `health` webhook, with the token), the way a monitoring
//! system would (the sensor marks the node silent and raises
//! `batchops.no_contact`), and narrates what it did. Now and then it reports a node
//! that is fine (a false alarm the pack must leave alone), a burst in one
//! rack (served one node at a time by the rack budget), a node that never
//! comes back (intervention, alarm, ticket), and once a storm that trips
//! the brake. A technician stand-in repairs nodes that have sat in
//! intervention for a while, as the humans the ticket reached would.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use drover_store::Store;
use serde_json::json;

use super::DemoArgs;
use super::setup::Demo;
use crate::context::open_store;

/// Nodes the storm silences: over the brake's 5% of the default 500.
const STORM_NODES: usize = 30;
/// How long a node sits in intervention before the technician repairs it.
const REPAIR_AFTER: Duration = Duration::from_secs(120);
/// How often the fleet summary line is printed.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

pub fn start(args: &DemoArgs, demo: &Demo) {
    let injector = match open_store(&demo.db) {
        Ok(store) => Injector {
            store,
            base: format!("http://{}", args.listen),
            token: demo.webhook_token.clone(),
            racks: demo.racks.clone(),
            lemons: demo.lemons.iter().cloned().collect(),
            every: args.every,
            storm_after: args.storm_after.0,
            duration: args.duration,
            rng: SplitMix(args.seed),
            http: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(10)))
                .build()
                .into(),
        },
        Err(e) => {
            eprintln!("demo: no incidents: {e:#}");
            return;
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("demo-incidents".into())
        .spawn(move || injector.run())
    {
        eprintln!("demo: cannot start the incident thread: {e}");
    }
}

struct Injector {
    store: Store,
    base: String,
    token: String,
    racks: Vec<Vec<String>>,
    lemons: HashSet<String>,
    every: Duration,
    storm_after: Option<Duration>,
    duration: Option<Duration>,
    rng: SplitMix,
    http: ureq::Agent,
}

impl Injector {
    fn run(mut self) {
        if !self.wait_until_serving() {
            eprintln!("demo: the server did not come up within a minute; no incidents");
            return;
        }
        let start = Instant::now();
        let mut storm_done = self.storm_after.is_none();
        let mut last_summary = Instant::now();
        loop {
            std::thread::sleep(self.every);
            let elapsed = start.elapsed();
            if self.duration.is_some_and(|d| elapsed >= d) {
                println!("demo: --duration reached; stopping");
                // The same graceful stop as Ctrl-C.
                // SAFETY: kill(2) on our own process.
                unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
                return;
            }
            if last_summary.elapsed() >= SUMMARY_EVERY {
                self.summary();
                last_summary = Instant::now();
            }
            self.repair();
            if self.brake_engaged() {
                // Reports would only pile up behind the brake.
                continue;
            }
            if !storm_done && self.storm_after.is_some_and(|d| elapsed >= d) {
                storm_done = true;
                self.storm();
                continue;
            }
            if let Err(e) = self.incident() {
                eprintln!("demo: incident skipped: {e:#}");
            }
        }
    }

    fn wait_until_serving(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let up = self
                .http
                .get(format!("{}/healthz", self.base))
                .call()
                .is_ok_and(|r| r.status() == 200);
            if up {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// Nodes in production that no fault holds, by rack.
    fn healthy(&self) -> anyhow::Result<Vec<Vec<String>>> {
        let hung: HashSet<String> = self
            .store
            .sim_faults()?
            .into_iter()
            .filter(|f| f.active)
            .map(|f| f.node)
            .collect();
        let up: HashSet<String> = self
            .store
            .list_nodes()?
            .into_iter()
            .filter(|n| n.state == "production" && !hung.contains(&n.name))
            .map(|n| n.name)
            .collect();
        Ok(self
            .racks
            .iter()
            .map(|r| r.iter().filter(|n| up.contains(*n)).cloned().collect())
            .collect())
    }

    fn incident(&mut self) -> anyhow::Result<()> {
        let healthy = self.healthy()?;
        let all: Vec<&String> = healthy.iter().flatten().collect();
        let (lemons, sound): (Vec<&String>, Vec<&String>) =
            all.iter().partition(|n| self.lemons.contains(n.as_str()));
        let roll = self.rng.below(100);
        if roll < 15 {
            let rack = self.rng.below(healthy.len());
            let mut nodes = healthy[rack].clone();
            nodes.retain(|n| !self.lemons.contains(n));
            nodes.truncate(3);
            if nodes.len() < 2 {
                return Ok(());
            }
            println!(
                "demo: rack r{:02} loses {} nodes at once ({}): the rack budget reboots them one at a time",
                rack + 1,
                nodes.len(),
                nodes.join(", ")
            );
            self.hang(&nodes)?;
            for n in &nodes {
                self.report(n);
            }
        } else if roll < 40 {
            let Some(node) = self.pick(&sound) else {
                return Ok(());
            };
            println!(
                "demo: monitoring reports {node}, which is fine: a false alarm to leave alone"
            );
            self.report(&node);
        } else if roll < 50 {
            let Some(node) = self.pick(&lemons) else {
                return Ok(());
            };
            println!(
                "demo: {node} stops answering, and will not come back from a reboot: \
                 intervention, alarm and ticket"
            );
            self.hang(std::slice::from_ref(&node))?;
            self.report(&node);
        } else {
            let Some(node) = self.pick(&sound) else {
                return Ok(());
            };
            println!("demo: {node} stops answering (hung); monitoring reports it");
            self.hang(std::slice::from_ref(&node))?;
            self.report(&node);
        }
        Ok(())
    }

    /// Two racks' switches fail: many nodes silent at once, a storm.
    fn storm(&mut self) {
        let healthy = match self.healthy() {
            Ok(h) => h,
            Err(e) => return eprintln!("demo: no storm: {e:#}"),
        };
        let first = self.rng.below(healthy.len());
        let nodes: Vec<String> = (0..healthy.len())
            .map(|i| (first + i) % healthy.len())
            .flat_map(|r| healthy[r].iter().cloned())
            .take(STORM_NODES)
            .collect();
        println!(
            "demo: STORM: a switch failure silences {} nodes at once ({} … {}). \
             The storm brake should engage before any of them reboots; release it \
             on the Fleet page or with `drover brake release` once you have looked.",
            nodes.len(),
            nodes.first().map_or("", String::as_str),
            nodes.last().map_or("", String::as_str),
        );
        if let Err(e) = self.hang(&nodes) {
            return eprintln!("demo: no storm: {e:#}");
        }
        for n in &nodes {
            self.report(n);
        }
    }

    fn pick(&mut self, from: &[&String]) -> Option<String> {
        (!from.is_empty()).then(|| from[self.rng.below(from.len())].clone())
    }

    fn hang(&self, nodes: &[String]) -> anyhow::Result<()> {
        self.store
            .sim_hang(nodes.to_vec(), drover_core::now_ms(), "demo:monitoring")?;
        Ok(())
    }

    /// POSTs a no-contact report to the health sensor, as monitoring would.
    fn report(&self, node: &str) {
        let since = jiff::Timestamp::now().to_string();
        let body = json!({"node": node, "status": "no_contact", "since": since});
        let url = format!("{}/api/v1/webhooks/batchops.health", self.base);
        match self
            .http
            .post(&url)
            .header("x-drover-token", &self.token)
            .header("content-type", "application/json")
            .send(body.to_string().as_bytes())
        {
            Ok(r) if r.status() == 202 => {}
            Ok(r) => eprintln!("demo: report of {node} answered {}", r.status()),
            Err(e) => eprintln!("demo: cannot report {node}: {e}"),
        }
    }

    /// Gives nodes that sat in intervention past `REPAIR_AFTER` back to
    /// production, fault cleared, as an operator would after a repair.
    fn repair(&self) {
        let Ok(nodes) = self.store.list_nodes() else {
            return;
        };
        let due = drover_core::now_ms() - REPAIR_AFTER.as_millis() as i64;
        let fleet = drover_fleet::Fleet::new(self.store.clone());
        for n in nodes {
            if n.state != "intervention" || n.since_ms > due {
                continue;
            }
            let repaired = self
                .store
                .sim_heal(vec![n.name.clone()])
                .map_err(anyhow::Error::from)
                .and_then(|_| {
                    fleet
                        .set_state(
                            &n.name,
                            "production",
                            "repaired by the demo's technician",
                            "demo:technician",
                            drover_fleet::Origin::Operator,
                            None,
                        )
                        .map_err(anyhow::Error::from)
                });
            match repaired {
                Ok(_) => println!(
                    "demo: a technician repaired {} and gave it back to production",
                    n.name
                ),
                Err(e) => eprintln!("demo: cannot repair {}: {e:#}", n.name),
            }
        }
    }

    fn brake_engaged(&self) -> bool {
        drover_fleet::Fleet::new(self.store.clone())
            .brake_status()
            .is_ok_and(|s| s.engaged)
    }

    fn summary(&self) {
        let Ok(nodes) = self.store.list_nodes() else {
            return;
        };
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for n in nodes {
            *counts.entry(n.state).or_default() += 1;
        }
        let states: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        println!(
            "demo: fleet now: {}; storm brake {}",
            states.join(", "),
            if self.brake_engaged() {
                "ENGAGED"
            } else {
                "off"
            }
        );
    }
}

/// SplitMix64: a seeded, reproducible choice of nodes (not for secrets).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
