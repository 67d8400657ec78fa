//! Validating newtypes for the scalar fields of `pack.yaml`.
//!
//! Each type checks its value inside its own `Deserialize`, so the YAML
//! deserializer attaches the line and column of the offending value to the
//! error. They are private to the crate: [`crate::manifest`] unwraps them into
//! the plain types of [`crate::pack`]. Messages say what is wrong and what to
//! write instead; the caller prefixes file, line and field path.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::time::Duration;

use drover_policy::Capability;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::pack::{Language, Limits, MAX_NAME_LEN, PluginSource, is_name};
use crate::params::JSON_TYPES;
use drover_text::closest;

/// Implements `Deserialize` for a type parsed from one string by `parse`.
macro_rules! from_str_field {
    ($ty:ty, $expecting:literal, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$ty, E> {
                        let parse: fn(&str) -> Result<$ty, String> = $parse;
                        parse(s).map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(V)
            }
        }
    };
}

/// A pack, plugin or parameter name: `[a-z][a-z0-9_]*`, at most 64 characters.
#[derive(Debug, Clone)]
pub(crate) struct Name(pub String);

from_str_field!(Name, "a name such as core or echo", parse_name);

fn parse_name(s: &str) -> Result<Name, String> {
    if is_name(s) {
        return Ok(Name(s.to_owned()));
    }
    let fixed: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '-' | '.' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let instead = if is_name(&fixed) {
        format!("write {fixed:?}")
    } else {
        "e.g. core or node_reboot".to_owned()
    };
    Err(format!(
        "invalid name {s:?}: use lowercase letters, digits and _, starting with a letter, \
         at most {MAX_NAME_LEN} characters ({instead})"
    ))
}

/// A semantic version, `major.minor.patch[-pre][+build]`.
#[derive(Debug, Clone)]
pub(crate) struct Version(pub String);

from_str_field!(Version, "a version such as 0.1.0", parse_version);

fn parse_version(s: &str) -> Result<Version, String> {
    if is_semver(s) {
        return Ok(Version(s.to_owned()));
    }
    let core = s.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let example = if parts.len() < 3 && parts.iter().all(|p| is_numeric_id(p)) {
        let mut padded = parts.clone();
        padded.resize(3, "0");
        format!("write {:?}", padded.join("."))
    } else {
        "e.g. 0.1.0 or 1.2.0-rc.1".to_owned()
    };
    Err(format!(
        "invalid version {s:?}: write a semantic version major.minor.patch[-pre][+build] ({example})"
    ))
}

fn is_semver(s: &str) -> bool {
    let (rest, build) = match s.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (s, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let ident =
        |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let core_ok = {
        let parts: Vec<&str> = core.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| is_numeric_id(p) && p.parse::<u64>().is_ok())
    };
    let pre_ok = pre.is_none_or(|pre| {
        pre.split('.')
            .all(|id| ident(id) && (!id.bytes().all(|b| b.is_ascii_digit()) || is_numeric_id(id)))
    });
    let build_ok = build.is_none_or(|build| build.split('.').all(ident));
    core_ok && pre_ok && build_ok
}

/// Digits without a leading zero (except `0` itself).
fn is_numeric_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

/// A call timeout, humantime text within [`Limits::MIN_TIMEOUT`]..=[`Limits::MAX_TIMEOUT`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeout(pub Duration);

from_str_field!(Timeout, "a duration such as 30s", parse_timeout);

fn parse_timeout(s: &str) -> Result<Timeout, String> {
    const EXAMPLE: &str = "write e.g. 30s, 2m, 1h";
    let d = humantime::parse_duration(s).map_err(|_| {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            format!("invalid duration {s:?}: add a unit ({EXAMPLE})")
        } else {
            format!("invalid duration {s:?} ({EXAMPLE})")
        }
    })?;
    let show = |d: Duration| humantime::format_duration(d).to_string();
    if d < Limits::MIN_TIMEOUT {
        Err(format!(
            "timeout {s:?} is too short: write at least {}",
            show(Limits::MIN_TIMEOUT)
        ))
    } else if d > Limits::MAX_TIMEOUT {
        Err(format!(
            "timeout {s:?} is too long: write at most {} (longer work belongs in a workflow)",
            show(Limits::MAX_TIMEOUT)
        ))
    } else {
        Ok(Timeout(d))
    }
}

