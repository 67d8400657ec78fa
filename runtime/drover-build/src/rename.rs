//! Renaming a built component's top-level export.
//!
//! componentize-py 0.25.1 links a world's top-level function exports into
//! the same symbol namespace as the libraries it links (libc, libpython),
//! under the export's bare name. An export named like a C function
//! (`poll`, `read`, `strlen`) then collides with libc's and wit-component's
//! linker panics ("one or more duplicate items detected"). So a Python
//! sensor is built exporting a stand-in name and the finished component's
//! export is renamed back: only the top-level export section is
//! rewritten, every other byte (nested modules and components included)
//! is copied as is, and the result is validated.

use wasm_encoder::reencode::{RoundtripReencoder, component_utils};
use wasm_encoder::{ComponentExportSection, RawSection};
use wasmparser::{Parser, Payload, Validator, WasmFeatures};

/// Why a component's export could not be renamed.
#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error("not a valid component: {0}")]
    Invalid(#[from] wasmparser::BinaryReaderError),
    #[error("the component does not export `{0}` at its top level")]
    Missing(String),
    #[error("the component already exports `{0}`")]
    Taken(String),
    #[error("re-encoding the export section: {0}")]
    Encode(String),
}

/// `component` with its top-level export `from` named `to`.
pub fn rename_export(component: &[u8], from: &str, to: &str) -> Result<Vec<u8>, RenameError> {
    let mut out = Vec::with_capacity(component.len());
    let mut renamed = false;
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(component) {
        let payload = payload?;
        match &payload {
            Payload::Version { encoding, .. } => {
                if depth == 0 {
                    if *encoding != wasmparser::Encoding::Component {
                        return Err(RenameError::Missing(from.to_owned()));
                    }
                    out.extend_from_slice(&component[..8]);
                }
                depth += 1;
                continue;
            }
            Payload::End(_) => {
                depth -= 1;
                continue;
            }
            _ => {}
        }
        if depth != 1 {
            // Inside a nested module or component: copied whole with it.
            continue;
        }
        if let Payload::ComponentExportSection(reader) = &payload {
            let mut section = ComponentExportSection::new();
            for export in reader.clone() {
                let mut export = export?;
                if export.name.name == to {
                    return Err(RenameError::Taken(to.to_owned()));
                }
                if export.name.name == from {
                    export.name.name = to;
                    renamed = true;
                }
                component_utils::parse_component_export(
                    &mut RoundtripReencoder,
                    &mut section,
                    export,
                )
                .map_err(|e| RenameError::Encode(e.to_string()))?;
            }
            // A section's `encode` writes its size and contents, not its id.
            out.push(wasm_encoder::ComponentSectionId::Export as u8);
            wasm_encoder::Encode::encode(&section, &mut out);
            continue;
        }
        if let Some((id, range)) = payload.as_section() {
            out.push(id);
            wasm_encoder::Encode::encode(
                &RawSection {
                    id,
                    data: &component[range],
                },
                &mut out,
            );
        }
    }
    if !renamed {
        return Err(RenameError::Missing(from.to_owned()));
    }
    Validator::new_with_features(WasmFeatures::all()).validate_all(&out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        Component, ComponentExportKind, ComponentImportSection, ComponentTypeRef,
        ComponentTypeSection, Module, ModuleSection,
    };

    /// A component importing one function `f` and exporting it under each
    /// of `exports`, with a nested core module (copied untouched).
    fn component(exports: &[&str]) -> Vec<u8> {
        let mut c = Component::new();
        c.section(&ModuleSection(&Module::new()));
        let mut types = ComponentTypeSection::new();
        types
            .function()
            .params(std::iter::empty::<(&str, wasm_encoder::ComponentValType)>())
            .result(None);
        c.section(&types);
        let mut imports = ComponentImportSection::new();
        imports.import("f", ComponentTypeRef::Func(0));
        c.section(&imports);
        let mut section = ComponentExportSection::new();
        for name in exports {
            section.export(*name, ComponentExportKind::Func, 0, None);
        }
        c.section(&section);
        c.finish()
    }

    fn exports(component: &[u8]) -> Vec<String> {
        let mut names = Vec::new();
        let mut depth = 0;
        for payload in Parser::new(0).parse_all(component) {
            match payload.unwrap() {
                Payload::Version { .. } => depth += 1,
                Payload::End(_) => depth -= 1,
                Payload::ComponentExportSection(r) if depth == 1 => {
                    names.extend(r.into_iter().map(|e| e.unwrap().name.name.to_owned()))
                }
                _ => {}
            }
        }
        names
    }

    #[test]
    fn renames_only_the_named_top_level_export() {
        let before = component(&["drover-sensor-poll", "on-message"]);
        let after = rename_export(&before, "drover-sensor-poll", "poll").unwrap();
        assert_eq!(exports(&after), ["poll", "on-message"]);
        // Everything else is byte for byte the same: only the name shrank.
        assert_eq!(after.len(), before.len() - "drover-sensor-".len());
    }

    #[test]
    fn refuses_what_it_cannot_rename() {
        let c = component(&["on-message"]);
        assert!(matches!(
            rename_export(&c, "drover-sensor-poll", "poll"),
            Err(RenameError::Missing(_))
        ));
        let c = component(&["drover-sensor-poll", "poll"]);
        assert!(matches!(
            rename_export(&c, "drover-sensor-poll", "poll"),
            Err(RenameError::Taken(_))
        ));
        // A core module, truncated bytes, not wasm at all.
        let module = Module::new().finish();
        assert!(rename_export(&module, "a", "b").is_err());
        let c = component(&["drover-sensor-poll"]);
        assert!(rename_export(&c[..c.len() - 3], "drover-sensor-poll", "poll").is_err());
        assert!(rename_export(b"not wasm", "a", "b").is_err());
        // A name the component model refuses is caught by validation.
        assert!(rename_export(&c, "drover-sensor-poll", "Not Kebab").is_err());
    }
}
