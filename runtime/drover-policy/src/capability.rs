//! The capabilities a plugin can ask for, and the install-time check that a
//! component imports nothing its manifest did not declare.
//!
//! | Capability        | Import it allows        | Needs a grant | Scope grammar     |
//! | ----------------- | ----------------------- | ------------- | ----------------- |
//! | `log`             | `drover:plugin/log`     | no            | none              |
//! | `kv`              | `drover:plugin/kv`      | other scopes  | kv                |
//! | `secrets`         | `drover:plugin/secrets` | yes           | names             |
//! | `http`            | `drover:plugin/http`    | yes           | hosts             |
//! | `probe`           | `drover:plugin/probe`   | yes           | hosts (no scheme) |
//! | `command`         | `drover:plugin/command` | yes           | argv              |
//! | `nodes.read`      | `drover:plugin/nodes`   | no            | labels            |
//! | `nodes.reboot`    | `drover:plugin/nodes`   | yes           | labels            |
//! | `nodes.drain`     | `drover:plugin/nodes`   | yes           | labels            |
//! | `nodes.set-state` | `drover:plugin/nodes`   | yes           | labels            |
//! | `nodes.health`    | `drover:plugin/nodes`   | yes           | labels            |
//! | `wasi:filesystem` | any `wasi:filesystem/*` | no            | none              |
//! | `wasi:sockets`    | any `wasi:sockets/*`    | no            | none              |
//! | `subscribe`       | none (host-owned)       | yes           | subscriptions     |
//!
//! Always allowed, declared or not (the harmless WASI base): every interface
//! of `wasi:io`, `wasi:clocks` and `wasi:random`; `wasi:cli/` `environment`,
//! `exit`, `stdin`, `stdout`, `stderr`, `terminal-input`, `terminal-output`,
//! `terminal-stdin`, `terminal-stdout`, `terminal-stderr`; and
//! `drover:plugin/types`. Everything else, `wasi:http` included, is refused.
//! Declaring `wasi:filesystem` or `wasi:sockets` only lets a component that
//! imports them load: the sandbox still preopens no directory and opens no
//! socket.
//!
//! `subscribe` is not declared in `capabilities:`: a sensor's
//! `subscriptions:` (NATS subjects, webhooks) declare it, and the host opens
//! each only when a grant's scope covers it.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// Everything a plugin can ask for. [`Display`](fmt::Display),
/// [`FromStr`] and serde all use the canonical name ([`Capability::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Capability {
    #[serde(rename = "log")]
    Log,
    #[serde(rename = "kv")]
    Kv,
    #[serde(rename = "secrets")]
    Secrets,
    #[serde(rename = "http")]
    Http,
    #[serde(rename = "probe")]
    Probe,
    #[serde(rename = "command")]
    Command,
    #[serde(rename = "nodes.read")]
    NodesRead,
    #[serde(rename = "nodes.reboot")]
    NodesReboot,
    #[serde(rename = "nodes.drain")]
    NodesDrain,
    #[serde(rename = "nodes.set-state")]
    NodesSetState,
    #[serde(rename = "nodes.health")]
    NodesHealth,
    #[serde(rename = "wasi:filesystem")]
    WasiFilesystem,
    #[serde(rename = "wasi:sockets")]
    WasiSockets,
    #[serde(rename = "subscribe")]
    Subscribe,
}

/// Which scope grammar applies to grants of a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    /// No scope: the grant is all or nothing (`*`).
    None,
    /// A label selector over nodes, see [`crate::Selector`].
    Labels,
    /// A list of hosts, see [`crate::HostList`].
    Hosts,
    /// A list of names, see [`crate::NameList`].
    Names,
    /// Nodes and argv patterns, see [`crate::CommandScope`].
    Argv,
    /// A list of NATS subjects and webhook names, see
    /// [`crate::SubscriptionList`].
    Subscriptions,
    /// kv scopes and keys outside the pack's own, see [`crate::KvGrant`].
    Kv,
}

impl Capability {
    /// Every capability, in declaration order.
    pub const ALL: [Capability; 14] = [
        Capability::Log,
        Capability::Kv,
        Capability::Secrets,
        Capability::Http,
        Capability::Probe,
        Capability::Command,
        Capability::NodesRead,
        Capability::NodesReboot,
        Capability::NodesDrain,
        Capability::NodesSetState,
        Capability::NodesHealth,
        Capability::WasiFilesystem,
        Capability::WasiSockets,
        Capability::Subscribe,
    ];

