//! Action policies (`policies/*.yaml` in a pack, StackStorm's format):
//! concurrency limits and retries, parsed, checked and turned into what
//! the scheduler's claim needs.
//!
//! ```yaml
//! name: one_reboot_per_node
//! pack: ops                      # optional; must be the shipping pack
//! resource_ref: ops.reboot       # the action: one of this pack's own
//! policy_type: action.concurrency
//! parameters:
//!   threshold: 1                 # running at once, at most
//!   action: delay                # delay (queue in order, the default) | cancel
//!   semaphore: bmc               # shared by this pack's policies naming it
//!   key: "{{ node }}"            # one count per rendered key
//! ```
//!
//! A pack governs only itself: a policy may name only its own pack's
//! actions (a pack is refused at install otherwise, and a stored policy
//! that names another pack's action is ignored), and its semaphore names
//! live in the pack's namespace (`ops:bmc`), so no pack can hold slots
//! another pack's actions wait on. A shadow pack's policies never touch a
//! live execution.
//!
//! st2's `action.concurrency.attr` (`attributes: [node]`) is accepted as a
//! keyed concurrency policy. `action.retry` takes `retry_on` (`failure`,
//! `timeout` or a list), `max_retry_count` and `delay` (seconds, or a
//! duration such as `500ms`).
//!
//! Keys are minijinja templates over the execution's parameters, rendered
//! once; what they render is data.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use drover_core::{ExecStatus, ExecutionRequest};
use drover_rules::ParseError;
use drover_store::{Gate, RetryRule, SlotNeed};
use minijinja::{Environment, UndefinedBehavior};
use serde::Deserialize;

pub mod operator;

