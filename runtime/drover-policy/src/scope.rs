//! Grant scopes: what part of a capability a grant covers, and the check
//! of one call's target against it.
//!
//! | Scope kind | Capabilities          | Grammar                                   | Example                                  |
//! | ---------- | --------------------- | ----------------------------------------- | ---------------------------------------- |
//! | none       | `log`, `wasi:*`       | `*` or empty                              | `*`                                      |
//! | kv         | `kv`                  | [kv entries](crate::kv)                   | `system:maintenance.*`                   |
//! | labels     | `nodes.*`             | [label selector](crate::selector)         | `rack=r01,role in (compute,gpu)`         |
//! | hosts      | `http`, `probe`       | [host list](crate::hosts)                 | `bmc.example.com,*.mgmt.example.com:443` |
//! | names      | `secrets`             | [name list](crate::names)                 | `redfish.password,ipmi.*`                |
//! | argv       | `command`             | [nodes: argv patterns](crate::command)    | `rack=r01: uptime; systemctl restart slurmd` |
//! | subscriptions | `subscribe`         | [subscriptions](crate::subscriptions)     | `nats:batch.health,webhook:health`       |
//!
//! `*` alone means [`Scope::Any`] for every kind but subscriptions, where
//! it is the NATS one-token wildcard: reading every subject takes an
//! explicit `nats:>`. An empty scope is the same
//! as `*` only for kind none; every other kind refuses it, so a grant never
//! covers everything without saying so. `probe` host lists may not pin a
//! scheme. A `kv` grant is only needed for scopes other than the pack's
//! own (`pack:NAME`), which needs none.

use std::collections::BTreeMap;
use std::fmt;

use crate::{
    Capability, CommandScope, HostList, KvGrant, KvScope, NameList, PolicyError, ScopeKind,
    Selector, SubscriptionList,
};

/// A parsed grant scope. [`Display`](fmt::Display) gives back a canonical
/// text that [`Scope::parse`] turns into an equal scope; store that text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `*`: every target.
    Any,
    /// `nodes.*`: the nodes a label selector matches.
    Labels(Selector),
    /// `http`, `probe`: the hosts a host list matches.
    Hosts(HostList),
    /// `secrets`: the names a name list matches.
    Names(NameList),
    /// `command`: the nodes a selector matches and the argvs an argv
    /// pattern list matches there.
    Command(CommandScope),
    /// `kv`: keys of scopes other than the pack's own, read or written.
    Kv(KvGrant),
    /// `subscribe`: the NATS subjects and webhooks a list covers.
    Subscriptions(SubscriptionList),
}

