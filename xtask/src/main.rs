//! `cargo xtask`: the project's build tasks, in Rust so they run wherever
//! cargo does.
//!
//! It owns the glue between the two cargo workspaces: the host workspace
//! at the repo root and the guest workspace in `plugins/` (built for
//! `wasm32-wasip2`), and the copying of built components into the packs
//! that name them (`component:` in each `pack.yaml`). It does not parse
//! manifests beyond that field: `drover-pack` owns the format.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail, ensure};
use serde_norway::Value;

mod peers;

/// The one toolchain the project builds with (see `rust-toolchain.toml`).
const TOOLCHAIN: &str = "1.95.0";
/// Plugins are WASI preview 2 components; rustc emits them directly.
const WASM_TARGET: &str = "wasm32-wasip2";
/// Directories whose `*/pack.yaml` get components copied in, relative to
/// the repo root.
const PACK_DIRS: &[&str] = &["packs", "tests/packs", "tests/redteam/packs"];

const HELP: &str = "\
usage: cargo xtask <task> [args...]

tasks:
  build            plugins, then `cargo build --release -p drover`
  plugins          add the wasm32-wasip2 target if missing, build plugins/,
                   copy each component into the packs that name it
  peers            install the programs the tests start when missing (NATS
                   server, sshd, Chromium + chromedriver, sushy-tools, componentize-py,
                   schemathesis, ...) with apt-get and pip
  test [args...]   peers, build, drover-sdk unit tests, then the workspace
                   tests (cargo nextest when installed, else cargo test);
                   args are passed to the test runner. DROVER_NO_INSTALL=1:
                   fail listing missing peers instead of installing them
  bench [args...]  plugins, then `cargo bench -p drover-app [args...]`
  demo [args...]   build, then `drover demo --dir target/demo [args...]`:
                   serve + a simulated fleet of 500 nodes in 25 racks + the
                   batchops pack, with incidents injected; open the printed
                   URL. Ctrl-C stops it";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let root = repo_root();
    match task.as_deref() {
        Some("build") => {
            no_args("build", &rest)?;
            build(&root)
        }
        Some("plugins") => {
            no_args("plugins", &rest)?;
            plugins(&root)
        }
        Some("peers") => {
            no_args("peers", &rest)?;
            peers::ensure()
        }
        Some("test") => test(&root, &rest),
        Some("bench") => bench(&root, &rest),
        // `cargo xtask demo -- --every 3s` passes the `--` on too.
        Some("demo") => demo(
            &root,
            rest.strip_prefix(&["--".to_owned()]).unwrap_or(&rest),
        ),
        None | Some("help" | "-h" | "--help") => {
            println!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown task `{other}`\n\n{HELP}"),
    }
}

fn no_args(task: &str, rest: &[String]) -> Result<()> {
    ensure!(
        rest.is_empty(),
        "`{task}` takes no arguments, got `{}`",
        rest.join(" ")
    );
    Ok(())
}

/// The repo root: the parent of this crate's directory.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repo root")
        .to_path_buf()
}

/// `plugins`, then the host binary (`target/release/drover`).
fn build(root: &Path) -> Result<()> {
    plugins(root)?;
    step("building the host binary");
    run_cmd(cargo(root).args(["build", "--release", "-p", "drover"]))
}

/// Add the wasm target if needed, build every plugin, copy the components
/// into the packs.
fn plugins(root: &Path) -> Result<()> {
    ensure_wasm_target()?;
    step("building plugins");
    let plugins_dir = root.join("plugins");
    let mut build = plugins_cargo(&plugins_dir);
    build.args(["build", "--release", "--target", WASM_TARGET]);
    run_cmd(&mut build)?;
    let built = plugins_dir.join("target").join(WASM_TARGET).join("release");
    step("copying components into packs");
    copy_components(root, &built)
}

