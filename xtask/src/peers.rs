//! The test peers: the real programs drover's tests start (a NATS server,
//! sshd, Chromium and chromedriver, the sushy-tools Redfish emulator,
//! schemathesis, componentize-py, componentize-js, an OCI registry, git,
//! …), and their installation when missing.
//!
//! `cargo xtask test` calls [`ensure`] before it builds anything, so
//! README's test command passes on a fresh machine by itself; `.ci/run`
//! only calls `cargo xtask test`. Each peer is looked for first and
//! installed only when absent, with the machine's own package tools
//! (`apt-get` for Debian packages, `pip` for PyPI ones, `npm` for npm
//! ones: into drover's per-user npm prefix, not globally), saying what it
//! installs. `DROVER_NO_INSTALL=1` turns installing off: missing peers
//! are then listed with the command that would install them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::{run_cmd, step};

/// Where a peer comes from.
enum Source {
    /// A Debian package.
    Debian(&'static str),
    /// A PyPI package (installed with the machine's `python3 -m pip`).
    PyPi(&'static str),
    /// An npm package, installed with `npm install --prefix` into
    /// [`npm_prefix`], where `drover pack build` looks for it.
    Npm(&'static str),
}

/// One program a test starts, and the package that brings it.
struct Peer {
    /// A command name looked up on `PATH`, or an absolute path.
    program: &'static str,
    source: Source,
    /// Which tests need it (printed when it is installed).
    used_by: &'static str,
}

const PEERS: &[Peer] = &[
    Peer {
        program: "nats-server",
        source: Source::Debian("nats-server"),
        used_by: "tests/sensors.rs, tests/batchops.rs (NATS subscriptions)",
    },
    Peer {
        program: "/usr/sbin/sshd",
        source: Source::Debian("openssh-server"),
        used_by: "tests/remote.rs (the command capability over ssh)",
    },
    Peer {
        program: "ssh",
        source: Source::Debian("openssh-client"),
        used_by: "tests/remote.rs",
    },
    Peer {
        program: "ssh-keygen",
        source: Source::Debian("openssh-client"),
        used_by: "tests/remote.rs",
    },
    Peer {
        program: "ping",
        source: Source::Debian("iputils-ping"),
        used_by: "the probe capability's tests",
    },
    Peer {
        program: "openssl",
        source: Source::Debian("openssl"),
        used_by: "self-signed certificates in tests/api.rs and drover-fleet's tests/redfish.rs",
    },
    Peer {
        program: "chromium",
        source: Source::Debian("chromium"),
        used_by: "tests/ui.rs (the web UI in a headless browser)",
    },
    Peer {
        program: "chromedriver",
        source: Source::Debian("chromium-driver"),
        used_by: "tests/ui.rs",
    },
    Peer {
        program: "sushy-emulator",
        source: Source::PyPi("sushy-tools"),
        used_by: "drover-fleet's tests/redfish.rs (a Redfish BMC emulator)",
    },
    Peer {
        program: "componentize-py",
        // Pinned: the version `drover pack build` names in its install hint.
        source: Source::PyPi("componentize-py==0.25.1"),
        used_by: "tests/python_plugins.rs (drover pack build of Python plugins)",
    },
    Peer {
        program: "node",
        source: Source::Debian("nodejs"),
        used_by: "tests/js_plugins.rs (componentize-js runs on Node.js)",
    },
    Peer {
        program: "npm",
        source: Source::Debian("npm"),
        used_by: "installing componentize-js",
    },
    Peer {
        program: "componentize-js",
        // Pinned: the version `drover pack build` names in its install hint.
        source: Source::Npm("@bytecodealliance/componentize-js@0.23.0"),
        used_by: "tests/js_plugins.rs (drover pack build of JavaScript plugins)",
    },
    Peer {
        program: "schemathesis",
        source: Source::PyPi("schemathesis"),
        used_by: "tests/api.rs (fuzzes the API from its OpenAPI document)",
    },
    Peer {
        program: "docker-registry",
        source: Source::Debian("docker-registry"),
        used_by: "tests/registry.rs (pack push/pull/install against a real OCI registry)",
    },
    Peer {
        program: "git",
        source: Source::Debian("git"),
        used_by: "tests/registry.rs (pack install git+file://…)",
    },
];

/// drover's per-user npm prefix (`drover_build::toolchain::npm_prefix`).
fn npm_prefix() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty())?;
    Some(Path::new(&home).join(".cache/drover/npm"))
}

/// Whether `peer` is installed: its program on `PATH` (or at its absolute
/// path), or for an npm package in [`npm_prefix`].
fn installed(peer: &Peer) -> bool {
    if matches!(peer.source, Source::Npm(_))
        && npm_prefix().is_some_and(|p| p.join("node_modules/.bin").join(peer.program).is_file())
    {
        return true;
    }
    found(peer.program)
}

/// Whether `program` (a name on `PATH` or an absolute path) exists.
fn found(program: &str) -> bool {
    if program.starts_with('/') {
        return Path::new(program).is_file();
    }
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

/// Installs every missing test peer (or, with `DROVER_NO_INSTALL=1`,
/// fails naming them and how to install them).
pub fn ensure() -> Result<()> {
    let missing: Vec<&Peer> = PEERS.iter().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        step("test peers: all present");
        return Ok(());
    }
    let mut debian: Vec<&str> = Vec::new();
    let mut pypi: Vec<&str> = Vec::new();
    let mut npm: Vec<&str> = Vec::new();
    for peer in &missing {
        let package = match peer.source {
            Source::Debian(p) => {
                if !debian.contains(&p) {
                    debian.push(p);
                }
                p
            }
            Source::PyPi(p) => {
                if !pypi.contains(&p) {
                    pypi.push(p);
                }
                p
            }
            Source::Npm(p) => {
                if !npm.contains(&p) {
                    npm.push(p);
                }
                p
            }
        };
        println!(
            "xtask: missing `{}` (package {package}), used by {}",
            peer.program, peer.used_by
        );
    }
    if std::env::var_os("DROVER_NO_INSTALL").is_some_and(|v| v == "1") {
        let mut how = Vec::new();
        if !debian.is_empty() {
            how.push(format!("apt-get install {}", debian.join(" ")));
        }
        if !pypi.is_empty() {
            how.push(format!("python3 -m pip install {}", pypi.join(" ")));
        }
        if !npm.is_empty() {
            how.push(format!(
                "npm install --prefix ~/.cache/drover/npm {}",
                npm.join(" ")
            ));
        }
        bail!(
            "test peers missing and DROVER_NO_INSTALL=1: install them with `{}`",
            how.join(" && ")
        );
    }
    if !debian.is_empty() {
        install_debian(&debian)?;
    }
    if !pypi.is_empty() {
        install_pypi(&pypi)?;
    }
    if !npm.is_empty() {
        install_npm(&npm)?;
    }
    let still: Vec<&str> = missing
        .iter()
        .filter(|p| !installed(p))
        .map(|p| p.program)
        .collect();
    if !still.is_empty() {
        bail!(
            "installed the packages, but still cannot find {}: check PATH",
            still.join(", ")
        );
    }
    Ok(())
}

/// `apt-get update` then `apt-get install -y PACKAGES`, through `sudo`
/// when not root.
fn install_debian(packages: &[&str]) -> Result<()> {
    step(&format!(
        "installing Debian packages for the tests: {}",
        packages.join(" ")
    ));
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let apt = |args: &[&str]| {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    if !root && !found("sudo") {
        bail!(
            "not root and no sudo: install the test peers with `apt-get install {}` as root",
            packages.join(" ")
        );
    }
    run_cmd(&mut apt(&["update", "-q"]))?;
    let mut install = apt(&["install", "-y", "-q", "--no-install-recommends"]);
    install.args(packages);
    run_cmd(&mut install)
}

/// `npm install --prefix PREFIX PACKAGES` (Debian's `npm` was installed
/// first when missing): per user, no root, nothing global.
fn install_npm(packages: &[&str]) -> Result<()> {
    let Some(prefix) = npm_prefix() else {
        bail!(
            "HOME is not set: cannot choose where to install {}",
            packages.join(" ")
        );
    };
    step(&format!(
        "installing npm packages for the tests into {}: {}",
        prefix.display(),
        packages.join(" ")
    ));
    std::fs::create_dir_all(&prefix)?;
    let mut cmd = Command::new("npm");
    cmd.args(["install", "--no-fund", "--no-audit", "--prefix"])
        .arg(&prefix)
        .args(packages);
    run_cmd(&mut cmd)
}

/// `python3 -m pip install PACKAGES`, retried with
/// `--break-system-packages` where a Debian Python refuses (PEP 668).
fn install_pypi(packages: &[&str]) -> Result<()> {
    step(&format!(
        "installing PyPI packages for the tests: {}",
        packages.join(" ")
    ));
    let pip = || {
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "pip", "install", "--quiet"]).args(packages);
        cmd
    };
    if run_cmd(&mut pip()).is_ok() {
        return Ok(());
    }
    run_cmd(pip().arg("--break-system-packages"))
}
