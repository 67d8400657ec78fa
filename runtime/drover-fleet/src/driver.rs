//! The driver contract: how the fleet controller acts on one node's
//! hardware or scheduler (drain, undrain, reboot, is it back?). Drivers
//! (`sim`, `redfish`, `command`) implement [`Driver`]; each is given a
//! [`NodeTarget`] with the node's name, its driver options from the
//! inventory and a way to read named secrets, and answers with a
//! [`DriverError`] that names the node.

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
}
