//! `drover token create|list|revoke` and `drover user add|list|reset-password`:
//! who may use a running drover's API. They work on the database directly
//! (whoever can write it is an admin already), or on a remote drover's API
//! with `--server` (tokens only; needs an admin token). The checks and
//! the credentials are `drover_app::access`'s, shared with the API.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use drover_app::access;
use drover_store::Role;
use serde_json::{Value, json};

use crate::context::{actor, open_store};
use crate::output;
use crate::remote::Remote;

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Create an API token. It is printed once, alone on the last line,
    /// and stored only as a SHA-256 hash.
    Create {
        /// viewer (read), operator (run, approve, drain, enable rules, kv)
        /// or admin (grants, promotions, budgets, secrets, tokens).
        #[arg(long)]
        role: Role,
        /// What the token is for, e.g. `ci`.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List tokens (never the tokens themselves).
    List {
        /// Include revoked tokens.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id: it stops working at once.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Add a user for the web login; the generated password is printed once,
    /// alone on the last line.
    Add {
        name: String,
        #[arg(long)]
        role: Role,
    },
    /// List users and their roles.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Give a user a new generated password (printed once, alone on the
    /// last line) and end their sessions.
    ResetPassword { name: String },
}

pub fn token(db: &Path, remote: Option<Remote>, cmd: TokenCmd) -> Result<ExitCode> {
    if let Some(remote) = remote {
        return remote_token(&remote, cmd);
    }
    let store = open_store(db)?;
    match cmd {
        TokenCmd::Create { role, name } => {
            let (record, secret) = access::create_token(&store, &name, role, &actor())?;
            println!(
                "created token {} ({name}, role {role}); it is shown only now:",
                record.id
            );
            println!("{secret}");
        }
        TokenCmd::List { all, json } => {
            print_tokens(&serde_json::to_value(store.list_tokens(all)?)?, json)?;
        }
        TokenCmd::Revoke { id } => {
            print_revoked(&serde_json::to_value(access::revoke_token(&store, &id)?)?)
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// What `drover token list` prints, from the tokens as JSON (the store's
/// records locally, the API's answer with `--server`: the same fields).
fn print_tokens(tokens: &Value, json: bool) -> Result<()> {
    if json {
        return output::json(tokens);
    }
    let tokens = tokens.as_array().map(Vec::as_slice).unwrap_or_default();
    if tokens.is_empty() {
        println!("no tokens; create one with `drover token create --role viewer`");
        return Ok(());
    }
    let mut rows = vec![
        ["ID", "NAME", "ROLE", "CREATED", "STATE"]
            .map(String::from)
            .to_vec(),
    ];
    for t in tokens {
        rows.push(vec![
            text(&t["id"]).to_owned(),
            text(&t["name"]).to_owned(),
            text(&t["role"]).to_owned(),
            format!(
                "{} by {}",
                output::time(t["created_at_ms"].as_i64().unwrap_or(0)),
                text(&t["created_by"])
            ),
            match t["revoked_at_ms"].as_i64() {
                Some(at) => format!("revoked {}", output::time(at)),
                None => "active".into(),
            },
        ]);
    }
    output::table(&rows);
    Ok(())
}

/// What `drover token revoke` prints, local or remote.
fn print_revoked(t: &Value) {
    println!(
        "revoked token {} ({}, role {})",
        text(&t["id"]),
        text(&t["name"]),
        text(&t["role"])
    );
}

fn remote_token(remote: &Remote, cmd: TokenCmd) -> Result<ExitCode> {
    match cmd {
        TokenCmd::Create { role, name } => {
            let made = remote.post("/api/v1/tokens", &json!({"name": name, "role": role}))?;
            println!(
                "created token {} ({name}, role {role}); it is shown only now:",
                made["id"].as_str().unwrap_or("?")
            );
            println!("{}", made["token"].as_str().unwrap_or(""));
        }
        TokenCmd::List { all, json } => {
            print_tokens(&remote.get(&format!("/api/v1/tokens?all={all}"))?, json)?;
        }
        TokenCmd::Revoke { id } => {
            print_revoked(
                &remote.delete(&format!("/api/v1/tokens/{}", crate::remote::segment(&id)))?,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn user(db: &Path, cmd: UserCmd) -> Result<ExitCode> {
    let store = open_store(db)?;
    match cmd {
        UserCmd::Add { name, role } => {
            let password = access::add_user(&store, &name, role)?;
            println!("added user {name} (role {role}); the password is shown only now:");
            println!("{password}");
        }
        UserCmd::List { json } => {
            let users = store.list_users()?;
            if json {
                output::json(&users)?;
            } else if users.is_empty() {
                println!("no users; the first `drover serve` creates admin");
            } else {
                for u in users {
                    println!("{}  {}", u.name, u.role);
                }
            }
        }
        UserCmd::ResetPassword { name } => {
            let password = access::reset_password(&store, &name)?;
            println!("new password for {name} (their sessions have ended); shown only now:");
            println!("{password}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
