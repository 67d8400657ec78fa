//! drover's rules engine: StackStorm rules, evaluated as pure functions.
//!
//! A rule says "when trigger T fires and the payload passes these criteria,
//! run action A with these parameters". This crate owns:
//!
//! - the rule format, StackStorm's YAML unchanged plus a `drover:` block for
//!   storm control ([`Rule::parse`], errors as `file:line:column: field:
//!   message`);
//! - criteria keys ([`path`]), every st2 operator with st2's exact Python
//!   semantics ([`operators`]), and `search` over lists;
//! - parameter and pattern templates (minijinja), rendered **once** — a
//!   payload value containing `{{ … }}` is data, never code ([`template`]);
//! - matching and rendering ([`RuleSet::evaluate`]) with backstop rules,
//!   and throttle/threshold as state passed in and out ([`StormState`]);
//! - the rule tester ([`test_rule`]), drover's `st2-rule-tester`.
//!
//! It knows nothing of storage, wasm or the network: time, the key-value
//! store and pack configurations come in through [`Context`]; the result is
//! data for the runtime to record and run. It reads no files.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use drover_rules::{Context, Outcome, Rule, RuleSet, StormState};
//! use serde_json::json;
//!
//! let rule = Rule::parse(Path::new("on_no_contact.yaml"), r#"
//! name: on_no_contact
//! pack: batchops
//! enabled: true
//! trigger: {type: batch.no_contact}
//! criteria:
//!   trigger.node: {type: matchwildcard, pattern: "b*"}
//! action:
//!   ref: batchops.handle_no_contact
//!   parameters: {node: "{{ trigger.node }}", minutes: "{{ trigger.minutes }}"}
//! "#)?;
//! let rules = RuleSet::new([rule])?;
//! let now = jiff::Timestamp::from_second(1_800_000_000)?;
//! let mut storm = StormState::new();
//! let matches = rules.evaluate(
//!     "batch.no_contact",
//!     &json!({"node": "b7s01", "minutes": 12}),
//!     &Context::new(now),
//!     &mut storm,
//! );
//! assert_eq!(matches.len(), 1);
//! let Outcome::Fired { parameters, .. } = &matches[0].outcome else { panic!() };
//! assert_eq!(parameters["node"], json!("b7s01"));
//! assert_eq!(parameters["minutes"], json!(12)); // one expression keeps its type
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod engine;
mod error;
mod fnmatch;
mod index;
pub mod operators;
pub mod path;
mod python;
mod rule;
mod storm;
pub mod template;
mod tester;

pub use engine::{Context, Match, Outcome, RuleSet, RuleSetError};
pub use error::ParseError;
pub use operators::Operator;
pub use rule::{
    ActionSpec, Condition, Criterion, DEFAULT_PACK, MAX_STORM_WINDOW, MAX_THRESHOLD_COUNT, Rule,
    RuleKind, Threshold, Throttle, TriggerSpec,
};
pub use storm::{Gate, MAX_GROUPS, StormState, group_key};
pub use template::{KvStore, MAX_TEMPLATE_FUEL, PackConfigs};
pub use tester::{CriterionReport, ItemReport, Report, TriggerInstance, Verdict, test_rule};