    /// The canonical name, as written in manifests, grants and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Log => "log",
            Capability::Kv => "kv",
            Capability::Secrets => "secrets",
            Capability::Http => "http",
            Capability::Probe => "probe",
            Capability::Command => "command",
            Capability::NodesRead => "nodes.read",
            Capability::NodesReboot => "nodes.reboot",
            Capability::NodesDrain => "nodes.drain",
            Capability::NodesSetState => "nodes.set-state",
            Capability::NodesHealth => "nodes.health",
            Capability::WasiFilesystem => "wasi:filesystem",
            Capability::WasiSockets => "wasi:sockets",
            Capability::Subscribe => "subscribe",
        }
    }

    /// The component import this capability allows, without `@version`.
    ///
    /// A name with a `/` is one interface (`drover:plugin/log`); every
    /// `nodes.*` capability allows the one `drover:plugin/nodes` interface
    /// (the host checks the function called). A name without a `/` is a
    /// whole package (`wasi:filesystem`) and allows every interface in it.
    /// `subscribe` allows no import (the host owns subscriptions): its
    /// interface is the empty string, which no import matches.
    pub fn interface(self) -> &'static str {
        match self {
            Capability::Log => "drover:plugin/log",
            Capability::Kv => "drover:plugin/kv",
            Capability::Secrets => "drover:plugin/secrets",
            Capability::Http => "drover:plugin/http",
            Capability::Probe => "drover:plugin/probe",
            Capability::Command => "drover:plugin/command",
            Capability::NodesRead
            | Capability::NodesReboot
            | Capability::NodesDrain
            | Capability::NodesSetState
            | Capability::NodesHealth => "drover:plugin/nodes",
            Capability::WasiFilesystem => "wasi:filesystem",
            Capability::WasiSockets => "wasi:sockets",
            Capability::Subscribe => "",
        }
    }

    /// Must an operator grant it before a call succeeds? Declaring it in
    /// the manifest is enough for the others. `kv` needs none for the
    /// pack's own scope; see [`Capability::grantable`].
    pub fn needs_grant(self) -> bool {
        match self {
            Capability::Secrets
            | Capability::Http
            | Capability::Probe
            | Capability::Command
            | Capability::NodesReboot
            | Capability::NodesDrain
            | Capability::NodesSetState
            | Capability::NodesHealth
            | Capability::Subscribe => true,
            Capability::Log
            | Capability::Kv
            | Capability::NodesRead
            | Capability::WasiFilesystem
            | Capability::WasiSockets => false,
        }
    }

    /// May an operator grant it? Every capability that needs a grant, and
    /// `kv`, whose grants reach scopes other than the pack's own.
    pub fn grantable(self) -> bool {
        self.needs_grant() || self == Capability::Kv
    }

    /// Which scope grammar applies to grants of this capability.
    pub fn scope_kind(self) -> ScopeKind {
        match self {
            Capability::NodesRead
            | Capability::NodesReboot
            | Capability::NodesDrain
            | Capability::NodesSetState
            | Capability::NodesHealth => ScopeKind::Labels,
            Capability::Http | Capability::Probe => ScopeKind::Hosts,
            Capability::Secrets => ScopeKind::Names,
            Capability::Command => ScopeKind::Argv,
            Capability::Subscribe => ScopeKind::Subscriptions,
            Capability::Kv => ScopeKind::Kv,
            Capability::Log | Capability::WasiFilesystem | Capability::WasiSockets => {
                ScopeKind::None
            }
        }
    }

    /// Does this capability allow `import` (already without `@version`)?
    fn allows_import(self, import: &str) -> bool {
        let allowed = self.interface();
        if allowed.is_empty() {
            return false;
        }
        if allowed.contains('/') {
            import == allowed
        } else {
            package_of(import) == allowed
        }
    }

    /// The capability an operator probably meant by an unknown `name`:
    /// compares case-, `_`-, `.`- and `:`-insensitively, and accepts the
    /// last part alone (`reboot`, `filesystem`).
    fn suggest(name: &str) -> Option<Capability> {
        let normalize = |s: &str| s.trim().to_ascii_lowercase().replace(['_', '.', ':'], "-");
        let wanted = normalize(name);
        if wanted.is_empty() {
            return None;
        }
        Capability::ALL.into_iter().find(|capability| {
            let candidate = normalize(capability.name());
            candidate == wanted
                || candidate
                    .strip_suffix(wanted.as_str())
                    .is_some_and(|head| head.ends_with('-'))
        })
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Capability {
    type Err = PolicyError;

    /// Accepts exactly the canonical names, with surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        Capability::ALL
            .into_iter()
            .find(|capability| capability.name() == name)
            .ok_or_else(|| PolicyError::UnknownCapability {
                name: name.to_owned(),
                suggestion: Capability::suggest(name),
            })
    }
}

