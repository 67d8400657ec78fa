//! Reading a pack directory: `pack.yaml` plus every plugin's component file
//! (or, for a `runner: workflow` action, its workflow file's text).
//!
//! Owns file I/O for packs and the cheap check that a file is a WebAssembly
//! *component* (not a core module, not something else) by its 8-byte header.
//! Whether the component really implements its world, or imports only what it
//! declared, is `drover-host`'s job at install time.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::PackError;
use crate::manifest::parse_manifest;
use crate::pack::Pack;

/// The manifest's file name inside a pack directory.
pub const MANIFEST_FILE: &str = "pack.yaml";

/// `\0asm`: the first four bytes of every WebAssembly binary.
const WASM_MAGIC: [u8; 4] = *b"\0asm";
/// Version and layer of a component binary (version 0x0d, layer 1).
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
/// Version and layer of a core module (version 1, layer 0).
const CORE_MODULE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

/// A pack read from disk: its validated manifest and its component files.
#[derive(Debug, Clone)]
pub struct PackSource {
    /// The pack directory, as given.
    pub dir: PathBuf,
    /// `<dir>/pack.yaml`.
    pub manifest_path: PathBuf,
    /// The validated manifest.
    pub pack: Pack,
    /// Every plugin's component, by plugin name.
    pub components: BTreeMap<String, ComponentFile>,
}

/// One component file: where it is, its bytes, and their digest.
#[derive(Debug, Clone)]
pub struct ComponentFile {
    /// `<dir>/<component path from the manifest>`.
    pub path: PathBuf,
    /// The whole file.
    pub bytes: Vec<u8>,
    /// `Digest::of(&bytes)`.
    pub digest: Digest,
}

/// Reads `<dir>/pack.yaml` and every plugin's component file, checking that
/// each is a WebAssembly component.
pub fn load_pack_dir(dir: &Path) -> Result<PackSource, PackError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let text = drover_text::yaml::read_file(&manifest_path).map_err(|source| PackError::Io {
        path: manifest_path.clone(),
        source,
    })?;
    let mut pack = parse_manifest(&manifest_path, &text)?;
    let mut components = BTreeMap::new();
    for plugin in &mut pack.plugins {
        if let Some(workflow) = &mut plugin.workflow {
            // A workflow action: its file's text travels with the manifest.
            let path = dir.join(&workflow.entry);
            workflow.text =
                drover_text::yaml::read_file(&path).map_err(|source| PackError::Io {
                    path: path.clone(),
                    source,
                })?;
            continue;
        }
        let path = dir.join(&plugin.component);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(PackError::MissingComponent {
                    pack: pack.name.clone(),
                    plugin: plugin.name.clone(),
                    path,
                });
            }
            Err(source) => return Err(PackError::Io { path, source }),
        };
        if let Err(detail) = check_component_header(&bytes) {
            return Err(PackError::NotAComponent { path, detail });
        }
        let digest = Digest::of(&bytes);
        components.insert(
            plugin.name.clone(),
            ComponentFile {
                path,
                bytes,
                digest,
            },
        );
    }
    Ok(PackSource {
        dir: dir.to_owned(),
        manifest_path,
        pack,
        components,
    })
}

