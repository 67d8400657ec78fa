//! `drover rule test`: one rule file against one trigger-instance file,
//! offline — no database, no installed packs (drover's st2-rule-tester).
//!
//! This module only reads the files and prints; parsing, matching and the
//! report are `drover_rules`'. Exit codes: 0 the rule matches, 1 it does
//! not, 2 an error (an unreadable or invalid file, or a rule that matches
//! but cannot be enforced because a pattern or parameter fails to render).

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use drover_rules::{Context, Rule, TriggerInstance, Verdict, test_rule};
use serde_json::Value;

use crate::cli::{RuleCmd, RuleTestArgs};
use crate::output;

/// Largest rule, trigger-instance or config file read: these are
/// hand-written documents, and the tester holds them in memory.
const MAX_FILE_BYTES: u64 = 4 << 20;

pub fn run(db: &Path, cmd: RuleCmd) -> Result<ExitCode> {
    match cmd {
        RuleCmd::Test(args) => test(db, args),
        RuleCmd::List { pack, json } => list(db, pack.as_deref(), json),
        RuleCmd::Show { reference, json } => show(db, &reference, json),
        RuleCmd::Enable { reference, reason } => {
            set_enabled(db, &reference, true, reason.as_deref())
        }
        RuleCmd::Disable { reference, reason } => {
            set_enabled(db, &reference, false, reason.as_deref())
        }
    }
}