impl fmt::Display for ScopeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScopeKind::None => "none",
            ScopeKind::Labels => "labels",
            ScopeKind::Hosts => "hosts",
            ScopeKind::Names => "names",
            ScopeKind::Argv => "argv",
            ScopeKind::Subscriptions => "subscriptions",
            ScopeKind::Kv => "kv",
        })
    }
}

/// Packages every interface of which a component may import undeclared.
const BASE_PACKAGES: [&str; 3] = ["wasi:io", "wasi:clocks", "wasi:random"];

/// Single interfaces a component may import undeclared.
const BASE_INTERFACES: [&str; 11] = [
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "drover:plugin/types",
];

/// The imports of a component that neither its `declared` capabilities nor
/// the WASI base allow: sorted, deduplicated, as given (with `@version`).
/// An empty result means the component may be installed.
///
/// An import name looks like `drover:plugin/nodes@0.1.0` or
/// `wasi:io/streams@0.2.6`; names are compared without their `@version`,
/// and exactly otherwise. A plain import that is not an interface
/// (`my-func`) is never allowed.
pub fn undeclared_imports<'a>(
    imports: impl IntoIterator<Item = &'a str>,
    declared: &[Capability],
) -> Vec<String> {
    imports
        .into_iter()
        .filter(|import| {
            let name = without_version(import);
            let in_base =
                BASE_INTERFACES.contains(&name) || BASE_PACKAGES.contains(&package_of(name));
            !in_base && !declared.iter().any(|c| c.allows_import(name))
        })
        .map(str::to_owned)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `wasi:io/streams@0.2.6` -> `wasi:io/streams`.
/// The capability a function of an imported interface needs, where one
/// interface serves several capabilities (`drover:plugin/nodes`: reads vs
/// each kind of change). `None` for interfaces that map to one capability.
pub fn function_capability(import: &str, function: &str) -> Option<Capability> {
    if without_version(import) != "drover:plugin/nodes" {
        return None;
    }
    Some(match function {
        "reboot" => Capability::NodesReboot,
        "drain" => Capability::NodesDrain,
        "set-state" => Capability::NodesSetState,
        "report-health" => Capability::NodesHealth,
        _ => Capability::NodesRead,
    })
}

/// The `interface#function` names among `functions` of `import` whose
/// capability is not declared: a plugin that declares `nodes.read` but
/// imports `nodes#reboot` is refused at install.
pub fn undeclared_functions<'a>(
    import: &str,
    functions: impl IntoIterator<Item = &'a str>,
    declared: &[Capability],
) -> Vec<String> {
    functions
        .into_iter()
        .filter_map(|f| {
            let cap = function_capability(import, f)?;
            (!declared.contains(&cap)).then(|| format!("{}#{f} ({cap})", without_version(import)))
        })
        .collect()
}

#[cfg(test)]
mod function_tests {
    use super::*;

    #[test]
    fn nodes_functions_need_their_own_capability() {
        let imp = "drover:plugin/nodes@0.1.0";
        assert!(undeclared_functions(imp, ["get", "facts"], &[Capability::NodesRead]).is_empty());
        assert_eq!(
            undeclared_functions(imp, ["get", "reboot"], &[Capability::NodesRead]),
            vec!["drover:plugin/nodes#reboot (nodes.reboot)"]
        );
        assert_eq!(
            undeclared_functions(imp, ["facts"], &[Capability::NodesReboot]),
            vec!["drover:plugin/nodes#facts (nodes.read)"]
        );
        assert!(undeclared_functions("drover:plugin/log@0.1.0", ["log"], &[]).is_empty());
    }
}

fn without_version(import: &str) -> &str {
    import.split_once('@').map_or(import, |(name, _)| name)
}

