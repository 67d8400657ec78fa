//! Building a pack's plugins from their sources, and new packs.
//!
//! This crate owns what turns a pack author's sources into the components
//! `pack.yaml` names (`component:`), and nothing after that: it does not
//! check the components against the manifest (`drover-host`'s install
//! check does, unchanged), archive, sign or test a pack.
//!
//! - [`compile_sources`]: for every plugin with a `source:`, generate the
//!   WIT world narrowed to its declared capabilities ([`world`]), run the
//!   language's toolchain ([`toolchain`]: componentize-py for `.py`,
//!   componentize-js for `.js`/`.mjs`, cargo for a Rust crate directory) in a temporary build directory, and write
//!   the component where `component:` says.
//! - The Python and JavaScript SDKs ([`python::SDK_FILES`], [`js::SDK`]),
//!   embedded in the binary so a build needs nothing from drover's source
//!   tree.
//! - [`scaffold::new_pack`]: `drover pack new`, a pack that builds, installs
//!   and runs as generated.
//!
//! Every path a manifest names is re-checked against the disk here
//! (symlinks that leave the pack, missing or oversized sources), with the
//! manifest line and field in the message, since `drover-pack` checks text
//! only.

mod error;
pub mod js;
pub mod python;
pub mod rename;
mod rust;
pub mod scaffold;
pub mod toolchain;
pub mod world;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use drover_pack::{Language, MANIFEST_FILE, Pack, Plugin};
use drover_policy::Capability;

pub use error::BuildError;

/// The largest source file `drover pack build` reads (a Python or JS
/// module; a Rust crate is cargo's business).
pub const MAX_SOURCE_BYTES: u64 = 4 * 1024 * 1024;

/// One plugin built from its source.
#[derive(Debug, Clone)]
pub struct Built {
    /// The plugin's name.
    pub plugin: String,
    pub language: Language,
    /// Where the component was written.
    pub component: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// How long the toolchain took.
    pub took: Duration,
}

/// Reads and validates `dir/pack.yaml`, then builds every plugin that has a
/// `source:` (in declaration order; the first failure stops the build).
/// Plugins without one are left alone (their component is prebuilt).
pub fn compile_sources(dir: &Path) -> Result<Vec<Built>, BuildError> {
    let manifest = dir.join(MANIFEST_FILE);
    let text = drover_text::yaml::read_file(&manifest).map_err(|source| BuildError::Io {
        path: manifest.clone(),
        source,
    })?;
    let pack = drover_pack::parse_manifest(&manifest, &text)?;
    let root = fs::canonicalize(dir).map_err(|source| BuildError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let cx = Site {
        root: &root,
        manifest: &manifest,
        text: &text,
    };
    let mut built = Vec::new();
    for plugin in &pack.plugins {
        if plugin.source.is_some() {
            built.push(build_plugin(&cx, &pack, plugin)?);
        }
    }
    Ok(built)
}

/// The pack being built, for resolving paths and pointing at manifest lines.
struct Site<'a> {
    /// The pack directory, canonical.
    root: &'a Path,
    manifest: &'a Path,
    text: &'a str,
}