fn list(db: &Path, pack: Option<&str>, as_json: bool) -> Result<ExitCode> {
    let rules: Vec<_> = crate::context::open_store(db)?
        .list_rules()?
        .into_iter()
        .filter(|r| pack.is_none_or(|p| r.pack == p))
        .collect();
    let parsed: Vec<(drover_store::StoredRule, Option<Rule>)> = rules
        .into_iter()
        .map(|r| {
            let rule = Rule::parse(Path::new(&r.reference), &r.definition).ok();
            (r, rule)
        })
        .collect();
    if as_json {
        let rows: Vec<Value> = parsed
            .iter()
            .map(|(stored, rule)| {
                serde_json::json!({
                    "ref": stored.reference,
                    "pack": stored.pack,
                    "enabled": stored.enabled,
                    "origin": stored.origin,
                    "trigger": rule.as_ref().map(|r| r.trigger.type_.clone()),
                    "action": rule.as_ref().map(|r| r.action.reference.clone()),
                    "description": rule.as_ref().map(|r| r.description.clone()),
                })
            })
            .collect();
        output::json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if parsed.is_empty() {
        println!("no rules; packs ship them in rules/*.yaml");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![vec![
        "RULE".to_string(),
        "ENABLED".into(),
        "TRIGGER".into(),
        "ACTION".into(),
        "DESCRIPTION".into(),
    ]];
    for (stored, rule) in &parsed {
        table.push(vec![
            stored.reference.clone(),
            stored.enabled.to_string(),
            rule.as_ref()
                .map(|r| r.trigger.type_.clone())
                .unwrap_or_default(),
            rule.as_ref()
                .map(|r| r.action.reference.clone())
                .unwrap_or_default(),
            rule.as_ref()
                .map(|r| r.description.clone())
                .unwrap_or_default(),
        ]);
    }
    output::table(&table);
    Ok(ExitCode::SUCCESS)
}

fn show(db: &Path, reference: &str, as_json: bool) -> Result<ExitCode> {
    let Some(stored) = crate::context::open_store(db)?
        .list_rules()?
        .into_iter()
        .find(|r| r.reference == reference)
    else {
        bail!("no rule {reference:?} (see `drover rule list`)");
    };
    let rule = Rule::parse(Path::new(&stored.reference), &stored.definition)?;
    if as_json {
        let mut v = rule.to_json();
        v["enabled"] = Value::Bool(stored.enabled);
        output::json(&v)?;
    } else {
        println!(
            "# {} ({}; from {})",
            stored.reference,
            if stored.enabled {
                "enabled"
            } else {
                "disabled"
            },
            stored.origin
        );
        print!("{}", stored.definition);
    }
    Ok(ExitCode::SUCCESS)
}

fn set_enabled(
    db: &Path,
    reference: &str,
    enabled: bool,
    reason: Option<&str>,
) -> Result<ExitCode> {
    let by = drover_core::ChangeBy::new(&crate::context::actor(), reason)?;
    let store = crate::context::open_store(db)?;
    println!(
        "{}",
        drover_app::rules::set_enabled(&store, reference, enabled, &by)?.message()
    );
    Ok(ExitCode::SUCCESS)
}

fn test(db: &Path, args: RuleTestArgs) -> Result<ExitCode> {
    // Files need no database; an installed rule or stored instance does.
    let store = if args.rule_ref.is_some() || args.trigger_instance_id.is_some() {
        Some(crate::context::open_store(db)?)
    } else {
        None
    };
    let rule = match (&args.rule, &args.rule_ref, &store) {
        (Some(path), _, _) => Rule::parse(path, &read(path)?)?,
        (None, Some(reference), Some(store)) => {
            let Some(stored) = store
                .list_rules()?
                .into_iter()
                .find(|r| r.reference == *reference)
            else {
                bail!("no installed rule {reference:?} (see `drover rule list`)");
            };
            Rule::parse(Path::new(&stored.reference), &stored.definition)?
        }
        _ => bail!("give --rule FILE or --rule-ref PACK.NAME"),
    };
    let instance = match (&args.trigger_instance, &args.trigger_instance_id, &store) {
        (Some(path), _, _) => TriggerInstance::parse(path, &read(path)?)?,
        (None, Some(id), Some(store)) => {
            let Some(stored) = store.get_trigger(id)? else {
                bail!("no stored trigger instance {id:?} (see `drover trigger list`)");
            };
            TriggerInstance {
                trigger: stored.trigger_type,
                payload: stored.payload,
                id: Some(stored.id),
                occurrence_time: Some(
                    jiff::Timestamp::from_millisecond(stored.received_at_ms)
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                ),
            }
        }
        _ => bail!("give --trigger-instance FILE or --trigger-instance-id ID"),
    };
    let mut cx = Context::new(args.now.unwrap_or_else(jiff::Timestamp::now));
    if let (true, Some(store)) = (args.kv.is_empty() && args.rule_ref.is_some(), &store) {
        // An installed rule sees the live store, as under `drover serve`.
        let owner = store
            .get_pack(&rule.pack, None)?
            .map(|p| p.installed_by.trim_start_matches("user:").to_owned());
        cx = cx.with_kv(Arc::new(LiveKv {
            store: store.clone(),
            owner,
        }));
    }
    if !args.kv.is_empty() {
        let mut pairs = HashMap::new();
        for arg in &args.kv {
            let Some((key, value)) = arg.split_once('=') else {
                bail!("--kv takes KEY=VALUE (e.g. --kv maintenance.b7s01=true); got {arg:?}");
            };
            pairs.insert(key.to_owned(), value.to_owned());
        }
        cx = cx.with_kv(Arc::new(move |_pack: &str, key: &str| {
            pairs.get(key).cloned()
        }));
    }
    if let Some(path) = &args.config {
        let config = read_document(path)?;
        cx = cx.with_configs(Arc::new(move |_pack: &str| Some(config.clone())));
    }
    let report = test_rule(&rule, &instance, &cx);
    if args.json {
        output::json(&report)?;
    } else {
        print!("{report}");
    }
    Ok(match report.verdict {
        Verdict::Match => ExitCode::SUCCESS,
        Verdict::NoMatch => ExitCode::from(1),
        Verdict::Error => ExitCode::from(2),
    })
}

/// The live key-value store as `drover serve`'s rules see it: `kv.*` and
/// `st2kv.system.*` the system scope, `st2kv.user.*` the scope of the user
/// who installed the rule's pack.
struct LiveKv {
    store: drover_store::Store,
    owner: Option<String>,
}

impl drover_rules::KvStore for LiveKv {
    fn get(&self, _pack: &str, key: &str) -> Option<String> {
        self.store.kv_get("system", key).ok().flatten()
    }

    fn get_user(&self, _pack: &str, key: &str) -> Option<String> {
        let scope = format!("user:{}", self.owner.as_deref()?);
        self.store.kv_get(&scope, key).ok().flatten()
    }
}

fn read(path: &Path) -> Result<String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        bail!("{} is over {MAX_FILE_BYTES} bytes", path.display());
    }
    Ok(text)
}

/// A JSON (`.json`) or YAML file as a JSON value.
fn read_document(path: &Path) -> Result<Value> {
    let text = read(path)?;
    let value: Value = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))?
    } else {
        drover_text::yaml::check(&text).map_err(|p| {
            anyhow::anyhow!("{}:{}: {}", path.display(), p.line.unwrap_or(1), p.message)
        })?;
        serde_norway::from_str(&text)
            .with_context(|| format!("{}: invalid YAML", path.display()))?
    };
    Ok(value)
}
