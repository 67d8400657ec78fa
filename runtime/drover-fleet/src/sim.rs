//! The `sim` driver: a simulated fleet for demos, tests and benchmarks.
//! Per node (driver options, all optional): `reboot_seconds` (how long a
//! reboot takes, default 2), `drain_seconds` (default 0), `fail_rate`
//! (chance a power action errors, 0–1), `no_return_rate` (chance a
//! rebooted node never comes back, 0–1) and `seed`. Randomness is a hash
//! of (seed, node, attempt): the same inventory behaves the same on every
//! run, and a force restart may bring back a node a graceful one did not.
//!
//! The simulated nodes live in memory; a node the driver has not rebooted
//! is up. Time comes from a [`Clock`], so tests can drive it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use crate::driver::{Driver, DriverError, NodeTarget, PowerAction};

/// Milliseconds since the epoch, now.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn wall_clock() -> Clock {
    Arc::new(drover_core::now_ms)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimOptions {
    #[serde(default = "two")]
    pub reboot_seconds: f64,
    #[serde(default)]
    pub drain_seconds: f64,
    #[serde(default)]
    pub fail_rate: f64,
    #[serde(default)]
    pub no_return_rate: f64,
    #[serde(default)]
    pub seed: u64,
}

fn two() -> f64 {
    2.0
}

impl SimOptions {
    pub fn parse(options: &serde_json::Value) -> Result<SimOptions, String> {
        let mut v = if options.is_null() {
            serde_json::json!({})
        } else {
            options.clone()
        };
        // `ssh` belongs to the host's `command` interface, not to drivers.
        if let Some(map) = v.as_object_mut() {
            map.remove("ssh");
        }
        let o: SimOptions = serde_json::from_value(v).map_err(|e| e.to_string())?;
        for (name, rate) in [
            ("fail_rate", o.fail_rate),
            ("no_return_rate", o.no_return_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, not {rate}"));
            }
        }
        for (name, s) in [
            ("reboot_seconds", o.reboot_seconds),
            ("drain_seconds", o.drain_seconds),
        ] {
            if !(s >= 0.0 && s.is_finite()) {
                return Err(format!("{name} must be 0 or more, not {s}"));
            }
        }
        Ok(o)
    }
}

#[derive(Default)]
struct SimNode {
    drain_done_at: Option<i64>,
    /// When the node is back from its last reboot; None: never.
    up_at: Option<Option<i64>>,
    attempts: u64,
}

pub struct SimDriver {
    clock: Clock,
    nodes: Mutex<HashMap<String, SimNode>>,
}

/// splitmix64: a good 64-bit mix, enough for a reproducible coin.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A number in [0, 1) from (seed, node, attempt, salt).
fn coin(seed: u64, node: &str, attempt: u64, salt: u64) -> f64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in node.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let x = mix(seed ^ mix(h ^ mix(attempt.wrapping_mul(31).wrapping_add(salt))));
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl SimDriver {
    pub fn new(clock: Clock) -> SimDriver {
        SimDriver {
            clock,
            nodes: Mutex::new(HashMap::new()),
        }
    }

    fn options(node: &NodeTarget) -> Result<SimOptions, DriverError> {
        SimOptions::parse(node.options).map_err(|message| DriverError::Config {
            node: node.name.to_owned(),
            message,
        })
    }

    fn with<R>(&self, name: &str, f: impl FnOnce(&mut SimNode) -> R) -> R {
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        f(nodes.entry(name.to_owned()).or_default())
    }
}

impl Driver for SimDriver {
    fn drain(&self, node: &NodeTarget) -> Result<(), DriverError> {
        let o = Self::options(node)?;
        let now = (self.clock)();
        self.with(node.name, |n| {
            n.drain_done_at = Some(now + (o.drain_seconds * 1000.0) as i64);
        });
        Ok(())
    }

    fn is_drained(&self, node: &NodeTarget) -> Result<bool, DriverError> {
        let now = (self.clock)();
        Ok(self.with(node.name, |n| n.drain_done_at.is_none_or(|t| now >= t)))
    }

    fn undrain(&self, node: &NodeTarget) -> Result<(), DriverError> {
        Self::options(node)?;
        self.with(node.name, |n| n.drain_done_at = None);
        Ok(())
    }

    fn reboot(&self, node: &NodeTarget, action: PowerAction) -> Result<(), DriverError> {
        let o = Self::options(node)?;
        let now = (self.clock)();
        let salt = match action {
            PowerAction::GracefulRestart => 1,
            PowerAction::ForceRestart => 2,
        };
        self.with(node.name, |n| {
            n.attempts += 1;
            if coin(o.seed, node.name, n.attempts, salt) < o.fail_rate {
                return Err(DriverError::Failed {
                    node: node.name.to_owned(),
                    message: format!(
                        "simulated BMC error on {} (attempt {})",
                        match action {
                            PowerAction::GracefulRestart => "graceful restart",
                            PowerAction::ForceRestart => "force restart",
                        },
                        n.attempts
                    ),
                });
            }
            let back = coin(o.seed, node.name, n.attempts, salt + 10) >= o.no_return_rate;
            n.up_at = Some(back.then_some(now + (o.reboot_seconds * 1000.0) as i64));
            Ok(())
        })
    }

    fn is_up(&self, node: &NodeTarget) -> Result<bool, DriverError> {
        let now = (self.clock)();
        Ok(self.with(node.name, |n| match n.up_at {
            None => true,
            Some(None) => false,
            Some(Some(t)) => now >= t,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    struct NoSecrets;
    impl crate::driver::SecretLookup for NoSecrets {
        fn secret(&self, name: &str) -> Result<String, String> {
            Err(name.to_owned())
        }
    }

    #[test]
    fn a_reboot_takes_its_time_and_rates_are_reproducible() {
        let t = Arc::new(AtomicI64::new(0));
        let t2 = t.clone();
        let sim = SimDriver::new(Arc::new(move || t2.load(Ordering::SeqCst)));
        let opts = serde_json::json!({"reboot_seconds": 3});
        let n = NodeTarget {
            name: "a",
            options: &opts,
            secrets: &NoSecrets,
        };
        assert!(sim.is_up(&n).unwrap());
        sim.reboot(&n, PowerAction::GracefulRestart).unwrap();
        assert!(!sim.is_up(&n).unwrap());
        t.store(3000, Ordering::SeqCst);
        assert!(sim.is_up(&n).unwrap());

        let flaky = serde_json::json!({"fail_rate": 0.5, "no_return_rate": 0.3, "seed": 7});
        let count = |sim: &SimDriver| {
            (0..200)
                .map(|i| {
                    let name = format!("n{i}");
                    let n = NodeTarget {
                        name: &name,
                        options: &flaky,
                        secrets: &NoSecrets,
                    };
                    sim.reboot(&n, PowerAction::ForceRestart).is_err()
                })
                .filter(|e| *e)
                .count()
        };
        let a = count(&SimDriver::new(wall_clock()));
        let b = count(&SimDriver::new(wall_clock()));
        assert_eq!(a, b);
        assert!((60..140).contains(&a), "{a} of 200 failed at rate 0.5");
        let bad = serde_json::json!({"fail_rate": 2});
        let n = NodeTarget {
            name: "x",
            options: &bad,
            secrets: &NoSecrets,
        };
        assert!(matches!(
            sim.reboot(&n, PowerAction::GracefulRestart),
            Err(DriverError::Config { .. })
        ));
    }
}
