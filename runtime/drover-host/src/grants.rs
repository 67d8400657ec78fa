//! The grant check made on every host call that needs one.
//!
//! A use is allowed only when (1) the plugin's manifest declared the
//! capability, (2) the use needs no grant ([`grant_needed`]), or an
//! unrevoked grant to this pack version covers it, (3) that grant was
//! given for the very component digest now running, and (4) the target is
//! inside the grant's scope. Every refusal says which of these failed and
//! what to do.

use drover_core::{Decision, Grant};
use drover_policy::{Capability, Scope, Target};

/// A decision and the reason an operator reads in the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub decision: Decision,
    pub reason: String,
    /// The grant that allowed it, when one did.
    pub grant: Option<String>,
}

impl Check {
    fn allow(reason: String) -> Check {
        Check {
            decision: Decision::Allowed,
            reason,
            grant: None,
        }
    }

    pub(crate) fn deny(reason: String) -> Check {
        Check {
            decision: Decision::Denied,
            reason,
            grant: None,
        }
    }

    pub fn allowed(&self) -> bool {
        self.decision == Decision::Allowed
    }
}

/// Does this use need a grant? Every use of a capability that
/// [needs one](Capability::needs_grant), and a `kv` access to a scope
/// other than the pack's own ([`Target::Kv`]; its own keys are
/// [`Target::Name`]).
pub fn grant_needed(cap: Capability, target: &Target<'_>) -> bool {
    cap.needs_grant() || matches!(target, Target::Kv { .. })
}

/// The active grants of one pack version, scopes parsed once per call.
pub struct GrantSet {
    pack_ref: String,
    grants: Vec<(Grant, Capability, Scope)>,
    /// False when the executor skipped reading them (no declared
    /// capability needs a grant); a `kv` access to another scope reads
    /// them then ([`GrantSet::is_loaded`]).
    loaded: bool,
}