/// A byte size such as `64MiB`, within `MIN..=MAX` bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Size<const MIN: u64, const MAX: u64>(pub u64);

/// `memory:` of a plugin.
pub(crate) type MemorySize = Size<{ Limits::MIN_MEMORY }, { Limits::MAX_MEMORY }>;
/// `output:` of a plugin.
pub(crate) type OutputSize = Size<{ Limits::MIN_OUTPUT }, { Limits::MAX_OUTPUT }>;

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Size<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<const MIN: u64, const MAX: u64>;
        impl<'de, const MIN: u64, const MAX: u64> Visitor<'de> for V<MIN, MAX> {
            type Value = Size<MIN, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 64MiB")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                parse_size(s, MIN, MAX).map(Size).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V::<MIN, MAX>)
    }
}

fn parse_size(s: &str, min: u64, max: u64) -> Result<u64, String> {
    const EXAMPLE: &str = "write e.g. 64MiB, 512KiB, 1GiB";
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid size {s:?}: add a unit ({EXAMPLE})"));
    }
    let bytes = bytesize::ByteSize::from_str(s)
        .map_err(|_| format!("invalid size {s:?} ({EXAMPLE})"))?
        .as_u64();
    if bytes < min {
        Err(format!(
            "size {s:?} is too small: write at least {}",
            show_bytes(min)
        ))
    } else if bytes > max {
        Err(format!(
            "size {s:?} is too large: write at most {}",
            show_bytes(max)
        ))
    } else {
        Ok(bytes)
    }
}

/// `512 MiB`, `1 KiB`, `1000 bytes`: exact, in the largest binary unit that divides.
pub(crate) fn show_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(unit, _)| n >= *unit && n.is_multiple_of(*unit))
        .map(|(unit, name)| format!("{} {name}", n / unit))
        .unwrap_or_else(|| format!("{n} bytes"))
}

/// A component path: relative, inside the pack directory, `/`-separated.
#[derive(Debug, Clone)]
pub(crate) struct ComponentPath(pub String);

from_str_field!(
    ComponentPath,
    "a path such as components/core_echo.wasm",
    parse_component_path
);

fn parse_component_path(s: &str) -> Result<ComponentPath, String> {
    const EXAMPLE: &str = "e.g. components/core_echo.wasm";
    let problem = if s.trim().is_empty() {
        Some("is empty")
    } else if s.contains('\\') {
        Some("contains \\; separate directories with /")
    } else if s.starts_with('/') || s.as_bytes().get(1) == Some(&b':') {
        Some("is absolute")
    } else if s.split('/').any(|part| part == "..") {
        Some("contains .. and so may leave the pack directory")
    } else {
        None
    };
    match problem {
        None => Ok(ComponentPath(s.to_owned())),
        Some(problem) => Err(format!(
            "component path {s:?} {problem}: write a path relative to the pack directory ({EXAMPLE})"
        )),
    }
}

/// A plugin's source (`source:`): a `.py` or `.js` file, or a Rust crate
/// directory (no extension), relative and inside the pack. The language
/// follows from the name.
#[derive(Debug, Clone)]
pub(crate) struct SourcePath(pub PluginSource);

from_str_field!(
    SourcePath,
    "a path such as actions/ping_many.py",
    parse_source_path
);

/// Module names a Python source may not take: the SDK's and the build's own.
const PYTHON_TAKEN: &[&str] = &[
    "drover",
    "drover_entry",
    "wit_world",
    "componentize_py_types",
];

