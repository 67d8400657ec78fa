//! Side-by-side shadow reports: while a candidate (a shadowed new version
//! of a trusted pack) waits, the pipeline runs every trigger through its
//! rules too, as dry runs of that version, beside the live version's real
//! ones (see `drover_engine`'s rules stage). A report pairs, per trigger,
//! what the live version did with what the candidate planned (both read
//! from the pipeline's records, as [`crate::compare::RuleOutcome::live`]
//! reads them) and puts the triggers on which it would act differently
//! first; "acting differently" is [`crate::compare`]'s, the same as a
//! replay's.

use std::collections::BTreeMap;

use drover_core::Enforcement;
use drover_store::{Store, StoreError};
use serde::Serialize;

use crate::catalog::Installed;
use crate::compare::{COMPARED, Difference, RuleOutcome, compare};
use crate::trace::{execution_trace, node_of};

/// At most this many enforcements are read for one report.
const SCAN: u32 = 5_000;
/// At most this many triggers are compared in one report.
pub const MAX_TRIGGERS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ShadowError {
    #[error("no pack {0:?} is installed (see `drover pack list`)")]
    NotInstalled(String),
    #[error(
        "no candidate of {pack} waits in shadow mode (the live version is {live}); install a new version of the pack: it arrives shadowed and its rules run beside the live ones"
    )]
    NoCandidate { pack: String, live: String },
    #[error(
        "{pack}@{version} is not a candidate: {why} (installed: {installed}; see `drover pack list`)"
    )]
    NotACandidate {
        pack: String,
        version: String,
        why: String,
        installed: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a candidate would have done, beside what the live version did.
#[derive(Clone, Debug, Serialize)]
pub struct ShadowReport {
    pub pack: String,
    pub live_version: String,
    pub candidate_version: String,
    /// The report covers triggers from this time on (or the candidate's
    /// first one, if later).
    pub since_ms: i64,
    /// Triggers compared.
    pub triggers: usize,
    /// Of those, on which the candidate would act differently.
    pub differing: usize,
    /// Of those, whose runs have not all ended yet (not compared).
    pub running: usize,
    /// Planned or performed effects by capability: live, candidate.
    pub effects: BTreeMap<String, EffectCount>,
    /// More triggers matched than were compared.
    pub truncated: bool,
    /// What to keep in mind reading it.
    pub notes: Vec<String>,
    /// Per trigger: those that differ first, then newest first.
    pub items: Vec<Comparison>,
}

/// Calls of one capability on each side.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EffectCount {
    pub live: usize,
    pub candidate: usize,
}

/// One trigger, both sides.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub trigger_id: String,
    pub trigger_type: Option<String>,
    pub received_at_ms: Option<i64>,
    /// The payload's `node`, when it has one.
    pub node: Option<String>,
    pub differs: bool,
    /// A run on either side has not ended: compared when it has.
    pub running: bool,
    pub differences: Vec<Difference>,
    /// The differences in words, one line each.
    pub said: Vec<String>,
    pub live: Vec<RuleOutcome>,
    pub candidate: Vec<RuleOutcome>,
}

/// The candidate a report is about: `version`, or without one the pack's
/// waiting candidate; with the live version.
fn resolve(
    installed: &Installed,
    pack: &str,
    version: Option<&str>,
) -> Result<(String, String), ShadowError> {
    let live = installed
        .get(pack, None)
        .ok_or_else(|| ShadowError::NotInstalled(pack.to_owned()))?;
    let live_version = live.record.version.clone();
    let Some(version) = version else {
        return match installed.candidate(pack) {
            Some(c) => Ok((live_version, c.record.version.clone())),
            None => Err(ShadowError::NoCandidate {
                pack: pack.to_owned(),
                live: live_version,
            }),
        };
    };
    let not = |why: &str| ShadowError::NotACandidate {
        pack: pack.to_owned(),
        version: version.to_owned(),
        why: why.to_owned(),
        installed: installed
            .all()
            .iter()
            .filter(|v| v.record.name == pack)
            .map(|v| v.record.version.clone())
            .collect::<Vec<_>>()
            .join(", "),
    };
    match installed.get(pack, Some(version)) {
        None => Err(not("that version is not installed")),
        Some(v) if v.record.live => Err(not("it is the live version")),
        Some(v) if !v.record.shadow => Err(not(
            "it is trusted (not in shadow mode); a trusted version that is not live is not run beside the live one",
        )),
        Some(_) if live.record.shadow => Err(not(
            "the live version is itself in shadow mode, so its own rules run dry",
        )),
        Some(_) => Ok((live_version, version.to_owned())),
    }
}

