//! `--server URL`: the CLI as a client of a running drover's API, so an
//! operator can work against a remote drover. Authenticates with
//! `--token` / `DROVER_TOKEN`; answers that are errors become the API's
//! own message (which says what to do).
//!
//! Commands that work remotely: `exec` (with `list --active`), `run`,
//! `rule list|show|enable|disable`, `pack list|show|promote|rollback|diff`, `grant`, `trust`,
//! `audit list`, `changes list|export`, `trigger list`, `kv`, `secret`, `sensor list`, `token`,
//! `node list|show|drain|reboot|undrain`, `budget`, `brake`, `inquiry`,
//! `exec pause|resume|cancel|rerun` (the server queues the run), `policy`,
//! `retention`, `gc` (without `--vacuum`). Answers
//! print as the local command prints them and exit with its code. The
//! others need the drover host's files (`pack install`, `node
//! import|export`, `rule test`, `workflow`) or are the host (`serve`,
//! `user`, `sim`, `fleet`), and say so.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use drover_core::{ExecStatus, Execution};
use serde_json::{Map, Value, json};

use crate::cli::{
    AuditCmd, Command, ExecCmd, GrantCmd, KvCmd, PackCmd, RuleCmd, RunArgs, SecretCmd, SensorCmd,
    TriggerCmd,
};
use crate::commands::gc::{GcArgs, RetentionCmd};
use crate::commands::inquiry::InquiryCmd;
use crate::commands::policy::PolicyCmd;
use crate::output;

