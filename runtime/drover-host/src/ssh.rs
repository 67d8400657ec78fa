//! How the `command` interface reaches a node: the OpenSSH client's argv.
//!
//! drover runs `ssh` with host key checking on and no prompts:
//!
//! ```text
//! ssh [-F DIR/config] -o BatchMode=yes -o StrictHostKeyChecking=yes
//!     -o UserKnownHostsFile=KNOWN_HOSTS -o ConnectTimeout=N -o LogLevel=ERROR
//!     [-i KEY -o IdentitiesOnly=yes] [-p PORT] [-l USER] -T -- ADDRESS 'arg' 'arg'...
//! ```
//!
//! Where each part comes from, first match wins:
//!
//! | part        | node option (`ssh:` in the node's options) | drover's ssh directory (`DIR`, beside the database) |
//! |-------------|--------------------------------------------|------------------------------------------------------|
//! | address     | `ssh.address`                              | the node's name (`HostName` in `DIR/config` may map it) |
//! | port        | `ssh.port`                                 | `DIR/config`, else 22                                |
//! | user        | `ssh.user`                                 | `DIR/config`, else the user drover runs as           |
//! | key         | `ssh.key` (a path)                         | `DIR/id_ed25519` when it exists, else `DIR/config`   |
//! | known hosts | `ssh.known_hosts` (a path)                 | `DIR/known_hosts` (must list the node's host key)    |
//!
//! `DIR/config` is an OpenSSH client config file, passed with `-F` when it
//! exists; the options above are given on the command line, so a config
//! file cannot turn host key checking or batch mode off.
//!
//! ssh joins the remote argv into one command line for the remote shell,
//! so every element is single-quoted here: `;`, `$(...)` and spaces in an
//! element stay plain text on the node, as the grant's argv patterns
//! assume.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// drover's ssh directory; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct SshSettings {
    dir: Option<PathBuf>,
}

impl SshSettings {
    /// Settings from the files in `dir` (which need not exist).
    pub fn in_dir(dir: impl Into<PathBuf>) -> SshSettings {
        SshSettings {
            dir: Some(dir.into()),
        }
    }

    fn file(&self, name: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(name))
    }

    /// The known-hosts file for a node without its own.
    pub fn known_hosts(&self) -> Option<PathBuf> {
        self.file("known_hosts")
    }
}

/// A node's `ssh` options.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeSsh {
    address: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    key: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
}

impl NodeSsh {
    /// The `ssh` object of a node's options (absent: all defaults).
    pub(crate) fn from_options(options: &serde_json::Value) -> Result<NodeSsh, String> {
        let Some(ssh) = options.get("ssh") else {
            return Ok(NodeSsh::default());
        };
        let parsed: NodeSsh = serde_path_to_error::deserialize(ssh).map_err(|e| {
            let path = e.path().to_string();
            format!("ssh.{path}: {}", e.into_inner()).replace("ssh..: ", "ssh: ")
        })?;
        for (field, value) in [("address", &parsed.address), ("user", &parsed.user)] {
            if let Some(v) = value
                && (v.is_empty()
                    || v.starts_with('-')
                    || v.contains(|c: char| c.is_whitespace() || c.is_control() || c == '@'))
            {
                return Err(format!(
                    "ssh.{field}: {v:?} is not a plain {field} (no spaces, no '@', no leading '-')"
                ));
            }
        }
        Ok(parsed)
    }
}

/// What a call runs and how it shows it in messages.
pub(crate) struct SshCommand {
    pub(crate) argv: Vec<String>,
    /// `user@address:port` as far as drover knows it.
    pub(crate) destination: String,
    pub(crate) known_hosts: Option<PathBuf>,
}