fn parse_source_path(s: &str) -> Result<SourcePath, String> {
    const EXAMPLE: &str = "e.g. actions/ping_many.py, actions/ping_many.js or a Rust crate directory such as plugins/ping_many";
    let path = parse_component_path(s).map_err(|e| {
        e.replacen("component path", "source path", 1)
            .replace("e.g. components/core_echo.wasm", EXAMPLE)
    })?;
    let trimmed = path.0.trim_end_matches('/');
    let file = trimmed.rsplit('/').next().unwrap_or(trimmed);
    let language = match file.rsplit_once('.') {
        None => Language::Rust,
        Some((_, "py")) => Language::Python,
        Some((_, "js" | "mjs")) => Language::JavaScript,
        Some((_, ext)) => {
            return Err(format!(
                "source {s:?} has an unknown extension .{ext}: write a .py (Python) or .js \
                 (JavaScript) file, or a Rust crate directory ({EXAMPLE})"
            ));
        }
    };
    if language == Language::Python {
        let stem = file.trim_end_matches(".py");
        let module_name = stem
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !module_name {
            return Err(format!(
                "source {s:?}: {stem:?} is not a Python module name: use letters, digits and _ \
                 (e.g. actions/ping_many.py)"
            ));
        }
        if PYTHON_TAKEN.contains(&stem) {
            return Err(format!(
                "source {s:?}: the module name {stem:?} is taken by the SDK or the build: \
                 rename the file"
            ));
        }
    }
    Ok(SourcePath(PluginSource {
        path: trimmed.to_owned(),
        language,
    }))
}

/// A workflow file of a `runner: workflow` action: relative, inside the
/// pack, `.yaml` or `.yml`.
#[derive(Debug, Clone)]
pub(crate) struct EntryPath(pub String);

from_str_field!(
    EntryPath,
    "a path such as workflows/handle_no_contact.yaml",
    parse_entry_path
);

fn parse_entry_path(s: &str) -> Result<EntryPath, String> {
    match parse_component_path(s) {
        Err(e) => Err(e.replacen("component path", "entry path", 1).replace(
            "e.g. components/core_echo.wasm",
            "e.g. workflows/handle_no_contact.yaml",
        )),
        Ok(_) if !(s.ends_with(".yaml") || s.ends_with(".yml")) => Err(format!(
            "entry path {s:?} is not a .yaml file: point it at the workflow, e.g. workflows/handle_no_contact.yaml"
        )),
        Ok(p) => Ok(EntryPath(p.0)),
    }
}

/// A JSON Schema `type`: one type name or a list of them.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum SchemaType {
    One(String),
    Many(Vec<String>),
}

/// One JSON Schema type name.
struct TypeName(String);

from_str_field!(
    TypeName,
    "a JSON Schema type such as string",
    parse_type_name
);

fn parse_type_name(s: &str) -> Result<TypeName, String> {
    if JSON_TYPES.contains(&s) {
        return Ok(TypeName(s.to_owned()));
    }
    let hint = match closest(s, JSON_TYPES) {
        Some(near) => format!("; did you mean {near:?}?"),
        None => String::new(),
    };
    Err(format!(
        "unknown type {s:?}{hint} (valid types: {})",
        JSON_TYPES.join(", ")
    ))
}

impl<'de> Deserialize<'de> for SchemaType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SchemaType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON Schema type such as string, or a list of them")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SchemaType, E> {
                parse_type_name(s)
                    .map(|t| SchemaType::One(t.0))
                    .map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SchemaType, A::Error> {
                let mut types = Vec::new();
                while let Some(TypeName(t)) = seq.next_element()? {
                    types.push(t);
                }
                Ok(SchemaType::Many(types))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A plugin's `capabilities:` list: known names, each at most once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Capabilities(pub Vec<Capability>);

impl<'de> Deserialize<'de> for Capabilities {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Capabilities;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of capabilities such as [log, kv]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Capabilities, A::Error> {
                let mut caps = Vec::new();
                while let Some(cap) = seq.next_element_seed(CapabilitySeed { seen: &caps })? {
                    caps.push(cap);
                }
                Ok(Capabilities(caps))
            }
        }
        deserializer.deserialize_seq(V)
    }
}

/// Parses one capability, refusing one already in `seen` (so the error points at the repeat).
struct CapabilitySeed<'a> {
    seen: &'a [Capability],
}