/// What one host call wants to touch, checked against a grant's scope.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A node, for `nodes.*`.
    Node {
        name: &'a str,
        labels: &'a BTreeMap<String, String>,
    },
    /// An `http` request. `port` is the effective port: the caller fills in
    /// 80 or 443 when the URL has none.
    Url {
        scheme: &'a str,
        host: &'a str,
        port: u16,
    },
    /// A `probe` target: `port` is `None` for a ping.
    Host { host: &'a str, port: Option<u16> },
    /// A secret name.
    Name(&'a str),
    /// A `command`: the argv and the node it runs on.
    Command {
        name: &'a str,
        labels: &'a BTreeMap<String, String>,
        argv: &'a [String],
    },
    /// A `kv` access to `key` of `scope`; `write` for set and delete.
    Kv {
        scope: &'a KvScope,
        key: &'a str,
        write: bool,
    },
    /// A sensor's NATS subscription: its subject (wildcards allowed).
    Nats(&'a str),
    /// A sensor's webhook subscription: its name.
    Webhook(&'a str),
}

impl Scope {
    /// Parses the scope of a grant of `capability`. Surrounding whitespace
    /// is ignored; `*` is [`Scope::Any`] for every capability; an empty
    /// text is `Any` for capabilities without a scope and an error for the
    /// others.
    pub fn parse(capability: Capability, text: &str) -> Result<Scope, PolicyError> {
        let text = text.trim();
        let kind = capability.scope_kind();
        if kind == ScopeKind::Subscriptions {
            // No `*` shortcut: it is a NATS wildcard here (see above).
            if text.is_empty() {
                return Err(PolicyError::MissingScope { capability });
            }
            return SubscriptionList::parse(text).map(Scope::Subscriptions);
        }
        if text == "*" {
            return Ok(Scope::Any);
        }
        if text.is_empty() {
            return match kind {
                ScopeKind::None => Ok(Scope::Any),
                _ => Err(PolicyError::MissingScope { capability }),
            };
        }
        match kind {
            ScopeKind::None => Err(PolicyError::UnexpectedScope {
                capability,
                text: text.to_owned(),
            }),
            ScopeKind::Labels => Selector::parse(text).map(Scope::Labels),
            ScopeKind::Hosts if capability == Capability::Probe => {
                HostList::parse_without_scheme(text).map(Scope::Hosts)
            }
            ScopeKind::Hosts => HostList::parse(text).map(Scope::Hosts),
            ScopeKind::Names => NameList::parse(text).map(Scope::Names),
            ScopeKind::Argv => CommandScope::parse(text).map(Scope::Command),
            ScopeKind::Kv => KvGrant::parse(text).map(Scope::Kv),
            ScopeKind::Subscriptions => unreachable!("parsed above"),
        }
    }

    /// Parses the scope of a stored grant: [`Scope::parse`], except that a
    /// `command` scope written before scopes named nodes (argv patterns
    /// alone) loads as a scope that covers no node, which
    /// [`Scope::problem`] explains.
    pub fn parse_stored(capability: Capability, text: &str) -> Result<Scope, PolicyError> {
        match Scope::parse(capability, text) {
            Err(e) if capability == Capability::Command => {
                CommandScope::parse_unstated(text.trim())
                    .map(Scope::Command)
                    .map_err(|_| e)
            }
            other => other,
        }
    }

    /// Why a stored scope covers less than it seems to (a `command` grant
    /// without a node part), for `drover grant list`.
    pub fn problem(&self) -> Option<String> {
        match self {
            Scope::Command(c) => c.problem(),
            _ => None,
        }
    }

    /// Does this scope cover `target`? A target of another kind than the
    /// scope (a URL against a label selector) is never covered, except by
    /// [`Scope::Any`].
    pub fn allows(&self, target: &Target<'_>) -> bool {
        match (self, *target) {
            (Scope::Any, _) => true,
            (Scope::Labels(selector), Target::Node { name, labels }) => {
                selector.matches(name, labels)
            }
            (Scope::Hosts(hosts), Target::Url { scheme, host, port }) => {
                hosts.allows_url(scheme, host, port)
            }
            (Scope::Hosts(hosts), Target::Host { host, port }) => hosts.allows_host(host, port),
            (Scope::Names(names), Target::Name(name)) => names.matches(name),
            (Scope::Command(c), Target::Command { name, labels, argv }) => {
                c.allows(name, labels, argv)
            }
            (Scope::Kv(kv), Target::Kv { scope, key, write }) => kv.allows(scope, key, write),
            (Scope::Subscriptions(list), Target::Nats(subject)) => list.allows_nats(subject),
            (Scope::Subscriptions(list), Target::Webhook(name)) => list.allows_webhook(name),
            (
                Scope::Labels(_)
                | Scope::Hosts(_)
                | Scope::Names(_)
                | Scope::Command(_)
                | Scope::Kv(_)
                | Scope::Subscriptions(_),
                _,
            ) => false,
        }
    }

    /// Does this scope name the address `ip` explicitly, for `target` (a
    /// URL or probe target whose host resolved to `ip`)? Only an address
    /// or network entry of a host list does; `*`, names and wildcards never
    /// do. A [`special_use`](crate::hosts::special_use) address is reached
    /// only when this holds.
    pub fn names_address(&self, target: &Target<'_>, ip: std::net::IpAddr) -> bool {
        match (self, *target) {
            (Scope::Hosts(hosts), Target::Url { scheme, port, .. }) => {
                hosts.names_address(Some(scheme), ip, Some(port))
            }
            (Scope::Hosts(hosts), Target::Host { port, .. }) => hosts.names_address(None, ip, port),
            _ => false,
        }
    }

    /// Is this `*`?
    pub fn is_any(&self) -> bool {
        matches!(self, Scope::Any)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Any => f.write_str("*"),
            Scope::Labels(selector) => selector.fmt(f),
            Scope::Hosts(hosts) => hosts.fmt(f),
            Scope::Names(names) => names.fmt(f),
            Scope::Command(c) => c.fmt(f),
            Scope::Kv(kv) => kv.fmt(f),
            Scope::Subscriptions(list) => list.fmt(f),
        }
    }
}

/// One line, with an example, on how to write a scope of `kind`; for the
/// CLI's help and for [`PolicyError::MissingScope`].
pub fn scope_help(kind: ScopeKind) -> &'static str {
    match kind {
        ScopeKind::None => "no scope: write `*` or leave it empty",
        ScopeKind::Labels => {
            "a label selector, comma = and: `rack=r01,role in (compute,gpu),!maintenance` \
             (`name=n001` matches the node name); `*` for every node"
        }
        ScopeKind::Hosts => {
            "hosts, comma-separated: `bmc.example.com,*.mgmt.example.com:443,10.0.0.5,[fd00::5],10.0.0.0/8` \
             (http may pin a scheme: `https://api.example.com`); `*` for any host. Loopback, \
             private and link-local addresses only by address or network, never through a name"
        }
        ScopeKind::Names => {
            "names, comma-separated, a trailing `*` for a prefix: `redfish.password,ipmi.*`; \
             `*` for every name"
        }
        ScopeKind::Argv => {
            "nodes then commands, `NODES: COMMANDS`: a label selector, then argv patterns \
             separated by `;` (`*` for one word, a final `**` for the rest): \
             `rack=r01: uptime; systemctl restart slurmd; journalctl -u * **`; \
             `*` for every node or every command"
        }
        ScopeKind::Kv => {
            "scopes other than the pack's own, `[read|write] SCOPE:KEYS`, comma-separated: \
             `system:maintenance.*, write pack:inventory:hosts` (read is the default); \
             `*` for every scope"
        }
        ScopeKind::Subscriptions => {
            "subjects and webhooks, comma-separated: `nats:batch.health,webhook:health` \
             (`nats:batch.*` one token, `nats:batch.>` the rest); every subject only with `nats:>`"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [ScopeKind; 7] = [
        ScopeKind::None,
        ScopeKind::Kv,
        ScopeKind::Labels,
        ScopeKind::Hosts,
        ScopeKind::Names,
        ScopeKind::Argv,
        ScopeKind::Subscriptions,
    ];

    fn node_labels() -> BTreeMap<String, String> {
        [("rack", "r01"), ("role", "compute")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn star_is_any_for_every_capability_but_subscribe() {
        assert_ne!(Scope::parse(Capability::Subscribe, "*"), Ok(Scope::Any));
        assert!(
            !Scope::parse(Capability::Subscribe, "*")
                .unwrap()
                .allows(&Target::Nats(">"))
        );
        for capability in Capability::ALL {
            if capability == Capability::Subscribe {
                continue;
            }
            for text in ["*", " * ", "\t*\n"] {
                assert_eq!(
                    Scope::parse(capability, text),
                    Ok(Scope::Any),
                    "{capability}"
                );
            }
        }
    }

    #[test]
    fn empty_is_any_only_without_a_scope_kind() {
        for capability in Capability::ALL {
            for text in ["", "   "] {
                let parsed = Scope::parse(capability, text);
                if capability.scope_kind() == ScopeKind::None {
                    assert_eq!(parsed, Ok(Scope::Any), "{capability}");
                } else {
                    assert_eq!(
                        parsed,
                        Err(PolicyError::MissingScope { capability }),
                        "{capability}"
                    );
                }
            }
        }
    }

    #[test]
    fn kind_none_refuses_any_other_text() {
        for capability in [
            Capability::Log,
            Capability::WasiFilesystem,
            Capability::WasiSockets,
        ] {
            assert_eq!(
                Scope::parse(capability, " bucket-a "),
                Err(PolicyError::UnexpectedScope {
                    capability,
                    text: "bucket-a".into()
                })
            );
            assert!(Scope::parse(capability, "**").is_err());
        }
    }

    #[test]
    fn each_capability_parses_its_own_grammar() {
        let labels = Scope::parse(Capability::NodesReboot, "rack=r01").unwrap();
        assert!(matches!(labels, Scope::Labels(_)));
        for capability in [
            Capability::NodesRead,
            Capability::NodesDrain,
            Capability::NodesSetState,
        ] {
            assert_eq!(Scope::parse(capability, "rack=r01").unwrap(), labels);
        }
        assert!(matches!(
            Scope::parse(Capability::Http, "https://api.example.com"),
            Ok(Scope::Hosts(_))
        ));
        assert!(matches!(
            Scope::parse(Capability::Probe, "n001:22"),
            Ok(Scope::Hosts(_))
        ));
        assert!(matches!(
            Scope::parse(Capability::Secrets, "redfish.*"),
            Ok(Scope::Names(_))
        ));
        assert!(matches!(
            Scope::parse(Capability::Command, "rack=r01: uptime"),
            Ok(Scope::Command(_))
        ));
        assert!(matches!(
            Scope::parse(Capability::Kv, "system:maintenance.*"),
            Ok(Scope::Kv(_))
        ));
    }

    #[test]
    fn errors_come_from_the_capability_grammar() {
        let cases = [
            (Capability::NodesReboot, "rack r01", ScopeKind::Labels),
            (Capability::Http, "*foo", ScopeKind::Hosts),
            (Capability::Probe, "https://bmc", ScopeKind::Hosts),
            (Capability::Secrets, "red*fish", ScopeKind::Names),
            (Capability::Command, "*: cat ** x", ScopeKind::Argv),
            (Capability::Command, "uptime", ScopeKind::Argv),
            (Capability::Kv, "maintenance.*", ScopeKind::Kv),
            (Capability::Subscribe, "a..b", ScopeKind::Subscriptions),
            (Capability::Log, "x", ScopeKind::None),
        ];
        for (capability, text, kind) in cases {
            let err = Scope::parse(capability, text).unwrap_err();
            assert_eq!(err.scope_kind(), Some(kind), "{capability} {text:?}: {err}");
        }
        // The same text means different things to different capabilities.
        assert!(Scope::parse(Capability::Http, "rack=r01").is_err());
        assert!(Scope::parse(Capability::NodesReboot, "bmc:443").is_err());
        assert!(Scope::parse(Capability::Secrets, "uptime -p").is_err());
    }

    #[test]
    fn probe_refuses_a_scheme_but_http_takes_one() {
        assert!(Scope::parse(Capability::Http, "https://bmc").is_ok());
        assert_eq!(
            Scope::parse(Capability::Probe, "bmc, https://bmc:443"),
            Err(PolicyError::Host {
                entry: "https://bmc:443".into(),
                reason: "a probe has no scheme: write `host` or `host:port`".into(),
            })
        );
    }

    #[test]
    fn display_round_trips_for_every_capability() {
        let cases = [
            (Capability::Log, ""),
            (Capability::Kv, "*"),
            (Capability::Kv, " system:m.* ,write  user:a:k"),
            (
                Capability::NodesReboot,
                " rack == r01 , role in (gpu,compute) , !maint ",
            ),
            (Capability::NodesRead, "name notin (n2,n1),x!=y,z"),
            (
                Capability::Http,
                "HTTPS://API.example.com/, *.Example.org:8443, [::1]",
            ),
            (Capability::Probe, "n001:22, 10.0.0.5"),
            (Capability::Secrets, " b , a.* "),
            (
                Capability::Command,
                " rack = r01 : uptime ;journalctl  -u * ** ",
            ),
            (Capability::WasiSockets, " * "),
            (
                Capability::Subscribe,
                " batch.health , webhook:health,nats:x.> ",
            ),
        ];
        for (capability, text) in cases {
            let scope = Scope::parse(capability, text).unwrap();
            let canonical = scope.to_string();
            assert_eq!(
                Scope::parse(capability, &canonical),
                Ok(scope.clone()),
                "{text:?}"
            );
            assert_eq!(canonical.trim(), canonical, "{text:?}");
            assert_eq!(scope.to_string(), canonical, "{text:?}");
        }
        assert_eq!(
            Scope::parse(Capability::NodesReboot, "rack==r01, role in (gpu,compute)")
                .unwrap()
                .to_string(),
            "rack=r01,role in (compute,gpu)"
        );
        assert_eq!(Scope::Any.to_string(), "*");
    }

    #[test]
    fn allows_dispatches_on_the_target_kind() {
        let labels = node_labels();
        let node = Target::Node {
            name: "n001",
            labels: &labels,
        };
        let url = Target::Url {
            scheme: "https",
            host: "bmc.example.com",
            port: 443,
        };
        let host = Target::Host {
            host: "bmc.example.com",
            port: Some(623),
        };
        let name = Target::Name("redfish.password");
        let args = argv(&["uptime"]);
        let command = Target::Command {
            name: "n001",
            labels: &labels,
            argv: &args,
        };
        let system = KvScope::System;
        let kv = Target::Kv {
            scope: &system,
            key: "maintenance.n001",
            write: false,
        };
        let targets = [node, url, host, name, command, kv];

        let scopes = [
            Scope::parse(Capability::NodesReboot, "rack=r01").unwrap(),
            Scope::parse(Capability::Http, "bmc.example.com").unwrap(),
            Scope::parse(Capability::Secrets, "redfish.*").unwrap(),
            Scope::parse(Capability::Command, "rack=r01: uptime").unwrap(),
            Scope::parse(Capability::Kv, "system:maintenance.*").unwrap(),
        ];
        // Which targets each scope allows: hosts cover both URL and probe
        // targets, every other scope only its own kind.
        let expected = [
            [true, false, false, false, false, false],
            [false, true, true, false, false, false],
            [false, false, false, true, false, false],
            [false, false, false, false, true, false],
            [false, false, false, false, false, true],
        ];
        for (scope, row) in scopes.iter().zip(expected) {
            for (target, allowed) in targets.iter().zip(row) {
                assert_eq!(scope.allows(target), allowed, "{scope} / {target:?}");
            }
        }
        for target in &targets {
            assert!(Scope::Any.allows(target), "{target:?}");
        }
    }

    #[test]
    fn allows_refuses_targets_outside_the_scope() {
        let labels = node_labels();
        let reboot = Scope::parse(Capability::NodesReboot, "rack=r02").unwrap();
        assert!(!reboot.allows(&Target::Node {
            name: "n001",
            labels: &labels
        }));
        let by_name = Scope::parse(Capability::NodesReboot, "name in (n001,n002)").unwrap();
        assert!(by_name.allows(&Target::Node {
            name: "n002",
            labels: &labels
        }));
        assert!(!by_name.allows(&Target::Node {
            name: "n003",
            labels: &labels
        }));

        let http = Scope::parse(Capability::Http, "https://*.example.com").unwrap();
        assert!(http.allows(&Target::Url {
            scheme: "https",
            host: "bmc.example.com",
            port: 443
        }));
        assert!(!http.allows(&Target::Url {
            scheme: "http",
            host: "bmc.example.com",
            port: 80
        }));
        assert!(!http.allows(&Target::Url {
            scheme: "https",
            host: "example.com",
            port: 443
        }));
        assert!(!http.allows(&Target::Host {
            host: "bmc.example.com",
            port: None
        }));

        let probe = Scope::parse(Capability::Probe, "n001:22").unwrap();
        assert!(probe.allows(&Target::Host {
            host: "n001",
            port: Some(22)
        }));
        assert!(!probe.allows(&Target::Host {
            host: "n001",
            port: None
        }));

        let secrets = Scope::parse(Capability::Secrets, "redfish.*").unwrap();
        assert!(!secrets.allows(&Target::Name("ipmi.password")));

        let command = Scope::parse(Capability::Command, "rack=r01: systemctl restart *").unwrap();
        let on = |name, labels, words: &[&str]| {
            let args = argv(words);
            command.allows(&Target::Command {
                name,
                labels,
                argv: &args,
            })
        };
        assert!(on("n001", &labels, &["systemctl", "restart", "slurmd"]));
        assert!(!on("n001", &labels, &["systemctl", "stop", "slurmd"]));
        assert!(!on("n001", &labels, &[]));
        let elsewhere = BTreeMap::from([("rack".to_owned(), "r02".to_owned())]);
        assert!(!on("n900", &elsewhere, &["systemctl", "restart", "slurmd"]));

        let kv = Scope::parse(Capability::Kv, "system:maintenance.*").unwrap();
        let system = KvScope::System;
        let read = |key, write| {
            kv.allows(&Target::Kv {
                scope: &system,
                key,
                write,
            })
        };
        assert!(read("maintenance.b7s01", false));
        assert!(!read("maintenance.b7s01", true));
        assert!(!read("other", false));
    }

    #[test]
    fn stored_command_grants_without_nodes_load_and_match_no_node() {
        assert!(Scope::parse(Capability::Command, "uptime").is_err());
        let legacy = Scope::parse_stored(Capability::Command, "uptime").unwrap();
        let labels = node_labels();
        let args = argv(&["uptime"]);
        assert!(!legacy.allows(&Target::Command {
            name: "n001",
            labels: &labels,
            argv: &args,
        }));
        assert!(legacy.problem().unwrap().contains("matches no node"));
        assert_eq!(legacy.to_string(), "uptime");
        let current = Scope::parse_stored(Capability::Command, "*: uptime").unwrap();
        assert!(current.problem().is_none());
        assert!(Scope::parse_stored(Capability::Command, "cat /x*").is_err());
        assert!(Scope::parse_stored(Capability::Http, "rack=r01").is_err());
    }

    #[test]
    fn is_any() {
        assert!(Scope::Any.is_any());
        assert!(!Scope::parse(Capability::Secrets, "a").unwrap().is_any());
    }

    #[test]
    fn scope_help_is_one_line_with_an_example() {
        for kind in KINDS {
            let help = scope_help(kind);
            assert!(!help.contains('\n'), "{kind}");
            assert!(help.contains('`'), "{kind}: {help}");
            assert!(help.starts_with(|c: char| c.is_lowercase()), "{kind}");
        }
    }

    #[test]
    fn scope_help_examples_parse() {
        let examples = [
            (
                Capability::NodesReboot,
                "rack=r01,role in (compute,gpu),!maintenance",
            ),
            (
                Capability::Http,
                "bmc.example.com,*.mgmt.example.com:443,10.0.0.5,[fd00::5]",
            ),
            (
                Capability::Probe,
                "bmc.example.com,*.mgmt.example.com:443,10.0.0.5,[fd00::5]",
            ),
            (Capability::Http, "https://api.example.com"),
            (Capability::Secrets, "redfish.password,ipmi.*"),
            (
                Capability::Command,
                "rack=r01: uptime; systemctl restart slurmd; journalctl -u * **",
            ),
            (Capability::Kv, "system:maintenance.*"),
            (Capability::Subscribe, "nats:batch.health,webhook:health"),
        ];
        for (capability, example) in examples {
            assert!(
                scope_help(capability.scope_kind()).contains(example),
                "{capability}: {example}"
            );
            let scope = Scope::parse(capability, example).unwrap();
            assert_eq!(scope.to_string(), example, "{capability}");
        }
    }
}