impl GrantSet {
    /// A set whose grants were not read; [`GrantSet::check`] must not be
    /// asked about a use that [needs a grant](grant_needed) before they are.
    pub fn unloaded(pack: &str, version: &str) -> GrantSet {
        let mut set = GrantSet::new(pack, version, Vec::new());
        set.loaded = false;
        set
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    pub fn new(pack: &str, version: &str, grants: Vec<Grant>) -> GrantSet {
        let grants = grants
            .into_iter()
            .filter_map(|g| {
                let cap: Capability = g.capability.parse().ok()?;
                match Scope::parse_stored(cap, &g.scope) {
                    Ok(scope) => Some((g, cap, scope)),
                    Err(e) => {
                        tracing::warn!(grant = %g.id, error = %e, "ignoring a grant whose scope no longer parses");
                        None
                    }
                }
            })
            .collect();
        GrantSet {
            pack_ref: format!("{pack}@{version}"),
            grants,
            loaded: true,
        }
    }

    /// Decides one use of `cap` on `target` by `plugin` running `digest`.
    ///
    /// The grants are looked at only for a declared capability that needs
    /// one: the executor relies on this to skip loading them for plugins
    /// that declare no such capability.
    pub fn check(
        &self,
        declared: &[Capability],
        plugin: &str,
        digest: &str,
        cap: Capability,
        target: &Target<'_>,
        target_text: &str,
    ) -> Check {
        if !declared.contains(&cap) {
            return Check::deny(format!(
                "{plugin} does not declare {cap} in its pack.yaml capabilities"
            ));
        }
        if !grant_needed(cap, target) {
            return Check::allow(format!("{cap} needs no grant"));
        }
        debug_assert!(self.loaded, "grants consulted before they were read");
        let of_cap: Vec<_> = self.grants.iter().filter(|(_, c, _)| *c == cap).collect();
        if of_cap.is_empty() {
            return Check::deny(format!(
                "no grant of {cap} to {pack}; an admin can run: drover grant add {pack} {cap} --scope '{scope}'",
                pack = self.pack_ref,
                scope = example_scope(target),
            ));
        }
        let for_this_build: Vec<_> = of_cap
            .iter()
            .filter(|(g, _, _)| g.digests.get(plugin).map(String::as_str) == Some(digest))
            .collect();
        if for_this_build.is_empty() {
            let ids: Vec<_> = of_cap.iter().map(|(g, _, _)| g.id.to_string()).collect();
            return Check::deny(format!(
                "the grant{s} of {cap} to {pack} ({ids}) {were} given for another build of {plugin}; \
                 this build is {digest}: review it and grant again",
                s = if ids.len() > 1 { "s" } else { "" },
                were = if ids.len() > 1 { "were" } else { "was" },
                pack = self.pack_ref,
                ids = ids.join(", "),
            ));
        }
        match for_this_build.iter().find(|(_, _, s)| s.allows(target)) {
            Some((g, _, s)) => Check {
                grant: Some(g.id.to_string()),
                ..Check::allow(format!("grant {} (scope '{s}')", g.id))
            },
            None => {
                let scopes: Vec<_> = for_this_build
                    .iter()
                    .map(|(g, _, s)| match s.problem() {
                        Some(why) => format!("'{s}' (grant {}: {why})", g.id),
                        None => format!("'{s}' (grant {})", g.id),
                    })
                    .collect();
                let what = match target {
                    Target::Kv { write: true, .. } => format!("writing {target_text}"),
                    Target::Kv { write: false, .. } => format!("reading {target_text}"),
                    _ => target_text.to_owned(),
                };
                Check::deny(format!(
                    "{what} is outside the granted scope of {cap}: {}",
                    scopes.join(", ")
                ))
            }
        }
    }
}

impl GrantSet {
    /// Does a grant of `cap` for this build of `plugin` name `ip` by
    /// address or network, for `target` (whose host resolved to `ip`)? See
    /// [`Scope::names_address`]: what a special-use address needs.
    pub fn names_address(
        &self,
        plugin: &str,
        digest: &str,
        cap: Capability,
        target: &Target<'_>,
        ip: std::net::IpAddr,
    ) -> bool {
        self.grants.iter().any(|(g, c, s)| {
            *c == cap
                && g.digests.get(plugin).map(String::as_str) == Some(digest)
                && s.names_address(target, ip)
        })
    }
}

/// A scope that would cover `target`, for the hint in a refusal.
fn example_scope(target: &Target<'_>) -> String {
    match target {
        Target::Node { name, labels } => match labels.get("rack") {
            Some(rack) => format!("rack={rack}"),
            None => format!("name={name}"),
        },
        Target::Url { host, port, .. } => format!("{host}:{port}"),
        Target::Host { host, .. } => (*host).to_owned(),
        Target::Name(name) => (*name).to_owned(),
        Target::Command { name, labels, argv } => {
            let nodes = match labels.get("rack") {
                Some(rack) => format!("rack={rack}"),
                None => format!("name={name}"),
            };
            format!("{nodes}: {}", argv.join(" "))
        }
        Target::Kv { scope, key, write } => {
            let access = if *write { "write " } else { "" };
            format!("{access}{scope}:{key}")
        }
        Target::Nats(subject) => format!("nats:{subject}"),
        Target::Webhook(name) => format!("webhook:{name}"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use drover_core::GrantId;

    use super::*;

    fn grant(cap: &str, scope: &str, digest: &str) -> Grant {
        Grant {
            id: GrantId::new(),
            pack: "demo".into(),
            version: "0.1.0".into(),
            capability: cap.into(),
            scope: scope.into(),
            digests: BTreeMap::from([("reboot_node".into(), digest.into())]),
            created_at_ms: 0,
            created_by: "test".into(),
            revoked_at_ms: None,
        }
    }

    fn node_check(set: &GrantSet, digest: &str, name: &str, rack: &str) -> Check {
        let labels = BTreeMap::from([("rack".to_string(), rack.to_string())]);
        set.check(
            &[Capability::NodesReboot, Capability::Log],
            "reboot_node",
            digest,
            Capability::NodesReboot,
            &Target::Node {
                name,
                labels: &labels,
            },
            name,
        )
    }

    #[test]
    fn no_grant_is_denied_with_the_command_to_fix_it() {
        let set = GrantSet::new("demo", "0.1.0", vec![]);
        let c = node_check(&set, "sha256:a", "n001", "r01");
        assert!(!c.allowed());
        assert!(
            c.reason
                .contains("drover grant add demo@0.1.0 nodes.reboot"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn scope_and_digest_decide() {
        let set = GrantSet::new(
            "demo",
            "0.1.0",
            vec![grant("nodes.reboot", "rack=r01", "sha256:a")],
        );
        assert!(node_check(&set, "sha256:a", "n001", "r01").allowed());
        let out = node_check(&set, "sha256:a", "n900", "r23");
        assert!(!out.allowed());
        assert!(
            out.reason.contains("outside the granted scope"),
            "{}",
            out.reason
        );
        let rebuilt = node_check(&set, "sha256:b", "n001", "r01");
        assert!(!rebuilt.allowed());
        assert!(
            rebuilt.reason.contains("another build"),
            "{}",
            rebuilt.reason
        );
    }

    #[test]
    fn undeclared_capabilities_are_denied_even_when_granted() {
        let set = GrantSet::new("demo", "0.1.0", vec![grant("nodes.drain", "*", "sha256:a")]);
        let labels = BTreeMap::new();
        let c = set.check(
            &[Capability::NodesReboot],
            "reboot_node",
            "sha256:a",
            Capability::NodesDrain,
            &Target::Node {
                name: "n001",
                labels: &labels,
            },
            "n001",
        );
        assert!(!c.allowed());
        assert!(
            c.reason.contains("does not declare nodes.drain"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn command_grants_check_the_node_and_the_argv() {
        let set = GrantSet::new(
            "demo",
            "0.1.0",
            vec![grant("command", "rack=r01: uptime", "sha256:a")],
        );
        let argv = vec!["uptime".to_string()];
        let run = |name: &str, rack: &str| {
            let labels = BTreeMap::from([("rack".to_string(), rack.to_string())]);
            set.check(
                &[Capability::Command],
                "reboot_node",
                "sha256:a",
                Capability::Command,
                &Target::Command {
                    name,
                    labels: &labels,
                    argv: &argv,
                },
                &format!("{name}: uptime"),
            )
        };
        assert!(run("n001", "r01").allowed());
        let out = run("n900", "r23");
        assert!(!out.allowed());
        assert!(
            out.reason.contains("outside the granted scope"),
            "{}",
            out.reason
        );
    }

    #[test]
    fn stored_command_grants_without_nodes_cover_no_node_and_say_why() {
        let set = GrantSet::new(
            "demo",
            "0.1.0",
            vec![grant("command", "uptime", "sha256:a")],
        );
        let argv = vec!["uptime".to_string()];
        let labels = BTreeMap::new();
        let c = set.check(
            &[Capability::Command],
            "reboot_node",
            "sha256:a",
            Capability::Command,
            &Target::Command {
                name: "n001",
                labels: &labels,
                argv: &argv,
            },
            "n001: uptime",
        );
        assert!(!c.allowed());
        assert!(c.reason.contains("matches no node"), "{}", c.reason);
    }

    #[test]
    fn kv_needs_a_grant_only_outside_the_pack_scope() {
        let system = drover_policy::KvScope::System;
        let foreign = |write| Target::Kv {
            scope: &system,
            key: "maintenance.b7s01",
            write,
        };
        assert!(!grant_needed(Capability::Kv, &Target::Name("k")));
        assert!(grant_needed(Capability::Kv, &foreign(false)));

        let none = GrantSet::new("demo", "0.1.0", vec![]);
        let c = none.check(
            &[Capability::Kv],
            "reboot_node",
            "sha256:a",
            Capability::Kv,
            &foreign(true),
            "system:maintenance.b7s01",
        );
        assert!(!c.allowed());
        assert!(
            c.reason.contains(
                "drover grant add demo@0.1.0 kv --scope 'write system:maintenance.b7s01'"
            ),
            "{}",
            c.reason
        );

        let read = GrantSet::new(
            "demo",
            "0.1.0",
            vec![grant("kv", "system:maintenance.*", "sha256:a")],
        );
        let check = |write| {
            read.check(
                &[Capability::Kv],
                "reboot_node",
                "sha256:a",
                Capability::Kv,
                &foreign(write),
                "system:maintenance.b7s01",
            )
        };
        assert!(check(false).allowed());
        assert!(!check(true).allowed());
    }

    #[test]
    fn capabilities_without_grants_are_allowed_when_declared() {
        let set = GrantSet::new("demo", "0.1.0", vec![]);
        let c = set.check(
            &[Capability::Kv],
            "p",
            "sha256:a",
            Capability::Kv,
            &Target::Name("k"),
            "k",
        );
        assert!(c.allowed());
    }
}