/// The test peers (before the long build, so a missing one fails fast),
/// `build`, the SDK's unit tests (host target), then the workspace tests.
fn test(root: &Path, args: &[String]) -> Result<()> {
    peers::ensure()?;
    build(root)?;
    // Unit tests only: the SDK's doc examples are `no_run` guest code, and
    // rustdoc's merged doctest run of them fails on the host target without
    // a message (rustc 1.95); the plugin crates exercise the same API.
    step("testing drover-sdk");
    run_cmd(plugins_cargo(&root.join("plugins")).args(["test", "-p", "drover-sdk", "--lib"]))?;
    step("testing the workspace");
    let mut cmd = cargo(root);
    if has_nextest(root) {
        cmd.args(["nextest", "run", "--release", "--workspace"]);
    } else {
        println!("xtask: cargo-nextest is not installed, using cargo test");
        cmd.args(["test", "--release", "--workspace"]);
    }
    run_cmd(cmd.args(args))
}

/// `plugins`, then the host's benchmarks.
fn bench(root: &Path, args: &[String]) -> Result<()> {
    plugins(root)?;
    step("benchmarking drover-app (the plugin host through the application)");
    run_cmd(cargo(root).args(["bench", "-p", "drover-app"]).args(args))
}

/// `build`, then `drover demo` (README's first command): a fresh
/// database in target/demo/, a simulated fleet, the batchops pack, serve
/// and injected incidents, until Ctrl-C. `args` go to `drover demo`.
fn demo(root: &Path, args: &[String]) -> Result<()> {
    build(root)?;
    let dir = root.join("target").join("demo");
    // An older xtask's demo left a directory `drover demo` would refuse.
    if dir.exists() && !dir.join(".drover-demo").exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    step("starting `drover demo` (Ctrl-C stops it)");
    let mut cmd = Command::new(root.join("target/release/drover"));
    cmd.current_dir(root)
        .args(["demo", "--dir"])
        .arg(&dir)
        .arg("--packs")
        .arg(root.join("packs"))
        .args(args);
    run_cmd(&mut cmd)
}

/// `cargo` for the host workspace: the cargo that runs us, in the root.
fn cargo(root: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root);
    cmd
}

/// `cargo` for the guest workspace. It has its own `plugins/target`, so a
/// `CARGO_TARGET_DIR` meant for the host must not leak in, and its own
/// lockfile, honoured with `--locked` once it exists.
fn plugins_cargo(plugins_dir: &Path) -> Command {
    let mut cmd = cargo(plugins_dir);
    cmd.env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR");
    if plugins_dir.join("Cargo.lock").is_file() {
        cmd.arg("--locked");
    }
    cmd
}

