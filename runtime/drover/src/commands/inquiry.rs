//! `drover inquiry list|get|respond`: the questions workflows wait on
//! (`core.ask`). Answering validates the response against the inquiry's
//! schema and its roles, records it and continues the workflow: here, in
//! the foreground, unless `--queue` leaves it to `drover serve`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use drover_core::ExecutionId;
use drover_engine::workflows::Continue;
use drover_engine::workflows::ask::{self, Responder};
use drover_store::Inquiry;
use serde_json::{Map, Value};

use super::exec_control::print_outcome;
use crate::context::{actor, open_app, open_store};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum InquiryCmd {
    /// Pending inquiries, newest first (`--all`: answered and expired too).
    List {
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One inquiry: its workflow and task, schema, roles, deadline, answer.
    Get {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Answer an inquiry: `drover inquiry respond ID approve=true`.
    Respond {
        id: String,
        /// The response's fields, `key=value` (values typed by the
        /// inquiry's schema; JSON for objects and lists).
        #[arg(value_name = "KEY=VALUE")]
        fields: Vec<String>,
        /// The whole response as one JSON object (merged under KEY=VALUE).
        #[arg(long, value_name = "JSON")]
        response_json: Option<String>,
        /// A role you answer as (repeatable); needed when the inquiry
        /// names who may answer.
        #[arg(long = "as", value_name = "ROLE")]
        roles: Vec<String>,
        /// Queue the workflow for `drover serve` instead of continuing it
        /// here.
        #[arg(long)]
        queue: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(db: &Path, cmd: InquiryCmd) -> Result<ExitCode> {
    match cmd {
        InquiryCmd::List { all, limit, json } => {
            let store = open_store(db)?;
            let rows = store.list_inquiries((!all).then_some("pending"), limit.clamp(1, 1000))?;
            if json {
                output::json(&rows)?;
                return Ok(ExitCode::SUCCESS);
            }
            if rows.is_empty() {
                println!("no {}inquiries", if all { "" } else { "pending " });
                return Ok(ExitCode::SUCCESS);
            }
            let mut table = vec![vec![
                "ID".into(),
                "WORKFLOW".into(),
                "TASK".into(),
                "STATE".into(),
                "ROLES".into(),
                "EXPIRES".into(),
            ]];
            for q in &rows {
                table.push(vec![
                    q.id.to_string(),
                    format!("{} {}", q.action, q.root),
                    q.task.clone(),
                    q.state.clone(),
                    if q.roles.is_empty() {
                        "anyone".into()
                    } else {
                        q.roles.join(",")
                    },
                    output::time(q.expires_at_ms),
                ]);
            }
            output::table(&table);
            Ok(ExitCode::SUCCESS)
        }
        InquiryCmd::Get { id, json } => {
            let store = open_store(db)?;
            let id: ExecutionId = id.parse()?;
            let Some(q) = store.get_inquiry(id)? else {
                bail!("no inquiry {id} (see `drover inquiry list --all`)");
            };
            if json {
                output::json(&q)?;
            } else {
                print(&q);
            }
            Ok(ExitCode::SUCCESS)
        }
        InquiryCmd::Respond {
            id,
            fields,
            response_json,
            roles,
            queue,
            json,
        } => {
            let app = open_app(db)?;
            let id: ExecutionId = id.parse()?;
            let Some(q) = app.store().get_inquiry(id)? else {
                bail!("no inquiry {id} (see `drover inquiry list`)");
            };
            let response = parse_response(&q.schema, response_json.as_deref(), &fields)?;
            let who = Responder::with_roles(actor(), roles);
            let how = if queue {
                Continue::Queue
            } else {
                Continue::Foreground
            };
            let answered = ask::answer(&app, id, response, &who, how)?;
            let q = answered.inquiry;
            if queue {
                if json {
                    output::json(&q)?;
                } else {
                    println!(
                        "inquiry {id} answered; workflow {} queued for `drover serve`",
                        q.root
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            match answered.outcome {
                Some(outcome) => {
                    if !json {
                        println!("inquiry {id} answered; workflow {} continues here", q.root);
                    }
                    print_outcome(&outcome, json)
                }
                None => {
                    if json {
                        output::json(&q)?;
                    } else {
                        println!(
                            "inquiry {id} answered; workflow {} is driven by another process, \
                             which takes the answer",
                            q.root
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
    }
}

fn print(q: &Inquiry) {
    println!("{}  {}", q.id, q.state);
    println!(
        "  workflow  {} {} (task {}, route {})",
        q.action, q.root, q.task, q.route
    );
    println!(
        "  roles     {}",
        if q.roles.is_empty() {
            "anyone".into()
        } else {
            q.roles.join(", ")
        }
    );
    if let Some(route) = &q.route_to {
        println!("  route     {route}");
    }
    println!("  asked     {}", output::time(q.created_at_ms));
    println!("  expires   {}", output::time(q.expires_at_ms));
    println!("  schema    {}", q.schema);
    if let Some(r) = &q.response {
        println!(
            "  response  {r} (by {})",
            q.responder.as_deref().unwrap_or("?")
        );
    }
    if q.state == "pending" {
        println!("  answer    drover inquiry respond {} key=value...", q.id);
    }
}

/// `key=value` words (typed by the schema's property types) over an
/// optional JSON object.
/// The response from `--response-json` and KEY=VALUE words, typed by the
/// inquiry's `schema` (shared with `--server`).
pub(crate) fn parse_response(
    schema: &Value,
    json: Option<&str>,
    fields: &[String],
) -> Result<Value> {
    let mut out = match json {
        Some(text) => match serde_json::from_str::<Value>(text)
            .context("--response-json is not valid JSON")?
        {
            Value::Object(m) => m,
            _ => bail!("--response-json must be a JSON object, e.g. '{{\"approve\": true}}'"),
        },
        None => Map::new(),
    };
    for word in fields {
        let Some((key, raw)) = word.split_once('=') else {
            bail!("{word:?}: write each response field as key=value (e.g. approve=true)");
        };
        let ty = schema["properties"][key]["type"].as_str();
        let value = match ty {
            Some("string") => Value::String(raw.to_owned()),
            _ => serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned())),
        };
        out.insert(key.to_owned(), value);
    }
    Ok(Value::Object(out))
}
