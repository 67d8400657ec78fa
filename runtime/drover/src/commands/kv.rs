//! `drover kv get|set|delete|list`: the key-value store. Scope `system` is
//! what rules read as `kv.KEY` / `st2kv.system.KEY`; `user:NAME` what the
//! rules of packs NAME installed read as `st2kv.user.KEY`; `pack:NAME` is
//! that pack's own store (what its plugins' `kv` interface sees).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cli::KvCmd;
use crate::context::open_store;
use crate::output;

pub fn run(db: &Path, cmd: KvCmd) -> Result<ExitCode> {
    let scope = match &cmd {
        KvCmd::Get { scope, .. }
        | KvCmd::Set { scope, .. }
        | KvCmd::Delete { scope, .. }
        | KvCmd::List { scope, .. } => scope,
    };
    drover_app::kv::check_scope(scope).map_err(|e| anyhow::anyhow!("--{e}"))?;
    let store = open_store(db)?;
    match cmd {
        KvCmd::Get { key, scope, json } => match store.kv_get(&scope, &key)? {
            Some(v) if json => {
                output::json(&serde_json::json!({"scope": scope, "key": key, "value": v}))?
            }
            Some(v) => println!("{v}"),
            None => bail!("no key {key:?} in scope {scope:?} (it may have expired)"),
        },
        KvCmd::Set {
            key,
            value,
            scope,
            ttl,
        } => {
            drover_app::kv::set(&store, &scope, &key, &value, ttl)?;
            match ttl {
                Some(t) => println!("{scope}/{key} set, expires in {t}s"),
                None => println!("{scope}/{key} set"),
            }
        }
        KvCmd::Delete { key, scope } => {
            if !store.kv_delete(&scope, &key)? {
                bail!("no key {key:?} in scope {scope:?}");
            }
            println!("{scope}/{key} deleted");
        }
        KvCmd::List {
            scope,
            prefix,
            json,
        } => {
            let pairs = store.kv_list(&scope, prefix.as_deref().unwrap_or(""))?;
            if json {
                output::json(&pairs)?;
            } else {
                for (k, v) in pairs {
                    println!("{k}={v}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