/// One policy, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// `pack.name`.
    pub reference: String,
    pub pack: String,
    pub enabled: bool,
    /// The action it applies to, `pack.action`.
    pub resource_ref: String,
    pub kind: PolicyKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PolicyKind {
    Concurrency {
        threshold: u32,
        cancel: bool,
        semaphore: String,
        /// Template source of the key, if keyed.
        key: Option<String>,
    },
    Retry(RetryRule),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    pack: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
    resource_ref: String,
    policy_type: String,
    #[serde(default)]
    parameters: RawParameters,
    // st2 bookkeeping: accepted, ignored.
    #[serde(rename = "id")]
    _id: Option<serde_norway::Value>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParameters {
    threshold: Option<i64>,
    action: Option<String>,
    semaphore: Option<String>,
    key: Option<String>,
    attributes: Option<Vec<String>>,
    retry_on: Option<OneOrMany>,
    max_retry_count: Option<i64>,
    delay: Option<Delay>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Delay {
    Seconds(f64),
    Text(String),
}

/// The owner of the operator's own policies (`drover policy set`): a
/// reserved name no pack can take, so only they may govern any action.
pub const OPERATOR: &str = "drover";

const TYPES: [&str; 3] = [
    "action.concurrency",
    "action.concurrency.attr",
    "action.retry",
];
const CONCURRENCY_FIELDS: [&str; 5] = ["threshold", "action", "semaphore", "key", "attributes"];
const RETRY_FIELDS: [&str; 3] = ["retry_on", "max_retry_count", "delay"];

impl Policy {
    /// Parses and checks a policy file. `actions`, when given, are the
    /// actions of the shipping pack: a policy on one of its own actions
    /// must name one that exists.
    pub fn parse(
        origin: &Path,
        text: &str,
        pack: &str,
        actions: Option<&[String]>,
    ) -> Result<Policy, ParseError> {
        // Bounded first (aliases expanded): the file comes from a pack.
        drover_text::yaml::check(text).map_err(|p| ParseError::Invalid {
            origin: origin.to_owned(),
            line: p.line,
            column: p.column,
            path: p.path,
            message: p.message,
        })?;
        let raw: RawPolicy = serde_path_to_error::deserialize(
            serde_norway::Deserializer::from_str(text),
        )
        .map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let location = inner.location();
            let mut message = inner.to_string();
            if let Some(l) = &location {
                message = message.replacen(
                    &format!(" at line {} column {}", l.line(), l.column()),
                    "",
                    1,
                );
            }
            // The YAML library prefixes the parent's path; drover prints
            // the field's own.
            let parents = path.match_indices('.').map(|(i, _)| &path[..i]);
            for prefix in std::iter::once(path.as_str()).chain(parents) {
                if let Some(rest) = message.strip_prefix(&format!("{prefix}: ")) {
                    message = rest.to_owned();
                    break;
                }
            }
            message = explain_unknown(&message);
            ParseError::Invalid {
                origin: origin.to_owned(),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
                path,
                message,
            }
        })?;
        let invalid = |field: &[&str], message: String| {
            let at = drover_text::locate(text, field);
            ParseError::Invalid {
                origin: origin.to_owned(),
                line: at.map(|a| a.0),
                column: at.map(|a| a.1),
                path: field.join("."),
                message,
            }
        };
        let _ = raw.description;
        if let Some(p) = raw.pack.as_deref().filter(|p| *p != pack) {
            return Err(invalid(
                &["pack"],
                format!(
                    "the policy says pack {p:?}, but it ships in pack {pack:?}; set `pack: {pack}`"
                ),
            ));
        }
        if !drover_pack::is_name(&raw.name) {
            return Err(invalid(
                &["name"],
                format!(
                    "{:?} is not a valid name: use lowercase letters, digits and _",
                    raw.name
                ),
            ));
        }
        let Some((action_pack, action)) = raw.resource_ref.split_once('.') else {
            return Err(invalid(
                &["resource_ref"],
                format!(
                    "{:?} is not an action reference: write pack.action, e.g. core.sleep",
                    raw.resource_ref
                ),
            ));
        };
        if actions.is_some() && action_pack != pack {
            return Err(invalid(
                &["resource_ref"],
                format!(
                    "{:?} is an action of pack {action_pack:?}: a pack's policies may govern only \
                     its own actions ({pack}.*). Limiting another pack's action is the operator's \
                     decision, not a pack's; to limit this component from pack {pack}, declare an \
                     action of your own that uses it and name that",
                    raw.resource_ref
                ),
            ));
        }
        if let Some(own) = actions.filter(|_| action_pack == pack)
            && !own.iter().any(|a| a == action)
        {
            let hint = drover_text::closest(action, own.iter().map(String::as_str))
                .map(|c| format!("; did you mean {pack}.{c}?"))
                .unwrap_or_default();
            return Err(invalid(
                &["resource_ref"],
                format!("pack {pack} has no action {action:?}{hint}"),
            ));
        }
        let p = &raw.parameters;
        let set = |names: &[&str]| -> Vec<&str> {
            let present = [
                ("threshold", p.threshold.is_some()),
                ("action", p.action.is_some()),
                ("semaphore", p.semaphore.is_some()),
                ("key", p.key.is_some()),
                ("attributes", p.attributes.is_some()),
                ("retry_on", p.retry_on.is_some()),
                ("max_retry_count", p.max_retry_count.is_some()),
                ("delay", p.delay.is_some()),
            ];
            present
                .iter()
                .filter(|(n, there)| *there && names.contains(n))
                .map(|(n, _)| *n)
                .collect()
        };
        let kind = match raw.policy_type.as_str() {
            t @ ("action.concurrency" | "action.concurrency.attr") => {
                if let Some(f) = set(&RETRY_FIELDS).first() {
                    return Err(invalid(
                        &["parameters", f],
                        format!("{f} belongs to action.retry policies, not {t}"),
                    ));
                }
                let threshold = match p.threshold {
                    Some(n) if (1..=100_000).contains(&n) => n as u32,
                    Some(n) => {
                        return Err(invalid(
                            &["parameters", "threshold"],
                            format!("{n} is out of range: give 1 to 100000 running at once"),
                        ));
                    }
                    None => {
                        return Err(invalid(
                            &["parameters"],
                            "a concurrency policy needs `threshold:` (how many may run at once)"
                                .into(),
                        ));
                    }
                };
                let cancel = match p.action.as_deref() {
                    None | Some("delay") => false,
                    Some("cancel") => true,
                    Some(other) => {
                        return Err(invalid(
                            &["parameters", "action"],
                            format!(
                                "unknown action {other:?}: write delay (wait in the queue) or \
                                 cancel (close as canceled)"
                            ),
                        ));
                    }
                };
                let key = match (&p.key, &p.attributes, t) {
                    (Some(_), Some(_), _) => {
                        return Err(invalid(
                            &["parameters", "attributes"],
                            "give either key (a template) or attributes (parameter names), not both"
                                .into(),
                        ));
                    }
                    (Some(k), None, _) => Some(k.clone()),
                    (None, Some(attrs), _) if !attrs.is_empty() => Some(
                        attrs
                            .iter()
                            .map(|a| format!("{{{{ {a} | tojson }}}}"))
                            .collect::<Vec<_>>()
                            .join("/"),
                    ),
                    (None, _, "action.concurrency.attr") => {
                        return Err(invalid(
                            &["parameters"],
                            "action.concurrency.attr needs `attributes:` (the parameters to count by)"
                                .into(),
                        ));
                    }
                    (None, _, _) => None,
                };
                if let Some(k) = &key
                    && let Err(e) = environment().template_from_str(k)
                {
                    return Err(invalid(
                        &[
                            "parameters",
                            if p.key.is_some() { "key" } else { "attributes" },
                        ],
                        format!("not a valid template: {e}"),
                    ));
                }
                let semaphore = match &p.semaphore {
                    // In the pack's namespace: another pack naming the same
                    // semaphore gets its own.
                    Some(s) if !s.trim().is_empty() => format!("{pack}:{s}"),
                    Some(_) => {
                        return Err(invalid(
                            &["parameters", "semaphore"],
                            "the semaphore name is empty".into(),
                        ));
                    }
                    // st2: the count is per action.
                    None => raw.resource_ref.clone(),
                };
                PolicyKind::Concurrency {
                    threshold,
                    cancel,
                    semaphore,
                    key,
                }
            }
            "action.retry" => {
                if let Some(f) = set(&CONCURRENCY_FIELDS).first() {
                    return Err(invalid(
                        &["parameters", f],
                        format!("{f} belongs to concurrency policies, not action.retry"),
                    ));
                }
                let on = match &p.retry_on {
                    None => vec![ExecStatus::Failed],
                    Some(v) => {
                        let names = match v {
                            OneOrMany::One(s) => vec![s.clone()],
                            OneOrMany::Many(v) => v.clone(),
                        };
                        let mut on = Vec::new();
                        for n in names {
                            match n.as_str() {
                                "failure" => on.push(ExecStatus::Failed),
                                "timeout" => on.push(ExecStatus::Timeout),
                                other => {
                                    return Err(invalid(
                                        &["parameters", "retry_on"],
                                        format!(
                                            "unknown {other:?}: write failure, timeout or both \
                                             as a list"
                                        ),
                                    ));
                                }
                            }
                        }
                        on
                    }
                };
                let max_retries = match p.max_retry_count {
                    Some(n) if (1..=100).contains(&n) => n as u32,
                    Some(n) => {
                        return Err(invalid(
                            &["parameters", "max_retry_count"],
                            format!("{n} is out of range: give 1 to 100 retries"),
                        ));
                    }
                    None => {
                        return Err(invalid(
                            &["parameters"],
                            "a retry policy needs `max_retry_count:` (retries after the first run)"
                                .into(),
                        ));
                    }
                };
                let delay_ms = match &p.delay {
                    None => 0,
                    Some(Delay::Seconds(s)) if s.is_finite() && (0.0..=86_400.0).contains(s) => {
                        (s * 1000.0) as i64
                    }
                    Some(Delay::Text(t)) => match humantime::parse_duration(t) {
                        Ok(d) if d.as_secs() <= 86_400 => d.as_millis() as i64,
                        _ => {
                            return Err(invalid(
                                &["parameters", "delay"],
                                format!(
                                    "{t:?} is not a delay: give seconds (e.g. 5) or a duration \
                                     up to 24h (e.g. 500ms, 2m)"
                                ),
                            ));
                        }
                    },
                    Some(Delay::Seconds(s)) => {
                        return Err(invalid(
                            &["parameters", "delay"],
                            format!("{s} is out of range: give 0 to 86400 seconds"),
                        ));
                    }
                };
                PolicyKind::Retry(RetryRule {
                    on,
                    max_retries,
                    delay_ms,
                })
            }
            other => {
                let hint = drover_text::closest(other, TYPES)
                    .map(|c| format!("did you mean {c:?}? "))
                    .unwrap_or_default();
                return Err(invalid(
                    &["policy_type"],
                    format!(
                        "unknown policy type {other:?}: {hint}drover knows {}",
                        TYPES.join(", ")
                    ),
                ));
            }
        };
        Ok(Policy {
            reference: format!("{pack}.{}", raw.name),
            pack: pack.to_owned(),
            enabled: raw.enabled.unwrap_or(true),
            resource_ref: raw.resource_ref,
            kind,
        })
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`" in drover's words,
/// with a suggestion.
fn explain_unknown(message: &str) -> String {
    if !message.starts_with("unknown field `") {
        return message.to_owned();
    }
    let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let Some((given, valid)) = quoted.split_first() else {
        return message.to_owned();
    };
    let hint = drover_text::closest(given, valid.iter().copied())
        .map(|c| format!("; did you mean {c:?}?"))
        .unwrap_or_default();
    format!("unknown key {given:?}{hint} (valid: {})", valid.join(", "))
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(drover_rules::MAX_TEMPLATE_FUEL));
    env
}

