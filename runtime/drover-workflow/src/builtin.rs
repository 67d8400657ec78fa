//! Actions the workflow runner performs itself instead of a plugin:
//! `core.ask` (an inquiry: the task waits for a person's answer). Listed
//! here so install-time checks know them and the runner matches the same
//! reference.

use serde_json::{Value, json};

use crate::ActionInfo;

/// The inquiry action.
pub const ASK: &str = "core.ask";

/// The input `core.ask` takes, as JSON Schema.
pub fn ask_parameters() -> Value {
    json!({
        "type": "object",
        "properties": {
            "schema": {"type": "object", "description": "JSON Schema of the response"},
            "roles": {"type": ["array", "string"], "items": {"type": "string"},
                      "description": "who may answer; empty: anyone"},
            "ttl": {"type": ["integer", "string"],
                    "description": "seconds, or a duration such as 30m, before it times out"},
            "route": {"type": "string", "description": "where to announce it"}
        },
        "additionalProperties": false
    })
}

/// What a catalog answers for a built-in action, if `reference` is one.
pub fn lookup(reference: &str) -> Option<ActionInfo> {
    (reference == ASK).then(|| ActionInfo {
        parameters: ask_parameters(),
    })
}
