//! `drover token create|list|revoke` and `drover user add|list|reset-password`:
//! who may use a running drover's API. They work on the database directly
//! (whoever can write it is an admin already), or on a remote drover's API
//! with `--server` (tokens only; needs an admin token).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use drover_api::auth;
use drover_store::Role;
use serde_json::json;

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
            let (record, secret) = auth::create_token(&store, &name, role, &actor())?;
            println!(
                "created token {} ({name}, role {role}); it is shown only now:",
                record.id
            );
            println!("{secret}");
        }
        TokenCmd::List { all, json } => {
            let tokens = store.list_tokens(all)?;
            if json {
                output::json(&tokens)?;
            } else if tokens.is_empty() {
                println!("no tokens; create one with `drover token create --role viewer`");
            } else {
                let mut rows = vec![
                    ["ID", "NAME", "ROLE", "CREATED", "STATE"]
                        .map(String::from)
                        .to_vec(),
                ];
                for t in tokens {
                    rows.push(vec![
                        t.id,
                        t.name,
                        t.role.to_string(),
                        format!("{} by {}", output::time(t.created_at_ms), t.created_by),
                        match t.revoked_at_ms {
                            Some(at) => format!("revoked {}", output::time(at)),
                            None => "active".into(),
                        },
                    ]);
                }
                output::table(&rows);
            }
        }
        TokenCmd::Revoke { id } => match store.revoke_token(&id)? {
            Some(t) => println!("revoked token {} ({}, role {})", t.id, t.name, t.role),
            None => bail!("no active token {id:?} (see `drover token list`)"),
        },
    }
    Ok(ExitCode::SUCCESS)
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
            let tokens = remote.get(&format!("/api/v1/tokens?all={all}"))?;
            if json {
                output::json(&tokens)?;
            } else {
                for t in tokens.as_array().into_iter().flatten() {
                    println!(
                        "{}  {}  {}  {}",
                        t["id"].as_str().unwrap_or(""),
                        t["name"].as_str().unwrap_or(""),
                        t["role"].as_str().unwrap_or(""),
                        if t["revoked_at_ms"].is_null() {
                            "active"
                        } else {
                            "revoked"
                        }
                    );
                }
            }
        }
        TokenCmd::Revoke { id } => {
            let t = remote.delete(&format!("/api/v1/tokens/{}", crate::remote::segment(&id)))?;
            println!(
                "revoked token {} ({}, role {})",
                t["id"].as_str().unwrap_or(""),
                t["name"].as_str().unwrap_or(""),
                t["role"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn user(db: &Path, cmd: UserCmd) -> Result<ExitCode> {
    let store = open_store(db)?;
    match cmd {
        UserCmd::Add { name, role } => {
            if name.trim().is_empty() || name.len() > 64 {
                bail!("a user name is 1 to 64 characters");
            }
            let password = auth::generate_password();
            if !store.create_user(&name, role, &auth::hash_password(&password))? {
                bail!(
                    "user {name:?} exists; `drover user reset-password {name}` gives a new password"
                );
            }
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
            let password = auth::generate_password();
            if !store.set_user_password(&name, &auth::hash_password(&password))? {
                bail!("no user {name:?} (see `drover user list`)");
            }
            println!("new password for {name} (their sessions have ended); shown only now:");
            println!("{password}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