/// Ok if `bytes` starts like a WebAssembly component; otherwise what it is
/// instead and how to get a component.
pub(crate) fn check_component_header(bytes: &[u8]) -> Result<(), String> {
    let (magic, version) = match bytes {
        [m0, m1, m2, m3, v0, v1, v2, v3, ..] => ([*m0, *m1, *m2, *m3], [*v0, *v1, *v2, *v3]),
        _ if bytes.is_empty() => return Err("the file is empty".into()),
        _ => {
            return Err(format!(
                "the file is only {} bytes long, too short for a WebAssembly header",
                bytes.len()
            ));
        }
    };
    if magic != WASM_MAGIC {
        return Err(
            "it is not WebAssembly (it does not start with \\0asm); point `component:` at the \
             .wasm file your build produces"
                .into(),
        );
    }
    match version {
        COMPONENT_VERSION => Ok(()),
        CORE_MODULE_VERSION => Err(
            "it is a core WebAssembly module, not a component; build for the wasm32-wasip2 \
             target (which emits components), or wrap the module with `wasm-tools component new`"
                .into(),
        ),
        other => Err(format!(
            "unsupported WebAssembly version/layer {}; expected a component ({})",
            hex::encode(other),
            hex::encode(COMPONENT_VERSION)
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    const MANIFEST: &str = "\
name: demo
version: 0.1.0
plugins:
  echo:
    kind: action
    component: components/echo.wasm
  tick:
    kind: sensor
    component: tick.wasm
";

    /// A file that starts like a component; the rest does not matter here.
    fn component(body: &[u8]) -> Vec<u8> {
        let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
        bytes.extend_from_slice(body);
        bytes
    }

    /// A pack directory with `MANIFEST` and the given files.
    fn pack_dir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(MANIFEST_FILE), MANIFEST).unwrap();
        for (name, bytes) in files {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, bytes).unwrap();
        }
        dir
    }

    #[test]
    fn loads_manifest_and_components() {
        let echo = component(b"echo");
        let tick = component(b"tick");
        let dir = pack_dir(&[("components/echo.wasm", &echo), ("tick.wasm", &tick)]);
        let source = load_pack_dir(dir.path()).unwrap();
        assert_eq!(source.dir, dir.path());
        assert_eq!(source.manifest_path, dir.path().join("pack.yaml"));
        assert_eq!(source.pack.reference(), "demo@0.1.0");
        assert_eq!(source.components.len(), 2);
        let file = &source.components["echo"];
        assert_eq!(file.path, dir.path().join("components/echo.wasm"));
        assert_eq!(file.bytes, echo);
        assert_eq!(file.digest, Digest::of(&echo));
        assert_ne!(source.components["tick"].digest, file.digest);
        // Same bytes, same digest, on every load.
        assert_eq!(
            load_pack_dir(dir.path()).unwrap().components["echo"].digest,
            file.digest
        );
    }

    #[test]
    fn missing_component() {
        let dir = pack_dir(&[("tick.wasm", &component(b""))]);
        let err = load_pack_dir(dir.path()).unwrap_err();
        let path = dir.path().join("components/echo.wasm");
        assert!(
            matches!(&err, PackError::MissingComponent { pack, plugin, path: p }
            if pack == "demo" && plugin == "echo" && *p == path)
        );
        assert_eq!(
            err.to_string(),
            format!(
                "demo.echo: component {} does not exist; build it with `cargo xtask build` \
                 (bundled packs) or your pack's own build",
                path.display()
            )
        );
    }

    #[test]
    fn core_module_is_not_a_component() {
        let dir = pack_dir(&[
            ("components/echo.wasm", b"\0asm\x01\x00\x00\x00rest"),
            ("tick.wasm", &component(b"")),
        ]);
        let err = load_pack_dir(dir.path()).unwrap_err();
        assert!(matches!(err, PackError::NotAComponent { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains(
                "echo.wasm is not a WebAssembly component: it is a core WebAssembly module"
            ),
            "{message}"
        );
        assert!(message.contains("wasm32-wasip2"), "{message}");
    }

    #[test]
    fn garbage_is_not_a_component() {
        let dir = pack_dir(&[
            ("components/echo.wasm", &component(b"")),
            ("tick.wasm", b"#!/bin/sh\necho hi\n"),
        ]);
        let message = load_pack_dir(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("tick.wasm is not a WebAssembly component: it is not WebAssembly"),
            "{message}"
        );
    }

    #[test]
    fn headers() {
        assert_eq!(check_component_header(&component(b"")), Ok(()));
        assert_eq!(check_component_header(b""), Err("the file is empty".into()));
        assert!(
            check_component_header(b"\0asm")
                .unwrap_err()
                .contains("only 4 bytes")
        );
        assert!(
            check_component_header(b"\0asm\x0e\x00\x01\x00")
                .unwrap_err()
                .contains("0e000100")
        );
    }

    #[test]
    fn unreadable_or_invalid_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_pack_dir(dir.path()).unwrap_err();
        assert!(matches!(err, PackError::Io { .. }), "{err:?}");
        let manifest = dir.path().join("pack.yaml");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read {}: ", manifest.display()))
        );

        fs::write(&manifest, "name: demo\nversion: 1\nplugins: {}\n").unwrap();
        let err = load_pack_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}:2:10: version: invalid version",
                manifest.display()
            )),
            "{err}"
        );
    }
}
