//! The real drivers: [`redfish`] (BMC power actions over Redfish) and
//! [`command`] (configured argv for drain, undrain, reboot and the up
//! check). The simulated driver lives with the controller.
//!
//! A node's options in the inventory are its driver's options, plus an
//! optional `ssh` object that belongs to the host's `command` interface
//! (see docs/operations.md); drivers ignore that key and refuse every other
//! key they do not know, naming it.

pub mod command;
pub mod redfish;

use serde::de::DeserializeOwned;

use crate::driver::{DriverError, NodeTarget};

/// The option keys no driver reads (they belong to other parts of drover).
const SHARED_KEYS: [&str; 1] = ["ssh"];

/// Parses a node's driver options, naming the bad field on error.
pub(crate) fn parse_options<T: DeserializeOwned>(node: &NodeTarget) -> Result<T, DriverError> {
    let config = |message: String| DriverError::Config {
        node: node.name.to_owned(),
        message,
    };
    let mut options = match node.options {
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        serde_json::Value::Object(map) => serde_json::Value::Object(map.clone()),
        other => {
            return Err(config(format!(
                "options must be an object of named fields, not {other}"
            )));
        }
    };
    if let Some(map) = options.as_object_mut() {
        for key in SHARED_KEYS {
            map.remove(key);
        }
    }
    serde_path_to_error::deserialize(options).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." {
            config(inner)
        } else {
            config(format!("{path}: {inner}"))
        }
    })
}