/// The `ssh` argv that runs `remote` on `node`.
pub(crate) fn command(
    settings: &SshSettings,
    node: &str,
    opts: &NodeSsh,
    remote: &[String],
    connect_timeout: Duration,
) -> SshCommand {
    let mut argv: Vec<String> = vec!["ssh".into()];
    let path = |p: &Path| p.display().to_string();
    if let Some(config) = settings.file("config").filter(|c| c.is_file()) {
        argv.extend(["-F".into(), path(&config)]);
    }
    let known_hosts = opts.known_hosts.clone().or_else(|| settings.known_hosts());
    argv.extend(["-o".into(), "BatchMode=yes".into()]);
    argv.extend(["-o".into(), "StrictHostKeyChecking=yes".into()]);
    if let Some(kh) = &known_hosts {
        argv.extend(["-o".into(), format!("UserKnownHostsFile={}", path(kh))]);
    }
    let seconds = connect_timeout.as_secs().max(1);
    argv.extend(["-o".into(), format!("ConnectTimeout={seconds}")]);
    argv.extend(["-o".into(), "LogLevel=ERROR".into()]);
    let key = opts
        .key
        .clone()
        .or_else(|| settings.file("id_ed25519").filter(|k| k.is_file()));
    if let Some(key) = key {
        argv.extend(["-i".into(), path(&key)]);
        argv.extend(["-o".into(), "IdentitiesOnly=yes".into()]);
    }
    if let Some(port) = opts.port {
        argv.extend(["-p".into(), port.to_string()]);
    }
    if let Some(user) = &opts.user {
        argv.extend(["-l".into(), user.clone()]);
    }
    let address = opts.address.clone().unwrap_or_else(|| node.to_owned());
    argv.extend(["-T".into(), "--".into(), address.clone()]);
    argv.extend(remote.iter().map(|a| quote(a)));
    let destination = format!(
        "{}{address}{}",
        opts.user
            .as_ref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default(),
        opts.port.map(|p| format!(":{p}")).unwrap_or_default()
    );
    SshCommand {
        argv,
        destination,
        known_hosts,
    }
}

/// One argument for a POSIX shell: as is when it is plainly safe, else in
/// single quotes (a `'` inside becomes `'\''`).
pub(crate) fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:=@%+,-".contains(&b));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn arguments_are_quoted_for_the_remote_shell() {
        assert_eq!(quote("uptime"), "uptime");
        assert_eq!(quote("-n"), "-n");
        assert_eq!(quote("/proc/loadavg"), "/proc/loadavg");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("$(id); rm -rf /"), "'$(id); rm -rf /'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn node_options_win_over_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("id_ed25519"), "k").unwrap();
        let settings = SshSettings::in_dir(dir.path());
        let opts = NodeSsh::from_options(&json!({
            "ssh": {"address": "10.0.0.7", "port": 2222, "user": "ops"}
        }))
        .unwrap();
        let cmd = command(
            &settings,
            "n001",
            &opts,
            &strings(&["echo", "a b"]),
            Duration::from_secs(5),
        );
        let d = dir.path().display();
        assert_eq!(
            cmd.argv.join(" "),
            format!(
                "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes \
                 -o UserKnownHostsFile={d}/known_hosts -o ConnectTimeout=5 -o LogLevel=ERROR \
                 -i {d}/id_ed25519 -o IdentitiesOnly=yes -p 2222 -l ops -T -- 10.0.0.7 echo 'a b'"
            )
        );
        assert_eq!(cmd.destination, "ops@10.0.0.7:2222");

        let bare = command(
            &SshSettings::default(),
            "n001",
            &NodeSsh::default(),
            &strings(&["uptime"]),
            Duration::from_millis(10),
        );
        assert_eq!(
            bare.argv.join(" "),
            "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=1 \
             -o LogLevel=ERROR -T -- n001 uptime"
        );
    }

    #[test]
    fn bad_ssh_options_name_the_field() {
        let err = |v| NodeSsh::from_options(&v).unwrap_err();
        assert_eq!(
            err(json!({"ssh": {"port": "22"}})),
            "ssh.port: invalid type: string \"22\", expected u16"
        );
        assert!(err(json!({"ssh": {"adress": "x"}})).starts_with("ssh.adress: unknown field"));
        assert!(err(json!({"ssh": {"address": "-oProxyCommand=x"}})).starts_with("ssh.address:"));
        assert!(err(json!({"ssh": {"user": "a b"}})).starts_with("ssh.user:"));
        assert!(NodeSsh::from_options(&json!({"rack": "r01"})).is_ok());
    }
}