mod fleet;

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

    /// This server with another overall timeout per request (a replay
    /// may take minutes).
    pub fn with_timeout(&self, timeout: Duration) -> Remote {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Remote {
            base: self.base.clone(),
            token: self.token.clone(),
            agent,
        }
    }

    pub fn get(&self, path: &str) -> Result<Value> {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.call("POST", path, Some(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> Result<Value> {
        self.call("PUT", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Result<Value> {
        self.call("DELETE", path, None)
    }

    /// A DELETE with a JSON body (the change's reason).
    pub fn delete_with(&self, path: &str, body: &Value) -> Result<Value> {
        self.call("DELETE", path, Some(body))
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let sent = match (method, body) {
            ("POST" | "PUT", body) => {
                let body = body.cloned().unwrap_or(Value::Null).to_string();
                let req = if method == "PUT" {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                let mut req = req.header("content-type", "application/json");
                if let Some(a) = &auth {
                    req = req.header("authorization", a);
                }
                req.send(body.as_bytes())
            }
            ("DELETE", Some(body)) => {
                let mut req = self
                    .agent
                    .delete(&url)
                    .force_send_body()
                    .header("content-type", "application/json");
                if let Some(a) = &auth {
                    req = req.header("authorization", a);
                }
                req.send(body.to_string().as_bytes())
            }
            ("DELETE", None) => {
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

pub use drover_api::path_segment as segment;

pub(crate) fn query(pairs: &[(&str, Option<String>)]) -> String {
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
        Command::Rule(cmd) => rule(remote, cmd),
        Command::Pack(cmd) => pack(remote, cmd),
        Command::Grant(cmd) => grant(remote, cmd),
        Command::Trust(cmd) => crate::commands::trust::remote(remote, cmd),
        Command::Audit(AuditCmd::List {
            execution,
            pack,
            decision,
            target,
            limit,
            json,
        }) => {
            let page = remote.get(&format!(
                "/api/v1/audit{}",
                query(&[
                    ("execution", execution),
                    ("pack", pack),
                    ("decision", decision),
                    ("target", target),
                    ("limit", Some(limit.clamp(1, 1000).to_string())),
                ])
            ))?;
            print_rows(
                &page["items"],
                json,
                &[
                    "decision",
                    "capability",
                    "target",
                    "pack",
                    "plugin",
                    "execution_id",
                    "reason",
                ],
            )
        }
        Command::Changes(cmd) => crate::commands::changes::remote(remote, cmd),
        Command::Trigger(TriggerCmd::List {
            trigger_type,
            limit,
            before,
            json,
        }) => {
            let page = remote.get(&format!(
                "/api/v1/triggers{}",
                query(&[
                    ("type", trigger_type),
                    ("before", before),
                    ("limit", Some(limit.clamp(1, 1000).to_string())),
                ])
            ))?;
            print_rows(
                &page["items"],
                json,
                &["id", "trigger_type", "source", "state", "payload"],
            )
        }
        Command::Trigger(TriggerCmd::Show { id, json }) => {
            let trace = remote.get(&format!("/api/v1/triggers/{}", segment(&id)))?;
            if json {
                output::json(&trace)?;
            } else {
                crate::commands::trigger::print_trace(&trace);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Incident(crate::commands::incident::IncidentCmd::List {
            since,
            members,
            json,
        }) => {
            let page = remote.get(&format!(
                "/api/v1/incidents{}",
                query(&[("since", Some(since.clone()))])
            ))?;
            if json {
                output::json(&page["items"])?;
            } else {
                crate::commands::incident::print(&page, &since, members);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Shadow(crate::commands::shadow::ShadowCmd::Report {
            pack,
            since,
            all,
            json,
        }) => {
            let (name, version) = crate::commands::shadow::split(&pack);
            let report = remote.get(&format!(
                "/api/v1/packs/{}/shadow-report{}",
                segment(name),
                query(&[("version", version.map(str::to_owned)), ("since", since)])
            ))?;
            if json {
                output::json(&report)?;
            } else {
                crate::commands::shadow::print(&report, all);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay(args) => crate::commands::replay::remote(remote, args),
        Command::Kv(cmd) => kv(remote, cmd),
        Command::Secret(cmd) => secret(remote, cmd),
        Command::Node(cmd) => fleet::node(remote, cmd),
        Command::Budget(cmd) => fleet::budget(remote, cmd),
        Command::Brake(cmd) => fleet::brake(remote, cmd),
        Command::Fleet(cmd) => fleet::fleet(remote, cmd),
        Command::Inquiry(cmd) => inquiry(remote, cmd),
        Command::Policy(cmd) => policy(remote, cmd),
        Command::Retention(cmd) => retention(remote, cmd),
        Command::Gc(args) => gc(remote, args),
        Command::Sensor(SensorCmd::List { json }) => {
            let all = remote.get("/api/v1/sensors")?;
            print_rows(
                &all,
                json,
                &[
                    "name",
                    "state",
                    "polls",
                    "messages",
                    "triggers",
                    "failures",
                    "last_error",
                ],
            )
        }
        other => bail!(
            "this command does not work with --server: it needs the drover host's files or is \
             the host; run it there (remote: exec, run, rule list|show|enable|disable, pack \
             list|show|promote|rollback|diff, replay, grant, trust, audit, changes, trigger, kv, secret, sensor, token, node \
             list|show|drain|reboot|undrain|set-state, budget, brake, fleet pause|resume, inquiry, \
             policy, retention, gc); \
             got {}",
            name_of(&other)
        ),
    }
}

fn name_of(c: &impl std::fmt::Debug) -> String {
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
            node,
            actor,
            rule,
            json,
            active,
        } => {
            if active {
                let runs = remote.get("/api/v1/executions/active")?;
                crate::commands::exec::print_active(&runs, json)?;
                return Ok(ExitCode::SUCCESS);
            }
            let page = remote.get(&format!(
                "/api/v1/executions{}",
                query(&[
                    ("action", action),
                    ("status", status),
                    ("limit", Some(limit.clamp(1, 1000).to_string())),
                    ("after", before),
                    ("node", node),
                    ("actor", actor),
                    ("rule", rule),
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
        ExecCmd::Pause(args) => control(remote, &args.id, "pause", None, args.json),
        ExecCmd::Resume(args) => control(remote, &args.id, "resume", None, args.json),
        ExecCmd::Cancel(args) => control(remote, &args.id, "cancel", None, args.json),
        ExecCmd::Rerun(args) => {
            let body = json!({"tasks": args.tasks, "reset_items": args.reset_items});
            control(remote, &args.id, "rerun", Some(&body), args.json)
        }
    }
}

/// `exec pause|resume|cancel|rerun`: the server queues what goes on.
fn control(
    remote: &Remote,
    id: &str,
    verb: &str,
    body: Option<&Value>,
    json_out: bool,
) -> Result<ExitCode> {
    let empty = json!({});
    let answer = remote.post(
        &format!("/api/v1/executions/{}/{verb}", segment(id)),
        body.unwrap_or(&empty),
    )?;
    if json_out {
        output::json(&answer)?;
        return Ok(ExitCode::SUCCESS);
    }
    let root = answer["id"].as_str().unwrap_or(id);
    match (verb, answer["status"].as_str()) {
        ("rerun", _) => println!("rerun of {id} queued as {root}: the server runs it"),
        (_, Some("queued")) => println!("{root}: {verb} done; queued, the server continues it"),
        _ => println!("{root}: {verb} requested; the server acts at the workflow's next step"),
    }
    Ok(ExitCode::SUCCESS)
}

fn inquiry(remote: &Remote, cmd: InquiryCmd) -> Result<ExitCode> {
    match cmd {
        InquiryCmd::List { all, limit, json } => {
            let rows = remote.get(&format!(
                "/api/v1/inquiries{}",
                query(&[
                    ("state", all.then(|| "all".to_owned())),
                    ("limit", Some(limit.clamp(1, 1000).to_string())),
                ])
            ))?;
            print_rows(
                &rows,
                json,
                &["id", "action", "root", "task", "state", "roles"],
            )
        }
        InquiryCmd::Get { id, .. } => {
            // Always JSON: the schema and answer are JSON anyway.
            let q = remote.get(&format!("/api/v1/inquiries/{}", segment(&id)))?;
            output::json(&q)?;
            Ok(ExitCode::SUCCESS)
        }
        InquiryCmd::Respond {
            id,
            fields,
            response_json,
            roles,
            queue: _,
            json,
        } => {
            if !roles.is_empty() {
                bail!("--as does not work with --server: you answer with your token's role");
            }
            let q = remote.get(&format!("/api/v1/inquiries/{}", segment(&id)))?;
            let response = crate::commands::inquiry::parse_response(
                &q["schema"],
                response_json.as_deref(),
                &fields,
            )?;
            let answered = remote.post(
                &format!("/api/v1/inquiries/{}/respond", segment(&id)),
                &json!({ "response": response }),
            )?;
            if json {
                output::json(&answered)?;
            } else {
                println!(
                    "inquiry {id} answered; the server continues workflow {}",
                    answered["root"].as_str().unwrap_or("")
                );
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
    if args.answer.is_some() {
        bail!(
            "--answer does not work with --server: a dry run queued there answers its inquiries \
             with the schema's defaults; run it locally to choose the answer"
        );
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

fn refuse(what: &str) -> Result<ExitCode> {
    bail!(
        "`{what}` does not work with --server: it reads files on this machine; run it on the drover host"
    )
}

fn rule(remote: &Remote, cmd: RuleCmd) -> Result<ExitCode> {
    match cmd {
        RuleCmd::List { pack, json } => {
            let rules = remote.get(&format!("/api/v1/rules{}", query(&[("pack", pack)])))?;
            print_rows(
                &rules,
                json,
                &["ref", "enabled", "trigger", "action", "description"],
            )
        }
        RuleCmd::Show { reference, json } => {
            let rule = remote.get(&format!("/api/v1/rules/{}", segment(&reference)))?;
            if json {
                output::json(&rule["rule"])?;
            } else {
                println!(
                    "# {} ({}; from {})",
                    reference,
                    if rule["enabled"] == true {
                        "enabled"
                    } else {
                        "disabled"
                    },
                    rule["origin"].as_str().unwrap_or("")
                );
                print!("{}", rule["definition"].as_str().unwrap_or(""));
            }
            Ok(ExitCode::SUCCESS)
        }
        RuleCmd::Enable { reference, reason } => toggle(remote, &reference, "enable", reason),
        RuleCmd::Disable { reference, reason } => toggle(remote, &reference, "disable", reason),
        RuleCmd::Test(_) => refuse("rule test"),
    }
}

fn toggle(
    remote: &Remote,
    reference: &str,
    verb: &str,
    reason: Option<String>,
) -> Result<ExitCode> {
    let done: drover_app::rules::Toggled = answer(remote.post(
        &format!("/api/v1/rules/{}/{verb}", segment(reference)),
        &json!({ "reason": reason }),
    )?)?;
    println!("{}", done.message());
    Ok(ExitCode::SUCCESS)
}

/// `NAME` or `NAME@VERSION` as a path and a version query.
fn pack_path(spec: &str, suffix: &str) -> String {
    let (name, version) = match spec.split_once('@') {
        Some((n, v)) => (n, Some(v.to_owned())),
        None => (spec, None),
    };
    format!(
        "/api/v1/packs/{}{suffix}{}",
        segment(name),
        query(&[("version", version)])
    )
}

fn pack(remote: &Remote, cmd: PackCmd) -> Result<ExitCode> {
    match cmd {
        PackCmd::List { json } => {
            let packs = remote.get("/api/v1/packs")?;
            print_rows(
                &packs,
                json,
                &["name", "version", "shadow", "installed_by", "description"],
            )
        }
        PackCmd::Show { pack, json } => {
            let detail = remote.get(&pack_path(&pack, ""))?;
            if json {
                output::json(&detail)?;
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{}@{} — {}",
                detail["name"].as_str().unwrap_or(""),
                detail["version"].as_str().unwrap_or(""),
                detail["description"].as_str().unwrap_or("")
            );
            for p in detail["plugins_detail"].as_array().into_iter().flatten() {
                println!(
                    "\n{} ({}) {}",
                    p["name"].as_str().unwrap_or(""),
                    p["kind"].as_str().unwrap_or(""),
                    p["description"].as_str().unwrap_or("")
                );
                for c in p["capabilities"].as_array().into_iter().flatten() {
                    let grants: Vec<String> = c["grants"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|g| {
                            format!(
                                "'{}' (grant {})",
                                g["scope"].as_str().unwrap_or(""),
                                g["id"].as_str().unwrap_or("")
                            )
                        })
                        .collect();
                    let state = if c["needs_grant"] == false {
                        "needs no grant".to_owned()
                    } else if grants.is_empty() {
                        "NOT GRANTED".to_owned()
                    } else {
                        format!("granted {}", grants.join(", "))
                    };
                    println!(
                        "  capability {}: {state}",
                        c["capability"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PackCmd::Promote { pack, reason } => {
            let done = remote.post(&pack_path(&pack, "/promote"), &json!({ "reason": reason }))?;
            println!(
                "{}@{}: {}",
                done["name"].as_str().unwrap_or(""),
                done["version"].as_str().unwrap_or(""),
                done["note"].as_str().unwrap_or("")
            );
            Ok(ExitCode::SUCCESS)
        }
        PackCmd::Rollback { pack, reason } => {
            let done = remote.post(
                &format!("/api/v1/packs/{}/rollback", segment(&pack)),
                &json!({ "reason": reason }),
            )?;
            println!(
                "rolled back {}: live version {} → {}; {}",
                done["name"].as_str().unwrap_or(""),
                done["from"].as_str().unwrap_or(""),
                done["to"].as_str().unwrap_or(""),
                done["note"].as_str().unwrap_or("")
            );
            Ok(ExitCode::SUCCESS)
        }
        PackCmd::Diff {
            pack,
            from,
            to,
            json,
        } => {
            let d = remote.get(&format!(
                "/api/v1/packs/{}/diff{}",
                segment(&pack),
                query(&[("from", from), ("to", to)])
            ))?;
            crate::commands::pack::print_diff(&answer(d)?, json)
        }
        PackCmd::Install { .. } => refuse("pack install"),
        // Offline: dispatched before --server is looked at.
        PackCmd::Build { .. }
        | PackCmd::New { .. }
        | PackCmd::Sign { .. }
        | PackCmd::Verify { .. }
        | PackCmd::Push { .. }
        | PackCmd::Pull { .. } => {
            unreachable!("pack build, new, sign, verify, push and pull run locally")
        }
        // Runs here, on a scratch database: the server plays no part.
        PackCmd::Test(args) => crate::commands::pack_test::run(std::path::Path::new(""), args),
    }
}

fn grant(remote: &Remote, cmd: GrantCmd) -> Result<ExitCode> {
    match cmd {
        GrantCmd::List { pack, all, json } => {
            let grants = remote.get(&format!(
                "/api/v1/grants{}",
                query(&[("pack", pack), ("all", Some(all.to_string()))])
            ))?;
            crate::commands::grant::print_list(&answer::<Vec<drover_core::Grant>>(grants)?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        GrantCmd::Add {
            pack,
            capability,
            scope,
            plugin,
            reason,
            json,
        } => {
            let g = remote.post(
                "/api/v1/grants",
                &json!({"pack": pack, "capability": capability, "scope": scope, "plugin": plugin,
                        "reason": reason}),
            )?;
            crate::commands::grant::print_given(&answer(g)?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        GrantCmd::Revoke { id, reason } => {
            let g = remote.delete_with(
                &format!("/api/v1/grants/{}", segment(&id)),
                &json!({ "reason": reason }),
            )?;
            crate::commands::grant::print_revoked(&answer(g)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn kv(remote: &Remote, cmd: KvCmd) -> Result<ExitCode> {
    let key_path =
        |scope: &str, key: &str| format!("/api/v1/kv/{}/{}", segment(scope), segment(key));
    match cmd {
        KvCmd::Get { key, scope, json } => {
            let pair = remote.get(&key_path(&scope, &key))?;
            if json {
                output::json(&pair)?;
            } else {
                println!("{}", pair["value"].as_str().unwrap_or(""));
            }
        }
        KvCmd::Set {
            key,
            value,
            scope,
            ttl,
        } => {
            remote.put(
                &key_path(&scope, &key),
                &json!({"value": value, "ttl_seconds": ttl}),
            )?;
            match ttl {
                Some(t) => println!("{scope}/{key} set, expires in {t}s"),
                None => println!("{scope}/{key} set"),
            }
        }
        KvCmd::Delete { key, scope } => {
            remote.delete(&key_path(&scope, &key))?;
            println!("{scope}/{key} deleted");
        }
        KvCmd::List {
            scope,
            prefix,
            json,
        } => {
            let pairs = remote.get(&format!(
                "/api/v1/kv/{}{}",
                segment(&scope),
                query(&[("prefix", prefix)])
            ))?;
            if json {
                output::json(&pairs)?;
            } else {
                for p in pairs.as_array().into_iter().flatten() {
                    println!(
                        "{}={}",
                        p["key"].as_str().unwrap_or(""),
                        p["value"].as_str().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn secret(remote: &Remote, cmd: SecretCmd) -> Result<ExitCode> {
    match cmd {
        SecretCmd::Set { name } => {
            let value = crate::commands::secret::read_value()?;
            remote.put(
                &format!("/api/v1/secrets/{}", segment(&name)),
                &json!({"value": value}),
            )?;
            println!("secret {name} set ({} bytes)", value.len());
        }
        SecretCmd::List { json } => {
            let names = remote.get("/api/v1/secrets")?;
            if json {
                output::json(&names)?;
            } else {
                for n in names.as_array().into_iter().flatten() {
                    println!("{}", n.as_str().unwrap_or(""));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The API's answer as `T` (what the local command prints from).
pub fn answer<T: serde::de::DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value).context("the server sent an answer this drover cannot read")
}

fn policy(remote: &Remote, cmd: PolicyCmd) -> Result<ExitCode> {
    use crate::commands::policy::{print_list, read};
    match cmd {
        PolicyCmd::Set { file } => {
            let text = read(&file)?;
            let set: drover_engine::policies::operator::PolicyView = answer(remote.post(
                "/api/v1/policies",
                &json!({"definition": text, "source": file.display().to_string()}),
            )?)?;
            println!("{}", set.set_message());
        }
        PolicyCmd::List { json } => {
            print_list(&answer::<Vec<_>>(remote.get("/api/v1/policies")?)?, json)?
        }
        PolicyCmd::Remove { name } => {
            let removed: drover_engine::policies::operator::PolicyView =
                answer(remote.delete(&format!("/api/v1/policies/{}", segment(&name)))?)?;
            println!("{}", removed.removed_message());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn retention(remote: &Remote, cmd: RetentionCmd) -> Result<ExitCode> {
    use drover_app::retention::Setting;
    match cmd {
        RetentionCmd::Show { json } => {
            let settings: Vec<Setting> = answer(remote.get("/api/v1/retention")?)?;
            crate::commands::gc::print_settings(&settings, json)?;
        }
        RetentionCmd::Set {
            kind,
            max_age,
            max_count,
            forever,
        } => {
            let body = json!({
                "max_age_ms": max_age.map(crate::commands::gc::age_ms),
                "max_count": max_count,
                "forever": forever,
            });
            let set: Setting =
                answer(remote.put(&format!("/api/v1/retention/{}", segment(&kind)), &body)?)?;
            println!("{}", set.set_message());
        }
        RetentionCmd::Reset { kind } => {
            let set: Setting =
                answer(remote.delete(&format!("/api/v1/retention/{}", segment(&kind)))?)?;
            println!("{}", set.reset_message());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn gc(remote: &Remote, args: GcArgs) -> Result<ExitCode> {
    use crate::commands::gc::{print_preview, print_report};
    if args.vacuum {
        bail!(
            "`gc --vacuum` does not work with --server: it rewrites the database file, which \
             needs serve stopped; run it on the drover host"
        );
    }
    if args.dry_run {
        print_preview(&answer(remote.get("/api/v1/gc")?)?, args.json)?;
    } else {
        print_report(
            &answer(remote.post("/api/v1/gc", &json!({}))?)?,
            false,
            args.json,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