impl Site<'_> {
    /// An error about `plugins.PLUGIN.FIELD`, at its line in the manifest.
    fn invalid(&self, plugin: &str, field: &str, message: String) -> BuildError {
        let location = drover_text::locate(self.text, &["plugins", plugin, field]);
        BuildError::Manifest {
            manifest: self.manifest.to_owned(),
            line: location.map(|(line, _)| line),
            field: format!("plugins.{plugin}.{field}"),
            message,
        }
    }

    /// `rel` (from the manifest, already free of `..` and absolute paths)
    /// under the pack, refusing symlinks that lead out of it.
    fn inside(&self, plugin: &str, field: &str, rel: &str) -> Result<PathBuf, BuildError> {
        let path = self.root.join(rel);
        let real = fs::canonicalize(&path).map_err(|e| {
            self.invalid(
                plugin,
                field,
                format!("{rel} cannot be read ({e}): create it, or fix the path"),
            )
        })?;
        if !real.starts_with(self.root) {
            return Err(self.invalid(
                plugin,
                field,
                format!(
                    "{rel} leads outside the pack directory (to {}) through a symlink: \
                     keep sources inside the pack",
                    real.display()
                ),
            ));
        }
        Ok(real)
    }

    /// Where the component goes: inside the pack (its directory created,
    /// symlinks leading out refused), and not itself a symlink.
    fn output(&self, plugin: &Plugin) -> Result<PathBuf, BuildError> {
        let rel = Path::new(&plugin.component);
        let file_name = rel.file_name().ok_or_else(|| {
            self.invalid(
                &plugin.name,
                "component",
                format!("{:?} names no file", plugin.component),
            )
        })?;
        let parent = self.root.join(rel.parent().unwrap_or(Path::new("")));
        fs::create_dir_all(&parent).map_err(|source| BuildError::Io {
            path: parent.clone(),
            source,
        })?;
        let parent = fs::canonicalize(&parent).map_err(|source| BuildError::Io {
            path: parent.clone(),
            source,
        })?;
        if !parent.starts_with(self.root) {
            return Err(self.invalid(
                &plugin.name,
                "component",
                format!(
                    "{} leads outside the pack directory (to {}) through a symlink: \
                     write components inside the pack",
                    plugin.component,
                    parent.display()
                ),
            ));
        }
        let out = parent.join(file_name);
        if fs::symlink_metadata(&out).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(self.invalid(
                &plugin.name,
                "component",
                format!(
                    "{} is a symlink; the build will not write through it: remove it",
                    plugin.component
                ),
            ));
        }
        Ok(out)
    }
}

