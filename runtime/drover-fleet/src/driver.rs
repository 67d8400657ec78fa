//! Drivers: how the controller acts on a real (or simulated) node. Each
//! node names its driver (`sim`, `redfish`, `command`) and carries the
//! driver's options; the controller picks the driver from a [`Drivers`]
//! registry by that name. Driver calls are made outside the store's
//! transactions, after the controller has recorded (and audited) its
//! intent, so a crash mid-call is seen on restart as an issued step.

use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("{node}: {message}")]
    Failed { node: String, message: String },
    #[error("{node}: {address} did not answer within {seconds} s")]
    Timeout {
        node: String,
        address: String,
        seconds: u64,
    },
    #[error("{node}: bad driver options: {message}")]
    Config { node: String, message: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    GracefulRestart,
    ForceRestart,
}

/// Looks up a named secret (drover secret set NAME).
pub trait SecretLookup: Send + Sync {
    fn secret(&self, name: &str) -> Result<String, String>;
}

/// What a driver is given about one node.
pub struct NodeTarget<'a> {
    pub name: &'a str,
    pub options: &'a serde_json::Value,
    pub secrets: &'a dyn SecretLookup,
}

pub trait Driver: Send + Sync {
    fn drain(&self, node: &NodeTarget) -> Result<(), DriverError>;
    fn undrain(&self, node: &NodeTarget) -> Result<(), DriverError>;
    fn reboot(&self, node: &NodeTarget, action: PowerAction) -> Result<(), DriverError>;
    /// Whether the node is back (powered on / answering) after a reboot.
    fn is_up(&self, node: &NodeTarget) -> Result<bool, DriverError>;
    /// Whether a drain started by [`Driver::drain`] has finished. Drivers
    /// whose drain returns only once it is done keep the default.
    fn is_drained(&self, _node: &NodeTarget) -> Result<bool, DriverError> {
        Ok(true)
    }
}

/// Secrets from the store, for drivers that need credentials.
pub struct StoreSecrets(pub drover_store::Store);

impl SecretLookup for StoreSecrets {
    fn secret(&self, name: &str) -> Result<String, String> {
        match self.0.secret_get(name) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(format!(
                "no secret named {name:?} (set it with `drover secret set {name}`)"
            )),
            Err(e) => Err(format!("cannot read secret {name:?}: {e}")),
        }
    }
}

/// Driver names an inventory may use. Only those registered in a
/// [`Drivers`] can act.
pub const KNOWN_DRIVERS: [&str; 3] = ["sim", "redfish", "command"];

/// The drivers this process can use, by name.
#[derive(Clone, Default)]
pub struct Drivers {
    map: BTreeMap<String, Arc<dyn Driver>>,
}

impl Drivers {
    /// The standard set: `sim`, `redfish` and `command`.
    pub fn standard(clock: crate::sim::Clock) -> Drivers {
        let mut d = Drivers::default();
        d.register("sim", Arc::new(crate::sim::SimDriver::new(clock)));
        d.register("redfish", Arc::new(crate::drivers::redfish::Redfish));
        d.register("command", Arc::new(crate::drivers::command::CommandDriver));
        d
    }

    pub fn register(&mut self, name: &str, driver: Arc<dyn Driver>) {
        self.map.insert(name.to_owned(), driver);
    }

    pub fn get(&self, name: &str) -> Result<&Arc<dyn Driver>, String> {
        self.map.get(name).ok_or_else(|| {
            format!(
                "driver {name} is not available in this build (available: {})",
                self.map.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }
}
