//! The `sensor_status` table: each sensor's state, last error and counts,
//! kept by the sensor service and shown by `drover sensor list`.

use serde::{Deserialize, Serialize};

use crate::Result;

/// One sensor's status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SensorStatus {
    /// `pack.name`.
    pub name: String,
    /// `running`, `failed`, `backoff` or `stopped`.
    pub state: String,
    pub last_error: Option<String>,
    /// Calls of `poll`.
    pub polls: u64,
    /// Calls of `on-message`.
    pub messages: u64,
    /// Triggers accepted into the pipeline.
    pub triggers: u64,
    /// Calls that trapped, timed out or failed.
    pub failures: u64,
    /// Wait before the next retry while failing.
    pub backoff_ms: Option<u64>,
    /// Its calls are dry runs (its pack is in shadow mode): what it asks
    /// for is planned, not performed.
    #[serde(default)]
    pub dry_run: bool,
    /// Effects planned by its dry-run calls so far.
    #[serde(default)]
    pub planned: u64,
    /// The plan of the latest call that planned anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_plan: Option<Vec<drover_core::PlannedEffect>>,
    pub updated_at_ms: i64,
}

/// Each sensor's status and counts.
pub trait SensorStore: Send + Sync {
    /// Writes `status` (its `updated_at_ms` is set to now).
    fn put_sensor_status(&self, status: &SensorStatus) -> Result<()>;

    /// Every sensor's status, by name.
    fn list_sensor_status(&self) -> Result<Vec<SensorStatus>>;
}