fn build_plugin(cx: &Site<'_>, pack: &Pack, plugin: &Plugin) -> Result<Built, BuildError> {
    let source = plugin
        .source
        .as_ref()
        .expect("called for plugins with a source");
    let src = cx.inside(&plugin.name, "source", &source.path)?;
    let meta = fs::metadata(&src).map_err(|e| BuildError::Io {
        path: src.clone(),
        source: e,
    })?;
    match source.language {
        Language::Rust if !meta.is_dir() || !src.join("Cargo.toml").is_file() => {
            return Err(cx.invalid(
                &plugin.name,
                "source",
                format!(
                    "{} is not a Rust crate directory (no Cargo.toml in it): name the crate's \
                     directory, or a .py/.js file",
                    source.path
                ),
            ));
        }
        Language::Python | Language::JavaScript if !meta.is_file() => {
            return Err(cx.invalid(
                &plugin.name,
                "source",
                format!("{} is not a file", source.path),
            ));
        }
        Language::Python | Language::JavaScript if meta.len() > MAX_SOURCE_BYTES => {
            return Err(cx.invalid(
                &plugin.name,
                "source",
                format!(
                    "{} is {} bytes, more than the {} a plugin source may have: split it \
                     into modules",
                    source.path,
                    meta.len(),
                    MAX_SOURCE_BYTES
                ),
            ));
        }
        _ => {}
    }
    if source.language == Language::JavaScript {
        check_js(cx, plugin, &src)?;
    }
    let wasi: &[Capability] = match source.language {
        Language::Python => &python::WASI_CAPABILITIES,
        Language::JavaScript => &js::WASI_CAPABILITIES,
        Language::Rust => &[],
    };
    let missing: Vec<&str> = wasi
        .iter()
        .filter(|c| !plugin.capabilities.contains(c))
        .map(|c| c.name())
        .collect();
    if !missing.is_empty() {
        let (language, imports, inert) = match source.language {
            Language::JavaScript => ("JavaScript", "wasi:filesystem", "no directory is preopened"),
            _ => (
                "Python",
                "wasi:filesystem and wasi:sockets",
                "no directory is preopened, no socket opens",
            ),
        };
        return Err(cx.invalid(
            &plugin.name,
            "capabilities",
            format!(
                "a {language} plugin's runtime imports {imports} (inert in drover's sandbox: \
                 {inert}); add {} to its capabilities",
                missing.join(" and ")
            ),
        ));
    }
    let out = cx.output(plugin)?;
    let workdir = tempfile::Builder::new()
        .prefix(&format!("drover-build-{}-{}-", pack.name, plugin.name))
        .tempdir()
        .map_err(|source| BuildError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let staged = workdir.path().join("component.wasm");
    let started = Instant::now();
    tracing::info!(plugin = %plugin.name, language = source.language.as_str(), "building");
    match source.language {
        Language::Python => python::build(workdir.path(), plugin, &src, &staged)?,
        Language::Rust => rust::build(cx.root, plugin, &src, &staged)?,
        Language::JavaScript => js::build(workdir.path(), cx.root, plugin, &src, &staged)?,
    }
    let took = started.elapsed();
    // Copy then rename, so a failed copy never leaves half a component.
    let tmp = out.with_extension("wasm.tmp");
    fs::copy(&staged, &tmp).map_err(|source| BuildError::Io {
        path: tmp.clone(),
        source,
    })?;
    fs::rename(&tmp, &out).map_err(|source| BuildError::Io {
        path: out.clone(),
        source,
    })?;
    let bytes = fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    Ok(Built {
        plugin: plugin.name.clone(),
        language: source.language,
        component: out,
        bytes,
        took,
    })
}

/// The checks of a JavaScript source before its build: a file name the
/// build's own files do not take, and no `import {…} from "drover"` of an
/// undeclared host interface.
fn check_js(cx: &Site<'_>, plugin: &Plugin, src: &Path) -> Result<(), BuildError> {
    let rel = &plugin.source.as_ref().expect("a source").path;
    let name = src.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if js::RESERVED.contains(&name) {
        return Err(cx.invalid(
            &plugin.name,
            "source",
            format!(
                "{rel}: the build writes its own {name} beside the plugin's module; rename \
                 the file"
            ),
        ));
    }
    let text = fs::read_to_string(src).map_err(|e| {
        cx.invalid(
            &plugin.name,
            "source",
            format!("{rel} cannot be read as UTF-8 text ({e})"),
        )
    })?;
    if let Some((line, interface, capability)) = js::undeclared_imports(&text, &plugin.capabilities)
        .into_iter()
        .next()
    {
        return Err(BuildError::Manifest {
            manifest: src.to_owned(),
            line: Some(line),
            field: format!("import {{ {interface} }} from \"drover\""),
            message: format!(
                "plugin {} does not declare the `{capability}` capability; add {capability} \
                 to plugins.{}.capabilities in pack.yaml, or drop the import",
                plugin.name, plugin.name
            ),
        });
    }
    Ok(())
}

/// Writes `text` to `dir/rel`, creating the directories on the way.
pub(crate) fn write_file(dir: &Path, rel: &str, text: &str) -> Result<(), BuildError> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|source| BuildError::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    fs::write(&path, text).map_err(|source| BuildError::Io { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "\
name: p
version: 0.1.0
plugins:
  hello:
    kind: action
    source: actions/hello.py
    component: components/hello.wasm
    capabilities: [log, wasi:filesystem, wasi:sockets]
";

    /// A pack directory with `MANIFEST` (edited by `from` → `to`) and
    /// nothing else; the error `compile_sources` gives for it. Every check
    /// here comes before any toolchain runs.
    fn err(dir: &Path, from: &str, to: &str) -> String {
        fs::write(dir.join(MANIFEST_FILE), MANIFEST.replacen(from, to, 1)).unwrap();
        compile_sources(dir).unwrap_err().to_string()
    }

    fn at(dir: &Path, rest: &str) -> String {
        format!("{}:{rest}", dir.join(MANIFEST_FILE).display())
    }

    #[test]
    fn a_missing_source_is_named_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let e = err(dir.path(), "", "");
        assert!(
            e.starts_with(&at(
                dir.path(),
                "6: plugins.hello.source: actions/hello.py cannot be read"
            )),
            "{e}"
        );
    }

    #[test]
    fn a_symlink_out_of_the_pack_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("evil.py"), "import os\n").unwrap();
        fs::create_dir(dir.path().join("actions")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("evil.py"),
            dir.path().join("actions/hello.py"),
        )
        .unwrap();
        let e = err(dir.path(), "", "");
        assert!(
            e.starts_with(&at(
                dir.path(),
                "6: plugins.hello.source: actions/hello.py leads outside the pack directory"
            )),
            "{e}"
        );
        // A symlinked directory on the way counts the same.
        fs::remove_file(dir.path().join("actions/hello.py")).unwrap();
        fs::remove_dir(dir.path().join("actions")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("actions")).unwrap();
        let e = err(dir.path(), "actions/hello.py", "actions/evil.py");
        assert!(e.contains("leads outside the pack directory"), "{e}");
    }

    #[test]
    fn a_component_written_through_a_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("actions")).unwrap();
        fs::write(dir.path().join("actions/hello.py"), "").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("components")).unwrap();
        let e = err(dir.path(), "", "");
        assert!(
            e.starts_with(&at(
                dir.path(),
                "7: plugins.hello.component: components/hello.wasm leads outside the pack directory"
            )),
            "{e}"
        );
        fs::remove_file(dir.path().join("components")).unwrap();
        fs::create_dir(dir.path().join("components")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("components/hello.wasm"))
            .unwrap();
        let e = err(dir.path(), "", "");
        assert!(e.contains("components/hello.wasm is a symlink"), "{e}");
    }

    #[test]
    fn wrong_kinds_of_source_and_huge_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("actions/hello.py")).unwrap();
        let e = err(dir.path(), "", "");
        assert!(
            e.ends_with("plugins.hello.source: actions/hello.py is not a file"),
            "{e}"
        );
        let e = err(dir.path(), "actions/hello.py", "actions");
        assert!(
            e.contains("actions is not a Rust crate directory (no Cargo.toml in it)"),
            "{e}"
        );
        fs::write(
            dir.path().join("big.py"),
            vec![b'#'; MAX_SOURCE_BYTES as usize + 1],
        )
        .unwrap();
        let e = err(dir.path(), "actions/hello.py", "big.py");
        assert!(
            e.contains("big.py is 4194305 bytes, more than the 4194304"),
            "{e}"
        );
    }

    #[test]
    fn python_plugins_must_declare_the_wasi_their_runtime_imports() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("actions")).unwrap();
        fs::write(dir.path().join("actions/hello.py"), "").unwrap();
        let e = err(dir.path(), ", wasi:filesystem, wasi:sockets", "");
        assert!(
            e.starts_with(&at(
                dir.path(),
                "8: plugins.hello.capabilities: a Python plugin's runtime imports"
            )),
            "{e}"
        );
        assert!(
            e.ends_with("add wasi:filesystem and wasi:sockets to its capabilities"),
            "{e}"
        );
    }

    #[test]
    fn js_sources_are_checked_before_any_toolchain_runs() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("actions")).unwrap();
        fs::write(
            dir.path().join("actions/hello.js"),
            "// hi\nimport { action,\n  log, kv } from \"drover\";\n",
        )
        .unwrap();
        let js = |from: &str, to: &str| {
            let manifest = MANIFEST
                .replace("actions/hello.py", "actions/hello.js")
                .replace(", wasi:sockets", "");
            fs::write(
                dir.path().join(MANIFEST_FILE),
                manifest.replacen(from, to, 1),
            )
            .unwrap();
            compile_sources(dir.path()).unwrap_err().to_string()
        };
        let source = fs::canonicalize(dir.path().join("actions/hello.js")).unwrap();
        assert_eq!(
            js("", ""),
            format!(
                "{}:2: import {{ kv }} from \"drover\": plugin hello does not declare the `kv` \
                 capability; add kv to plugins.hello.capabilities in pack.yaml, or drop the import",
                source.display()
            )
        );
        let e = js("[log, wasi:filesystem]", "[log, kv]");
        assert!(
            e.starts_with(&at(
                dir.path(),
                "8: plugins.hello.capabilities: a JavaScript plugin's runtime imports \
                 wasi:filesystem (inert in drover's sandbox: no directory is preopened); add \
                 wasi:filesystem to its capabilities"
            )),
            "{e}"
        );
        fs::write(dir.path().join("actions/drover.js"), "").unwrap();
        let e = js("actions/hello.js", "actions/drover.js");
        assert!(
            e.contains("actions/drover.js: the build writes its own drover.js beside"),
            "{e}"
        );
    }

    #[test]
    fn an_invalid_manifest_is_the_manifest_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = err(dir.path(), "actions/hello.py", "../hello.py");
        assert!(
            e.contains("plugins.hello.source: source path \"../hello.py\" contains .."),
            "{e}"
        );
    }
}