fn has_nextest(root: &Path) -> bool {
    cargo(root)
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Add `wasm32-wasip2` to the toolchain when `rustup` says it is missing
/// (`rust-toolchain.toml`'s `targets` is not acted on with
/// `RUSTUP_AUTO_INSTALL=0`).
fn ensure_wasm_target() -> Result<()> {
    let list = Command::new("rustup")
        .args(["target", "list", "--installed", "--toolchain", TOOLCHAIN])
        .output();
    let installed = match list {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => bail!(
            "`rustup target list --installed --toolchain {TOOLCHAIN}` failed: {}\n\
             install the toolchain with `rustup toolchain install {TOOLCHAIN}`",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(err) => {
            println!(
                "xtask: cannot run rustup ({err}); assuming {WASM_TARGET} is installed for {TOOLCHAIN}"
            );
            return Ok(());
        }
    };
    if installed.lines().any(|line| line.trim() == WASM_TARGET) {
        return Ok(());
    }
    step(&format!(
        "adding target {WASM_TARGET} to toolchain {TOOLCHAIN}"
    ));
    run_cmd(Command::new("rustup").args(["target", "add", WASM_TARGET, "--toolchain", TOOLCHAIN]))
}

/// For every `pack.yaml` under [`PACK_DIRS`], copy each plugin's
/// `component:` from `built` (matched by file name) to the pack.
fn copy_components(root: &Path, built: &Path) -> Result<()> {
    let mut problems = Vec::new();
    let (mut copied, mut unchanged, mut packs) = (0, 0, 0);
    for manifest in pack_manifests(root)? {
        packs += 1;
        let pack_dir = manifest.parent().expect("a manifest is inside its pack");
        let shown = manifest.strip_prefix(root).unwrap_or(&manifest).display();
        let components = match components(&manifest) {
            Ok(components) => components,
            Err(err) => {
                problems.push(format!("{shown}: {err:#}"));
                continue;
            }
        };
        for (plugin, component) in components {
            let component = match component {
                Ok(component) => component,
                Err(err) => {
                    problems.push(format!("{shown}: plugin `{plugin}`: {err}"));
                    continue;
                }
            };
            let Some(file_name) = component.file_name() else {
                problems.push(format!(
                    "{shown}: plugin `{plugin}`: component has no file name"
                ));
                continue;
            };
            let source = built.join(file_name);
            if !source.is_file() {
                problems.push(format!(
                    "{shown}: plugin `{plugin}` wants {}, but plugins/ built no {}; \
                     add a crate with `[lib] name = \"{}\"` to plugins/",
                    component.display(),
                    file_name.to_string_lossy(),
                    Path::new(file_name)
                        .file_stem()
                        .unwrap_or_default()
                        .to_string_lossy(),
                ));
                continue;
            }
            let dest = pack_dir.join(&component);
            if install_file(&source, &dest)? {
                copied += 1;
            } else {
                unchanged += 1;
            }
        }
    }
    if !problems.is_empty() {
        bail!("cannot fill in every pack:\n  {}", problems.join("\n  "));
    }
    println!("xtask: {packs} packs: {copied} components copied, {unchanged} already up to date");
    Ok(())
}

/// Every `<dir>/*/pack.yaml` for `dir` in [`PACK_DIRS`], sorted.
fn pack_manifests(root: &Path) -> Result<Vec<PathBuf>> {
    let mut manifests = Vec::new();
    for dir in PACK_DIRS {
        let dir = root.join(dir);
        if !dir.is_dir() {
            continue;
        }
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let manifest = entry?.path().join("pack.yaml");
            if manifest.is_file() {
                manifests.push(manifest);
            }
        }
    }
    manifests.sort();
    Ok(manifests)
}

/// `plugin name -> component path` (or what is wrong with it) from one
/// manifest. The path must be relative and stay inside the pack.
fn components(manifest: &Path) -> Result<BTreeMap<String, Result<PathBuf, String>>> {
    let text = fs::read_to_string(manifest).context("cannot read it")?;
    let doc: Value = serde_norway::from_str(&text).context("not valid YAML")?;
    let Some(plugins) = doc.get("plugins").and_then(Value::as_mapping) else {
        bail!("no `plugins:` mapping");
    };
    let mut out = BTreeMap::new();
    for (name, plugin) in plugins {
        let name = name.as_str().unwrap_or("?").to_owned();
        if plugin.get("runner").is_some() {
            // A workflow action (`runner: workflow`): no component.
            continue;
        }
        if plugin.get("source").is_some() {
            // Python or JavaScript: `drover pack build` compiles `source:`
            // into the component; plugins/ builds only Rust crates.
            continue;
        }
        let component = match plugin.get("component").and_then(Value::as_str) {
            None => Err("no `component:` string".to_owned()),
            Some(c)
                if !Path::new(c)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_))) =>
            {
                Err(format!(
                    "component `{c}` must be a relative path inside the pack"
                ))
            }
            Some(c) => Ok(PathBuf::from(c)),
        };
        out.insert(name, component);
    }
    Ok(out)
}

/// Copy `source` to `dest` unless it already has the same bytes (keeps
/// mtimes, and so the host's caches, stable). True when it copied.
fn install_file(source: &Path, dest: &Path) -> Result<bool> {
    let bytes = fs::read(source).with_context(|| format!("reading {}", source.display()))?;
    if fs::read(dest).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(dest, &bytes).with_context(|| format!("writing {}", dest.display()))?;
    Ok(true)
}

fn step(what: &str) {
    println!("xtask: {what}");
}

/// Print `cmd`, run it, fail unless it exits 0.
fn run_cmd(cmd: &mut Command) -> Result<()> {
    let shown = shown(cmd);
    println!("xtask: $ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{shown}`"))?;
    ensure!(status.success(), "`{shown}` failed ({status})");
    Ok(())
}

/// `cmd` as a shell-like line, with its directory when it has one.
fn shown(cmd: &Command) -> String {
    let mut line = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(cmd.get_program())
        .to_string_lossy()
        .into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    if let Some(dir) = cmd.get_current_dir() {
        line.push_str(&format!("  (in {})", dir.display()));
    }
    line
}
