//! drover's workflow engine core: Orquesta-compatible workflows, checked at
//! load and run by a pure conductor whose cost per event does not grow with
//! the workflow.
//!
//! - [`spec`]: the DSL (Orquesta native workflow `version: 1.0`, Jinja
//!   expressions only) parsed into a [`Workflow`];
//! - [`validate`]: every problem as `file:line:column: path: message (hint)`,
//!   actions checked through a caller-supplied [`ActionCatalog`];
//! - [`expr`]: expressions compiled once, rendered once, with Orquesta's
//!   functions (`ctx()`, `result()`, `item()`, `succeeded()`, ...);
//! - [`conductor`]: the pure, serializable state machine (state + event in,
//!   state + tasks to run out), O(1) amortized per event;
//! - [`rehearse`]: Orquesta's rehearsal test-spec format, run with mocked
//!   action results (authors test workflows with it; we test the engine);
//! - [`builtin`]: actions the runner performs itself (`core.ask`);
//! - [`graph`]: DOT and SVG pictures of a workflow, optionally coloured by
//!   the statuses of an execution.
//!
//! Nothing here does I/O except the file-reading helpers of [`rehearse`];
//! storing states and running actions belong to the runtime.
//!
//! ```
//! use drover_workflow::{ActionEvent, Conductor, Status, Workflow};
//!
//! let text = r#"
//! version: 1.0
//! input: [node]
//! tasks:
//!   ping:
//!     action: core.ping host={{ ctx().node }}
//!     next:
//!       - when: "{{ failed() }}"
//!         do: reboot
//!   reboot:
//!     action: fleet.reboot
//!     input: {node: "{{ ctx().node }}"}
//! "#;
//! let wf = Workflow::parse("wf.yaml", text, None)?;
//! let inputs = serde_json::json!({"node": "b7s01"}).as_object().unwrap().clone();
//! let mut c = Conductor::new(&wf, inputs);
//! c.request_status(Status::Running)?;
//! let ping = c.next_tasks().remove(0);
//! assert_eq!(ping.actions[0].input["host"], "b7s01");
//! c.on_action_event("ping", 0, ActionEvent::status(Status::Running))?;
//! c.on_action_event("ping", 0, ActionEvent::failed("timeout".into()))?;
//! let reboot = c.next_tasks().remove(0);
//! assert_eq!(reboot.actions[0].action.as_deref(), Some("fleet.reboot"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod builtin;
pub mod conductor;
pub mod expr;
pub mod graph;
mod index;
pub mod rehearse;
pub mod spec;
pub mod status;
pub mod validate;

pub use conductor::{
    ActionEvent, ActionRequest, Conductor, ConductorError, ErrorEntry, RerunRequest, RetryState,
    STATE_LISTS, StateDelta, StatePart, TaskDispatch, TaskEntry, WorkflowState,
};
pub use spec::{Join, TaskSpec, TransitionSpec, Workflow};
pub use status::Status;
pub use validate::{ActionCatalog, ActionInfo, Diagnostic, SpecError, validate};
