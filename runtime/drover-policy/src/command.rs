//! Command scopes: on which nodes a `command` grant lets a plugin run which
//! argvs.
//!
//! A scope is `NODES: COMMANDS`, split at the first `:` (label selectors
//! never contain one):
//!
//! | Part       | Grammar                                        | `*` means      |
//! | ---------- | ---------------------------------------------- | -------------- |
//! | `NODES`    | a [label selector](crate::selector)            | every node     |
//! | `COMMANDS` | [argv patterns](crate::argv), separated by `;` | every argv     |
//!
//! Examples: `rack=r01: uptime`, `cluster=batch,role=compute: systemctl
//! restart slurmd; journalctl -u slurmd **`, `*: uptime` (every node, one
//! command). `*` alone is every node and every command
//! ([`crate::Scope::Any`]).
//!
//! The node part is required: `uptime` alone is refused when a grant is
//! given. Grants stored before the node part existed still load
//! ([`crate::Scope::parse_stored`]) but cover no node; `drover grant list`
//! flags them ([`crate::Scope::problem`]).

use std::collections::BTreeMap;
use std::fmt;

use crate::{ArgvList, PolicyError, Selector};

/// A parsed command scope; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandScope {
    nodes: Nodes,
    commands: Commands,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Nodes {
    Any,
    Selector(Selector),
    /// A grant stored without a node part: it covers no node.
    Unstated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Commands {
    Any,
    Argv(ArgvList),
}

impl CommandScope {
    /// Parses `NODES: COMMANDS`.
    pub fn parse(text: &str) -> Result<CommandScope, PolicyError> {
        let text = text.trim();
        let fail = |reason: String| PolicyError::Command {
            text: text.to_owned(),
            reason,
        };
        let Some((nodes, commands)) = text.split_once(':') else {
            return Err(fail(format!(
                "a command grant names the nodes and the commands, `NODES: COMMANDS`: \
                 write e.g. `rack=r01: {text}` (or `*: {text}` for every node)"
            )));
        };
        let nodes = match nodes.trim() {
            "" => {
                return Err(fail(
                    "no nodes before ':': write a label selector such as `rack=r01`, \
                     or `*` for every node"
                        .into(),
                ));
            }
            "*" => Nodes::Any,
            s => Nodes::Selector(Selector::parse(s)?),
        };
        let commands = match commands.trim() {
            "" => {
                return Err(fail(
                    "no commands after ':': write argv patterns such as `uptime`, \
                     or `*` for every command"
                        .into(),
                ));
            }
            "*" => Commands::Any,
            s => Commands::Argv(ArgvList::parse(s)?),
        };
        Ok(CommandScope { nodes, commands })
    }

    /// A grant stored before scopes named nodes: its argv patterns, and no
    /// node at all.
    pub(crate) fn parse_unstated(text: &str) -> Result<CommandScope, PolicyError> {
        Ok(CommandScope {
            nodes: Nodes::Unstated,
            commands: Commands::Argv(ArgvList::parse(text)?),
        })
    }

    /// Does it cover running `argv` on node `name` with `labels`?
    pub fn allows(&self, name: &str, labels: &BTreeMap<String, String>, argv: &[String]) -> bool {
        let node = match &self.nodes {
            Nodes::Any => true,
            Nodes::Selector(s) => s.matches(name, labels),
            Nodes::Unstated => false,
        };
        node && match &self.commands {
            Commands::Any => !argv.is_empty(),
            Commands::Argv(list) => list.matches(argv),
        }
    }

    /// Why this scope covers less than it seems to, if it does.
    pub fn problem(&self) -> Option<String> {
        match (&self.nodes, &self.commands) {
            (Nodes::Unstated, Commands::Argv(argv)) => Some(format!(
                "no node part: it matches no node; revoke it and grant `NODES: {argv}` \
                 (e.g. `rack=r01: {argv}`)"
            )),
            _ => None,
        }
    }
}

impl fmt::Display for CommandScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.nodes {
            Nodes::Any => f.write_str("*: ")?,
            Nodes::Selector(s) => write!(f, "{s}: ")?,
            Nodes::Unstated => {}
        }
        match &self.commands {
            Commands::Any => f.write_str("*"),
            Commands::Argv(a) => a.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    fn rack(r: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("rack".to_owned(), r.to_owned())])
    }

    #[test]
    fn the_node_part_decides() {
        let s = CommandScope::parse("rack=r01: uptime; systemctl restart *").unwrap();
        assert!(s.allows("n1", &rack("r01"), &argv(&["uptime"])));
        assert!(!s.allows("n2", &rack("r02"), &argv(&["uptime"])));
        assert!(s.allows("n1", &rack("r01"), &argv(&["systemctl", "restart", "x"])));
        assert!(!s.allows("n1", &rack("r01"), &argv(&["reboot"])));
        let any_node = CommandScope::parse("*: uptime").unwrap();
        assert!(any_node.allows("n2", &rack("r02"), &argv(&["uptime"])));
        let any_cmd = CommandScope::parse("name=n1: *").unwrap();
        assert!(any_cmd.allows("n1", &BTreeMap::new(), &argv(&["rm", "-rf", "/"])));
        assert!(!any_cmd.allows("n2", &BTreeMap::new(), &argv(&["true"])));
    }

    #[test]
    fn no_node_part_is_refused_with_the_new_form() {
        let err = CommandScope::parse("uptime").unwrap_err().to_string();
        assert!(err.contains("`rack=r01: uptime`"), "{err}");
        assert!(err.contains("`*: uptime`"), "{err}");
        for bad in [
            ": uptime",
            "rack=r01:",
            "rack r01: uptime",
            "rack=r01: cat /x*",
        ] {
            assert!(CommandScope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_unstated_node_part_matches_no_node() {
        let s = CommandScope::parse_unstated("uptime").unwrap();
        assert!(!s.allows("n1", &rack("r01"), &argv(&["uptime"])));
        assert_eq!(s.to_string(), "uptime");
        assert!(s.problem().unwrap().contains("`NODES: uptime`"));
        assert!(
            CommandScope::parse("*: uptime")
                .unwrap()
                .problem()
                .is_none()
        );
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "rack = r01 ,role in (b,a):uptime ;journalctl  -u * **",
            "*: *",
            "*:uptime",
            "rack=r01: chown root:root /x",
        ] {
            let s = CommandScope::parse(text).unwrap();
            assert_eq!(CommandScope::parse(&s.to_string()).unwrap(), s, "{text}");
        }
        assert_eq!(
            CommandScope::parse("rack==r01:uptime").unwrap().to_string(),
            "rack=r01: uptime"
        );
    }
}