/// A concurrency policy ready for the claim.
struct Concurrency {
    reference: String,
    /// Its pack is in shadow mode: it never touches a live execution.
    shadow: bool,
    threshold: u32,
    cancel: bool,
    semaphore: String,
    /// The key's template name in [`Policies::env`].
    key: Option<String>,
}

/// The enabled policies of the installed packs, by action.
#[derive(Default)]
pub struct Policies {
    env: Environment<'static>,
    concurrency: HashMap<String, Vec<Concurrency>>,
    /// The retry rule of each action, and whether its policy's pack is in
    /// shadow mode.
    retry: HashMap<String, (RetryRule, bool)>,
}

impl Policies {
    /// Indexes `policies` (already checked), all of trusted packs; the
    /// first retry policy of an action, by reference, wins.
    pub fn new(policies: Vec<Policy>) -> Policies {
        Policies::scoped(policies, |_| false)
    }

    /// [`Policies::new`], where `is_shadow(pack)` says which packs are in
    /// shadow mode: their policies apply to dry runs only. A policy naming
    /// another pack's action (stored before packs were held to their own)
    /// is ignored, with a warning.
    pub fn scoped(policies: Vec<Policy>, is_shadow: impl Fn(&str) -> bool) -> Policies {
        let mut out = Policies {
            env: environment(),
            ..Policies::default()
        };
        for p in policies.into_iter().filter(|p| p.enabled) {
            let operator = p.pack == OPERATOR;
            if !operator
                && p.resource_ref.split_once('.').map(|(pack, _)| pack) != Some(p.pack.as_str())
            {
                tracing::warn!(policy = %p.reference, action = %p.resource_ref,
                    "ignoring a policy on another pack's action: a pack governs only itself");
                continue;
            }
            let shadow = !operator && is_shadow(&p.pack);
            match p.kind {
                PolicyKind::Concurrency {
                    threshold,
                    cancel,
                    semaphore,
                    key,
                } => {
                    let key = key.and_then(|source| {
                        let name = p.reference.clone();
                        out.env
                            .add_template_owned(name.clone(), source)
                            .map(|()| name)
                            .map_err(
                                |e| tracing::warn!(policy = %p.reference, error = %e, "bad key"),
                            )
                            .ok()
                    });
                    out.concurrency
                        .entry(p.resource_ref)
                        .or_default()
                        .push(Concurrency {
                            reference: p.reference,
                            shadow,
                            threshold,
                            cancel,
                            semaphore,
                            key,
                        });
                }
                PolicyKind::Retry(rule) => {
                    if out.retry.contains_key(&p.resource_ref) {
                        tracing::warn!(policy = %p.reference, action = %p.resource_ref,
                            "ignoring a second retry policy for the same action");
                        continue;
                    }
                    out.retry.insert(p.resource_ref, (rule, shadow));
                }
            }
        }
        out
    }