impl<'de> DeserializeSeed<'de> for CapabilitySeed<'_> {
    type Value = Capability;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Capability, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for CapabilitySeed<'_> {
    type Value = Capability;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a capability such as log")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Capability, E> {
        let cap = Capability::from_str(s).map_err(E::custom)?;
        if cap == Capability::Subscribe {
            // A sensor's `subscriptions:` declare it, each one exactly.
            return Err(E::custom(
                "\"subscribe\" is not listed under capabilities: a sensor's `subscriptions:` \
                 declare what it subscribes to, and an operator grants them \
                 (drover grant add PACK@VERSION subscribe --scope 'nats:SUBJECT')",
            ));
        }
        if self.seen.contains(&cap) {
            return Err(E::custom(format!(
                "capability \"{cap}\" is listed twice; list each capability once"
            )));
        }
        Ok(cap)
    }
}

/// A YAML map with [`Name`] keys, kept in declaration order; a repeated key is
/// an error pointing at the repeat. `what` names the keys in messages.
#[derive(Debug, Clone)]
pub(crate) struct NamedMap<V, W> {
    pub entries: Vec<(String, V)>,
    what: PhantomData<W>,
}

/// What the keys of a [`NamedMap`] are, for messages ("plugin", "parameter").
pub(crate) trait KeyKind {
    const WHAT: &'static str;
}

impl<'de, V: Deserialize<'de>, W: KeyKind> Deserialize<'de> for NamedMap<V, W> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V, W>(PhantomData<(V, W)>);
        impl<'de, V: Deserialize<'de>, W: KeyKind> Visitor<'de> for MapVisitor<V, W> {
            type Value = NamedMap<V, W>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a map from {} name to its definition", W::WHAT)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, V)> = Vec::new();
                while let Some(name) = map.next_key_seed(KeySeed {
                    seen: &entries,
                    what: W::WHAT,
                })? {
                    let value = map.next_value()?;
                    entries.push((name, value));
                }
                Ok(NamedMap {
                    entries,
                    what: PhantomData,
                })
            }
        }
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

/// Parses one map key as a [`Name`], refusing a repeat.
struct KeySeed<'a, V> {
    seen: &'a [(String, V)],
    what: &'static str,
}

impl<'de, V> DeserializeSeed<'de> for KeySeed<'_, V> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, V> Visitor<'de> for KeySeed<'_, V> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} name", self.what)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        let Name(name) = parse_name(s).map_err(E::custom)?;
        if self.seen.iter().any(|(seen, _)| *seen == name) {
            return Err(E::custom(format!(
                "{} {name:?} is declared twice; declare it once",
                self.what
            )));
        }
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver() {
        for good in [
            "0.1.0",
            "1.2.3",
            "10.20.30",
            "1.0.0-rc.1",
            "1.0.0-alpha-1+build.5",
            "1.0.0+20240101",
        ] {
            assert!(is_semver(good), "{good}");
        }
        for bad in [
            "",
            "1",
            "1.0",
            "1.0.0.0",
            "01.0.0",
            "1.0.0-",
            "1.0.0-01",
            "1.0.0+",
            "v1.0.0",
            "1.x.0",
            "1.0.0-a..b",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
        assert!(
            parse_version("1.0")
                .unwrap_err()
                .contains(r#"write "1.0.0""#)
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB", 1, u64::MAX), Ok(64 << 20));
        assert_eq!(parse_size("64 MiB", 1, u64::MAX), Ok(64 << 20));
        assert_eq!(parse_size("1KiB", 1, u64::MAX), Ok(1024));
        assert!(
            parse_size("64", 1, u64::MAX)
                .unwrap_err()
                .contains("add a unit")
        );
        assert_eq!(show_bytes(512 << 20), "512 MiB");
        assert_eq!(show_bytes(1 << 30), "1 GiB");
        assert_eq!(show_bytes(1000), "1000 bytes");
    }

    #[test]
    fn component_paths() {
        for good in ["components/x.wasm", "x.wasm", "./a/b.wasm", "a..b.wasm"] {
            assert!(parse_component_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/abs/x.wasm",
            "../x.wasm",
            "a/../../x.wasm",
            "a\\x.wasm",
            "C:/x.wasm",
        ] {
            assert!(parse_component_path(bad).is_err(), "{bad}");
        }
    }
}
