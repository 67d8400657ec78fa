//! One module per WIT host interface. Each implements its interface on
//! [`CallCtx`](crate::call::CallCtx) and owns its grant check, its audit
//! and its dry-run behaviour:
//!
//! | interface | grant | dry run |
//! |---|---|---|
//! | log | no | live |
//! | kv | no (pack-scoped) | reads live; writes planned |
//! | secrets | names | live read (audited) |
//! | http | hosts | GET/HEAD live; other methods planned |
//! | probe | hosts | live (tcp connect, ping) |
//! | command | argv | planned; run over ssh when real |
//! | nodes | label selector for changes | reads live; changes planned |
//!
//! [`sim`] answers `probe` and `command` for nodes of the simulated fleet.

mod command;
mod http;
mod kv;
mod log;
mod nodes;
mod probe;
mod secrets;
mod sim;

pub(crate) use http::client as http_client;

impl crate::bindings::drover::plugin::types::Host for crate::call::CallCtx {}
