//! `--server URL`: the CLI as a client of a running drover's API, so an
//! operator can work against a remote drover. Authenticates with
//! `--token` / `DROVER_TOKEN`; answers that are errors become the API's
//! own message (which says what to do).
//!
//! Commands that work remotely: `exec list|get`, `run`, `rule list`,
//! `pack list`, `grant list`, `token create|list|revoke`. Others say so.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use drover_core::{ExecStatus, Execution};
use serde_json::{Map, Value, json};

use crate::cli::{Command, ExecCmd, GrantCmd, PackCmd, RuleCmd, RunArgs};
use crate::output;

/// How long `run --server` waits for the execution to finish.
const RUN_WAIT: Duration = Duration::from_secs(3600);
/// Between polls of a queued execution.
const RUN_POLL: Duration = Duration::from_millis(200);

/// A drover API and the token to use it with.
pub struct Remote {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Remote {
    pub fn new(url: &str, token: Option<String>) -> Result<Remote> {
        let base = url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--server takes a URL such as http://127.0.0.1:8330; got {url:?}");
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Ok(Remote { base, token, agent })
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.call("POST", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Result<Value> {
        self.call("DELETE", path, None)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let sent = match (method, body) {
            ("POST", Some(b)) => {
                let mut req = self
                    .agent
                    .post(&url)
                    .header("content-type", "application/json");
                if let Some(a) = &auth {
                    req = req.header("authorization", a);
                }
                req.send(b.to_string().as_bytes())
            }
            ("DELETE", _) => {
                let mut req = self.agent.delete(&url);
                if let Some(a) = &auth {
                    req = req.header("authorization", a);
                }
                req.call()
            }
            _ => {
                let mut req = self.agent.get(&url);
                if let Some(a) = &auth {
                    req = req.header("authorization", a);
                }
                req.call()
            }
        };
        let mut resp = sent.with_context(|| format!("cannot reach drover at {}", self.base))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .with_context(|| format!("cannot read the answer of {method} {url}"))?;
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("{method} {url} answered {status} with no JSON"))?
        };
        if status >= 400 {
            let message = value["error"].as_str().unwrap_or(&text);
            let hint = if status == 401 && self.token.is_none() {
                " (pass --token or set DROVER_TOKEN)"
            } else {
                ""
            };
            return Err(anyhow!("{} answered {status}: {message}{hint}", self.base));
        }
        Ok(value)
    }
}

/// Percent-encodes one path segment.
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", segment(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Runs `command` against the API; refuses those that only work locally.
pub fn dispatch(remote: &Remote, command: Command) -> Result<ExitCode> {
    match command {
        Command::Exec(cmd) => exec(remote, cmd),
        Command::Run(args) => run(remote, args),
        Command::Rule(RuleCmd::List { pack, json }) => {
            let rules = remote.get(&format!("/api/v1/rules{}", query(&[("pack", pack)])))?;
            print_rows(
                &rules,
                json,
                &["ref", "enabled", "trigger", "action", "description"],
            )
        }
        Command::Pack(PackCmd::List { json }) => {
            let packs = remote.get("/api/v1/packs")?;
            print_rows(
                &packs,
                json,
                &["name", "version", "shadow", "installed_by", "description"],
            )
        }
        Command::Grant(GrantCmd::List { pack, all, json }) => {
            let grants = remote.get(&format!(
                "/api/v1/grants{}",
                query(&[("pack", pack), ("all", Some(all.to_string()))])
            ))?;
            print_rows(
                &grants,
                json,
                &[
                    "id",
                    "pack",
                    "version",
                    "capability",
                    "scope",
                    "revoked_at_ms",
                ],
            )
        }
        other => bail!(
            "this command does not work with --server yet; run it on the drover host \
             (remote: exec list|get, run, rule list, pack list, grant list, token); got {}",
            name_of(&other)
        ),
    }
}

fn name_of(c: &Command) -> String {
    format!("{c:?}")
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or("")
        .to_lowercase()
}

fn exec(remote: &Remote, cmd: ExecCmd) -> Result<ExitCode> {
    match cmd {
        ExecCmd::List {
            action,
            status,
            limit,
            before,
            json,
        } => {
            let page = remote.get(&format!(
                "/api/v1/executions{}",
                query(&[
                    ("action", action),
                    ("status", status),
                    ("limit", Some(limit.clamp(1, 1000).to_string())),
                    ("after", before),
                ])
            ))?;
            if json {
                output::json(&page["items"])?;
                return Ok(ExitCode::SUCCESS);
            }
            print_rows(
                &page["items"],
                false,
                &["id", "action", "status", "dry_run", "actor", "duration_us"],
            )?;
            if let Some(next) = page["next_after"].as_str() {
                println!("more: drover exec list --before {next}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ExecCmd::Get { id, json, tree } => {
            let detail = remote.get(&format!("/api/v1/executions/{}", segment(&id)))?;
            if json {
                let mut value = detail["execution"].clone();
                if tree {
                    value["children"] = detail["children"].clone();
                }
                output::json(&value)?;
            } else {
                let exec: Execution = serde_json::from_value(detail["execution"].clone())
                    .context("the server sent an execution this drover cannot read")?;
                output::execution(&exec);
                if tree {
                    println!("  tree");
                    print_tree(&detail["children"], 2);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_tree(children: &Value, depth: usize) {
    for c in children.as_array().into_iter().flatten() {
        println!(
            "{:indent$}{}  {}  {}  {}",
            "",
            c["task"].as_str().unwrap_or(""),
            c["action"].as_str().unwrap_or(""),
            c["status"].as_str().unwrap_or(""),
            c["id"].as_str().unwrap_or(""),
            indent = depth * 2
        );
        print_tree(&c["children"], depth + 1);
    }
}

/// `run --server`: parameters go as JSON (a `key=value` value is read as
/// JSON when it parses as JSON, else as a string; the server checks them
/// against the action's schema), then the execution is awaited.
fn run(remote: &Remote, args: RunArgs) -> Result<ExitCode> {
    let mut params = match &args.params_json {
        Some(text) => {
            serde_json::from_str::<Value>(text).context("--params-json is not valid JSON")?
        }
        None => Value::Object(Map::new()),
    };
    let Value::Object(map) = &mut params else {
        bail!("--params-json must be a JSON object, e.g. '{{\"message\": \"hi\"}}'");
    };
    for kv in &args.params {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("parameters are KEY=VALUE; got {kv:?}");
        };
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        map.insert(k.to_owned(), value);
    }
    if args.timeout.is_some() {
        bail!("--timeout does not work with --server: the action's own timeout applies");
    }
    let queued = remote.post(
        "/api/v1/executions",
        &json!({"action": args.action, "parameters": params, "dry_run": args.dry_run}),
    )?;
    let id = queued["id"]
        .as_str()
        .ok_or_else(|| anyhow!("the server queued the execution without an id"))?
        .to_owned();
    let started = Instant::now();
    let exec = loop {
        match remote.get(&format!("/api/v1/executions/{}", segment(&id))) {
            Ok(detail) => {
                break serde_json::from_value::<Execution>(detail["execution"].clone())
                    .context("the server sent an execution this drover cannot read")?;
            }
            Err(e) if e.to_string().contains("answered 404") => {
                if started.elapsed() > RUN_WAIT {
                    bail!("execution {id} is still queued or running after {RUN_WAIT:?}");
                }
                std::thread::sleep(RUN_POLL);
            }
            Err(e) => return Err(e),
        }
    };
    if args.json {
        output::json(&exec)?;
    } else {
        output::execution(&exec);
    }
    Ok(match exec.status {
        ExecStatus::Succeeded => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// An array of objects as JSON, or as a table of `columns`.
fn print_rows(rows: &Value, json: bool, columns: &[&str]) -> Result<ExitCode> {
    if json {
        output::json(rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let items = rows.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("none");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![columns.iter().map(|c| c.to_uppercase()).collect::<Vec<_>>()];
    for item in &items {
        table.push(
            columns
                .iter()
                .map(|c| match &item[*c] {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect(),
        );
    }
    output::table(&table);
    Ok(ExitCode::SUCCESS)
}