/// The side-by-side report of `pack`'s candidate (`version`, or the one
/// waiting) since `since_ms`.
pub fn report(
    store: &Store,
    installed: &Installed,
    pack: &str,
    version: Option<&str>,
    since_ms: i64,
) -> Result<ShadowReport, ShadowError> {
    let (live_version, candidate_version) = resolve(installed, pack, version)?;
    let enforcements = store.shadow_enforcements(pack, &candidate_version, since_ms, SCAN)?;
    let mut truncated = enforcements.len() as u32 >= SCAN;
    // By trigger, newest first (the enforcements come newest first).
    let mut order: Vec<String> = Vec::new();
    let mut by_trigger: BTreeMap<String, Vec<Enforcement>> = BTreeMap::new();
    for e in enforcements {
        let list = by_trigger
            .entry(e.trigger_instance_id.clone())
            .or_insert_with(|| {
                order.push(e.trigger_instance_id.clone());
                Vec::new()
            });
        list.push(e);
    }
    if order.len() > MAX_TRIGGERS {
        order.truncate(MAX_TRIGGERS);
        truncated = true;
    }
    let mut effects: BTreeMap<String, EffectCount> = BTreeMap::new();
    let mut items = Vec::with_capacity(order.len());
    for trigger_id in order {
        let mut list = by_trigger.remove(&trigger_id).unwrap_or_default();
        list.reverse();
        let (candidate, live): (Vec<_>, Vec<_>) =
            list.into_iter().partition(|e| e.candidate.is_some());
        let live = outcomes(store, live)?;
        let candidate = outcomes(store, candidate)?;
        for effect in live.iter().flat_map(|o| &o.effects) {
            effects.entry(effect.capability.clone()).or_default().live += 1;
        }
        for effect in candidate.iter().flat_map(|o| &o.effects) {
            effects
                .entry(effect.capability.clone())
                .or_default()
                .candidate += 1;
        }
        let running = live.iter().chain(&candidate).any(|o| {
            matches!(
                o.status.as_deref(),
                Some("requested" | "running" | "waiting" | "pending" | "paused")
            )
        });
        let differences = if running {
            Vec::new()
        } else {
            compare(&live, &candidate)
        };
        let trigger = store.get_trigger(&trigger_id)?;
        items.push(Comparison {
            node: trigger.as_ref().and_then(|t| node_of(&t.payload)),
            trigger_type: trigger.as_ref().map(|t| t.trigger_type.clone()),
            received_at_ms: trigger.map(|t| t.received_at_ms),
            trigger_id,
            differs: !differences.is_empty(),
            running,
            said: differences.iter().map(ToString::to_string).collect(),
            differences,
            live,
            candidate,
        });
    }
    // Stable: newest first within each group.
    items.sort_by_key(|c| !c.differs);
    let mut notes = vec![format!(
        "Effects compared: {}, with whether the grants allow them; the fleet's brake and \
         budgets answer each request at its own moment and are not compared.",
        COMPARED.join(", ")
    )];
    if items
        .iter()
        .flat_map(|c| &c.candidate)
        .flat_map(|o| &o.effects)
        .any(|e| e.capability == "command")
    {
        notes.push(
            "A dry run does not run commands on real nodes: the candidate's steps after a \
             command saw exit code 0 and no output (a simulated node answers as it would)."
                .to_owned(),
        );
    }
    Ok(ShadowReport {
        pack: pack.to_owned(),
        live_version,
        candidate_version,
        since_ms,
        triggers: items.len(),
        differing: items.iter().filter(|c| c.differs).count(),
        running: items.iter().filter(|c| c.running).count(),
        effects,
        truncated,
        notes,
        items,
    })
}

/// Each enforcement with its execution, as the pipeline recorded it.
fn outcomes(store: &Store, list: Vec<Enforcement>) -> Result<Vec<RuleOutcome>, StoreError> {
    list.iter()
        .map(|e| {
            let run = match e.execution_id {
                Some(id) => execution_trace(store, id)?,
                None => None,
            };
            Ok(RuleOutcome::live(e, run.as_ref()))
        })
        .collect()
}