    /// The retry rule of `action` for an execution (dry or live), if any:
    /// a shadow pack's retry policy never re-runs a live execution.
    pub fn retry(&self, action: &str, dry_run: bool) -> Option<RetryRule> {
        self.retry
            .get(action)
            .filter(|(_, shadow)| dry_run || !shadow)
            .map(|(rule, _)| rule.clone())
    }

    /// Whether any concurrency policy exists (the claim can skip the gate).
    pub fn has_concurrency(&self) -> bool {
        !self.concurrency.is_empty()
    }

    /// The semaphore slots `req` needs, or why it cannot run (a key that
    /// does not render). Dry runs need none: they have no effects to limit.
    pub fn slots(&self, req: &ExecutionRequest) -> Result<Vec<SlotNeed>, String> {
        if req.dry_run {
            return Ok(Vec::new());
        }
        let Some(list) = self.concurrency.get(&req.action) else {
            return Ok(Vec::new());
        };
        let mut needs: Vec<SlotNeed> = Vec::with_capacity(list.len());
        // A shadow pack's policy never holds up or cancels a live request.
        for c in list.iter().filter(|c| !c.shadow) {
            let key = match &c.key {
                None => String::new(),
                Some(name) => self
                    .env
                    .get_template(name)
                    .and_then(|t| t.render(minijinja::value::Serde(&req.parameters)))
                    .map_err(|e| {
                        format!(
                            "policy {}: cannot render its key from the parameters: {e}",
                            c.reference
                        )
                    })?,
            };
            // Two policies on one semaphore: one slot, the tighter limit.
            if let Some(n) = needs.iter_mut().find(|n| n.semaphore == c.semaphore) {
                if c.threshold < n.threshold {
                    n.threshold = c.threshold;
                    n.cancel = c.cancel;
                    n.policy = c.reference.clone();
                }
                continue;
            }
            needs.push(SlotNeed {
                semaphore: c.semaphore.clone(),
                key,
                threshold: c.threshold,
                cancel: c.cancel,
                policy: c.reference.clone(),
            });
        }
        Ok(needs)
    }
}

/// The claim's gate over `policies`.
pub(crate) fn gate(policies: Arc<Policies>) -> Gate {
    Box::new(move |req| policies.slots(req))
}

#[cfg(test)]
mod tests;