/// `wasi:io/streams` -> `wasi:io`; a name without `/` is its own package.
fn package_of(interface: &str) -> &str {
    interface
        .split_once('/')
        .map_or(interface, |(package, _)| package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_display_and_from_str() {
        for capability in Capability::ALL {
            assert_eq!(capability.to_string(), capability.name());
            assert_eq!(capability.name().parse::<Capability>(), Ok(capability));
        }
        assert_eq!(" nodes.reboot ".parse(), Ok(Capability::NodesReboot));
    }

    #[test]
    fn all_lists_every_capability_once_in_order() {
        let mut sorted = Capability::ALL;
        sorted.sort();
        assert_eq!(sorted, Capability::ALL);
        let names: BTreeSet<_> = Capability::ALL.map(Capability::name).into();
        assert_eq!(names.len(), Capability::ALL.len());
    }

    #[test]
    fn serde_uses_the_canonical_name() {
        for capability in Capability::ALL {
            let json = format!("\"{}\"", capability.name());
            assert_eq!(serde_json::to_string(&capability).unwrap(), json);
            assert_eq!(
                serde_json::from_str::<Capability>(&json).unwrap(),
                capability
            );
        }
        let err = serde_json::from_str::<Capability>("\"reboot\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `reboot`"), "{err}");
        assert!(err.contains("`nodes.reboot`"), "{err}");
    }

    #[test]
    fn unknown_names_are_refused_with_a_suggestion() {
        let cases = [
            ("reboot", Some(Capability::NodesReboot)),
            ("nodes_set_state", Some(Capability::NodesSetState)),
            ("set-state", Some(Capability::NodesSetState)),
            ("Log", Some(Capability::Log)),
            ("filesystem", Some(Capability::WasiFilesystem)),
            ("wasi-sockets", Some(Capability::WasiSockets)),
            ("nodes", None),
            ("", None),
            ("ssh", None),
        ];
        for (name, suggestion) in cases {
            assert_eq!(
                name.parse::<Capability>(),
                Err(PolicyError::UnknownCapability {
                    name: name.to_owned(),
                    suggestion
                }),
                "{name:?}"
            );
        }
    }

    #[test]
    fn interface_table() {
        let expected = [
            (Capability::Log, "drover:plugin/log"),
            (Capability::Kv, "drover:plugin/kv"),
            (Capability::Secrets, "drover:plugin/secrets"),
            (Capability::Http, "drover:plugin/http"),
            (Capability::Probe, "drover:plugin/probe"),
            (Capability::Command, "drover:plugin/command"),
            (Capability::NodesRead, "drover:plugin/nodes"),
            (Capability::NodesReboot, "drover:plugin/nodes"),
            (Capability::NodesDrain, "drover:plugin/nodes"),
            (Capability::NodesSetState, "drover:plugin/nodes"),
            (Capability::WasiFilesystem, "wasi:filesystem"),
            (Capability::WasiSockets, "wasi:sockets"),
            (Capability::Subscribe, ""),
        ];
        for (capability, interface) in expected {
            assert_eq!(capability.interface(), interface);
        }
    }

    #[test]
    fn grant_and_scope_tables() {
        use ScopeKind as K;
        let expected = [
            (Capability::Log, false, K::None),
            (Capability::Kv, false, K::Kv),
            (Capability::Secrets, true, K::Names),
            (Capability::Http, true, K::Hosts),
            (Capability::Probe, true, K::Hosts),
            (Capability::Command, true, K::Argv),
            (Capability::NodesRead, false, K::Labels),
            (Capability::NodesReboot, true, K::Labels),
            (Capability::NodesDrain, true, K::Labels),
            (Capability::NodesSetState, true, K::Labels),
            (Capability::WasiFilesystem, false, K::None),
            (Capability::WasiSockets, false, K::None),
            (Capability::Subscribe, true, K::Subscriptions),
        ];
        for (capability, needs_grant, kind) in expected {
            assert_eq!(capability.needs_grant(), needs_grant, "{capability}");
            assert_eq!(capability.scope_kind(), kind, "{capability}");
            assert_eq!(
                capability.grantable(),
                needs_grant || capability == Capability::Kv,
                "{capability}"
            );
        }
    }

    #[test]
    fn scope_kind_display() {
        let names = [
            ScopeKind::None,
            ScopeKind::Labels,
            ScopeKind::Hosts,
            ScopeKind::Names,
            ScopeKind::Argv,
            ScopeKind::Subscriptions,
            ScopeKind::Kv,
        ]
        .map(|k| k.to_string());
        assert_eq!(
            names,
            [
                "none",
                "labels",
                "hosts",
                "names",
                "argv",
                "subscriptions",
                "kv"
            ]
        );
    }

    /// What a typical action built with wit-bindgen for wasip2 imports.
    const WASI_BASE: [&str; 12] = [
        "wasi:io/error@0.2.6",
        "wasi:io/poll@0.2.6",
        "wasi:io/streams@0.2.6",
        "wasi:clocks/monotonic-clock@0.2.6",
        "wasi:clocks/wall-clock@0.2.6",
        "wasi:random/random@0.2.6",
        "wasi:random/insecure-seed@0.2.6",
        "wasi:cli/environment@0.2.6",
        "wasi:cli/exit@0.2.6",
        "wasi:cli/stderr@0.2.6",
        "wasi:cli/terminal-stdout@0.2.6",
        "drover:plugin/types@0.1.0",
    ];

    #[test]
    fn the_wasi_base_needs_no_declaration() {
        assert!(undeclared_imports(WASI_BASE, &[]).is_empty());
        let terminals = [
            "wasi:cli/stdin",
            "wasi:cli/stdout",
            "wasi:cli/terminal-input",
            "wasi:cli/terminal-output",
            "wasi:cli/terminal-stdin",
            "wasi:cli/terminal-stderr",
        ];
        assert!(undeclared_imports(terminals, &[]).is_empty());
    }

    #[test]
    fn declared_capabilities_allow_their_interface() {
        for capability in Capability::ALL {
            if capability == Capability::Subscribe {
                // Allows no import at all.
                assert!(undeclared_imports(["subscribe", ""], &[capability]).len() == 2);
                continue;
            }
            let import = match capability.interface() {
                "wasi:filesystem" => "wasi:filesystem/preopens@0.2.6".to_owned(),
                "wasi:sockets" => "wasi:sockets/tcp@0.2.6".to_owned(),
                interface => format!("{interface}@0.1.0"),
            };
            assert_eq!(
                undeclared_imports([import.as_str()], &[capability]),
                Vec::<String>::new(),
                "{capability}"
            );
            assert_eq!(
                undeclared_imports([import.as_str()], &[]),
                [import],
                "{capability}"
            );
        }
    }

    #[test]
    fn any_nodes_capability_allows_the_nodes_interface() {
        let imports = ["drover:plugin/nodes@0.1.0"];
        assert!(undeclared_imports(imports, &[Capability::NodesRead]).is_empty());
        assert!(undeclared_imports(imports, &[Capability::NodesDrain]).is_empty());
    }

    #[test]
    fn a_package_capability_allows_every_interface_in_it_and_nothing_else() {
        let imports = [
            "wasi:filesystem/types@0.2.6",
            "wasi:filesystem/preopens@0.2.6",
            "wasi:filesystem-extra/x@0.1.0",
        ];
        assert_eq!(
            undeclared_imports(imports, &[Capability::WasiFilesystem]),
            ["wasi:filesystem-extra/x@0.1.0"]
        );
    }

    #[test]
    fn undeclared_imports_are_sorted_deduplicated_and_keep_their_version() {
        let imports = [
            "wasi:sockets/tcp@0.2.6",
            "drover:plugin/http@0.1.0",
            "wasi:io/streams@0.2.6",
            "wasi:http/outgoing-handler@0.2.6",
            "drover:plugin/http@0.1.0",
            "drover:plugin/log@0.1.0",
        ];
        assert_eq!(
            undeclared_imports(imports, &[Capability::Log]),
            [
                "drover:plugin/http@0.1.0",
                "wasi:http/outgoing-handler@0.2.6",
                "wasi:sockets/tcp@0.2.6",
            ]
        );
    }

    #[test]
    fn near_misses_of_the_base_are_refused() {
        let imports = [
            "wasi:cli/run@0.2.6",        // an export, never an import
            "wasi:cli@0.2.6",            // the whole package is not the base
            "wasi:iox/streams@0.2.6",    // not wasi:io
            "wasi:http/types@0.2.6",     // wasi:http is never allowed
            "drover:plugin/other@0.1.0", // unknown drover interface
            "drover:plugin@0.1.0",       // the package alone
            "my-func",                   // a plain function import
            "",
        ];
        let mut expected: Vec<String> = imports.map(str::to_owned).into();
        expected.sort();
        assert_eq!(undeclared_imports(imports, &Capability::ALL), expected);
    }

    #[test]
    fn imports_without_a_version_compare_the_same() {
        assert!(
            undeclared_imports(["wasi:io/streams", "drover:plugin/log"], &[Capability::Log])
                .is_empty()
        );
        assert_eq!(
            undeclared_imports(["drover:plugin/kv"], &[Capability::Log]),
            ["drover:plugin/kv"]
        );
    }
}
