//! Identifiers. Execution ids are ULIDs: unique without coordination and
//! sortable by creation time, so "newest first" pages are a keyset scan.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A malformed id given by a user.
#[derive(Debug, thiserror::Error)]
#[error(
    "{kind} id {text:?} is malformed (expected a 26-character ULID such as 01JD7Z3V4Q8X2M5N6P7R8S9T0V)"
)]
pub struct IdError {
    kind: &'static str,
    text: String,
}

macro_rules! ulid_id {
    ($name:ident, $kind:literal) => {
        #[doc = concat!("The id of ", $kind, ".")]
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(ulid::Ulid);

        impl $name {
            /// A fresh id, ordered after every id made earlier by this process.
            pub fn new() -> Self {
                Self($crate::id::monotonic())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                ulid::Ulid::from_string(s.trim())
                    .map(Self)
                    .map_err(|_| IdError {
                        kind: $kind,
                        text: s.to_owned(),
                    })
            }
        }
    };
}

ulid_id!(ExecutionId, "an execution");
ulid_id!(GrantId, "a grant");

/// The smallest id made at `ms` (Unix milliseconds): every id made
/// earlier sorts below it, so "made before T" is a range of an index.
pub fn id_floor(ms: i64) -> String {
    ulid::Ulid::from_parts(u64::try_from(ms).unwrap_or(0), 0).to_string()
}

/// A ULID after every one this process made before: ids made in the same
/// millisecond still sort in creation order (queues rely on it).
pub(crate) fn monotonic() -> ulid::Ulid {
    static GENERATOR: std::sync::Mutex<ulid::Generator> =
        std::sync::Mutex::new(ulid::Generator::new());
    // On overflow of the random part within one millisecond (2^80 ids),
    // fall back to a plain ULID.
    GENERATOR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .generate()
        .unwrap_or_else(|_| ulid::Ulid::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_of_a_time_sorts_between_earlier_and_later_ids() {
        let earlier = ExecutionId::new().to_string();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let floor = id_floor(crate::now_ms());
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = ExecutionId::new().to_string();
        assert!(
            earlier < floor && floor < later,
            "{earlier} {floor} {later}"
        );
        assert_eq!(id_floor(-5), "00000000000000000000000000");
    }

    #[test]
    fn ids_round_trip_and_sort_by_time() {
        let a = ExecutionId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = ExecutionId::new();
        assert!(a < b);
        assert_eq!(a.to_string().parse::<ExecutionId>().unwrap(), a);
    }

    #[test]
    fn malformed_id_names_the_kind() {
        let err = "nope".parse::<GrantId>().unwrap_err().to_string();
        assert!(err.contains("a grant id \"nope\" is malformed"), "{err}");
    }
}
