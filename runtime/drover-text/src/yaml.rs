//! Parsing a YAML document into a typed value with errors a person can act
//! on: syntax errors first (so they are about syntax), an empty document
//! named as such, then shape errors with the line, column and dotted path
//! of the field and serde's message in drover's words.
//!
//! Callers (pack manifests, rules) wrap [`YamlProblem`] in their own error
//! type, which adds the file name.
//!
//! Documents may come from a hostile pack, so they are bounded before they
//! are built: [`read_file`] refuses a file over [`MAX_FILE_BYTES`], and
//! [`check`] (the first pass of [`deserialize`]) walks the document as the
//! deserializer will see it, aliases expanded, and refuses one of more than
//! [`MAX_VALUES`] values without building any of them: a "billion laughs"
//! of a few hundred bytes costs a few milliseconds, not gigabytes. (The
//! YAML library limits nesting to 128 levels itself.)

use std::cell::Cell;
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};

use crate::explain_serde;

/// Largest YAML file drover reads from a pack (manifest, rules, policies,
/// workflows).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Most values (scalars, lists, maps; aliases counted as what they expand
/// to) in one YAML document.
pub const MAX_VALUES: usize = 250_000;

/// Values allowed per byte of text (at least [`MIN_VALUES`], at most
/// [`MAX_VALUES`]): written out, a value takes two bytes or more, so only
/// aliases go past this, and a small bomb is stopped after a few thousand
/// values, before the YAML library's own (unlocated) limit on aliases.
pub const VALUES_PER_BYTE: usize = 16;

/// The budget of values of the smallest documents.
pub const MIN_VALUES: usize = 10_000;

/// The most values `text` may hold with its aliases expanded.
pub fn max_values(text: &str) -> usize {
    text.len()
        .saturating_mul(VALUES_PER_BYTE)
        .clamp(MIN_VALUES, MAX_VALUES)
}

/// Reads a text file of at most [`MAX_FILE_BYTES`]; a larger one (or an
/// endless one, such as a link to `/dev/zero`) is an `InvalidData` error
/// that says so.
pub fn read_file(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the file is larger than {} KiB, the most drover reads for one pack file",
                MAX_FILE_BYTES >> 10
            ),
        ));
    }
    Ok(text)
}

/// Checks that `text` is well-formed YAML of at most [`max_values`] values
/// once aliases are expanded, in constant memory (beyond the parser's
/// events). Errors are `syntax` problems with the place (and field) where
/// the limit was crossed.
pub fn check(text: &str) -> Result<(), YamlProblem> {
    let budget = max_values(text);
    let left = Cell::new(budget);
    let result = Counter {
        left: &left,
        budget,
    }
    .deserialize(serde_norway::Deserializer::from_str(text));
    result.map_err(|err| {
        let location = err.location();
        let mut message = without_location(&err.to_string(), location.as_ref());
        if message.starts_with("repetition limit exceeded") {
            // The YAML library's own bound on alias expansions.
            message = too_many_values(budget);
        }
        YamlProblem {
            syntax: true,
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            path: String::new(),
            message,
        }
    })
}

fn too_many_values(budget: usize) -> String {
    format!(
        "the document holds more than {budget} values once its aliases are expanded (an \
         alias `*name` repeats everything its anchor `&name` holds); write the values out \
         instead of nesting aliases"
    )
}

/// Counts every value it is shown against a shared budget, keeping none.
#[derive(Clone, Copy)]
struct Counter<'a> {
    left: &'a Cell<usize>,
    budget: usize,
}

impl Counter<'_> {
    fn charge<E: de::Error>(&self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(n) => {
                self.left.set(n);
                Ok(())
            }
            None => Err(E::custom(too_many_values(self.budget))),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! count_scalar {
    ($($name:ident: $ty:ty),*) => {$(
        fn $name<E: de::Error>(self, _: $ty) -> Result<(), E> {
            self.charge()
        }
    )*};
}

impl<'de> Visitor<'de> for Counter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    count_scalar!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128,
        visit_u128: u128, visit_f64: f64, visit_str: &str, visit_bytes: &[u8]);

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.charge()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.charge()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.charge()?;
        self.deserialize(d)
    }

    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.charge()?;
        self.deserialize(d)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.charge()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.charge()?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged value (`!tag value`).
        use de::VariantAccess;
        self.charge()?;
        let ((), variant) = data.variant_seed(self)?;
        variant.newtype_variant_seed(self)
    }
}

/// Why a document did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlProblem {
    /// Not well-formed YAML (as opposed to YAML of the wrong shape).
    pub syntax: bool,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted path of the offending field; empty for the whole document.
    pub path: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

/// Parses `text` as a `T`. `empty` is the message for a document with
/// nothing in it (say what to write); `hidden` leaves keys out of the
/// "valid keys" lists (see [`explain_serde`]).
pub fn deserialize<T: DeserializeOwned>(
    text: &str,
    empty: &str,
    hidden: impl Fn(&str, &[&str]) -> bool,
) -> Result<T, YamlProblem> {
    check(text)?;
    if text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---"
    }) {
        return Err(YamlProblem {
            syntax: false,
            line: None,
            column: None,
            path: String::new(),
            message: empty.to_owned(),
        });
    }
    serde_path_to_error::deserialize(serde_norway::Deserializer::from_str(text)).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let location = inner.location();
        let message = without_location(&inner.to_string(), location.as_ref());
        YamlProblem {
            syntax: false,
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            message: explain_serde(strip_path(&message, &path), hidden),
            path,
        }
    })
}

/// The YAML library's message without its trailing ` at line L column C`.
pub fn without_location(message: &str, location: Option<&serde_norway::Location>) -> String {
    match location {
        Some(l) => message.replacen(
            &format!(" at line {} column {}", l.line(), l.column()),
            "",
            1,
        ),
        None => message.to_owned(),
    }
}

/// The message without the YAML library's own `path: ` prefix (we print
/// ours). Keys may contain dots (`trigger.node`), and errors about a map
/// key carry the parent's path, so every dotted prefix is tried.
fn strip_path<'a>(message: &'a str, path: &str) -> &'a str {
    let mut prefixes: Vec<&str> = path.match_indices('.').map(|(i, _)| &path[..i]).collect();
    prefixes.push(path);
    prefixes
        .into_iter()
        .rev()
        .filter(|prefix| !prefix.is_empty())
        .find_map(|prefix| message.strip_prefix(prefix)?.strip_prefix(": "))
        .unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        timeout: Option<u32>,
    }

    fn parse(text: &str) -> Result<Doc, YamlProblem> {
        deserialize(text, "write a name", |_, _| false)
    }

    #[test]
    fn syntax_errors_come_first_with_their_place() {
        let err = parse("name: [unclosed\n").unwrap_err();
        assert!(err.syntax);
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("flow sequence"), "{}", err.message);
    }

    #[test]
    fn alias_bombs_are_refused_without_building_them() {
        let mut text = String::from("name: x\nl0: &l0 [a, a, a, a, a, a, a, a, a, a]\n");
        for i in 1..10 {
            let p = i - 1;
            let row = vec![format!("*l{p}"); 10].join(", ");
            text.push_str(&format!("l{i}: &l{i} [{row}]\n"));
        }
        let started = std::time::Instant::now();
        let err = check(&text).unwrap_err();
        assert!(err.message.contains("more than 10000 values"), "{err:?}");
        assert!(err.message.starts_with("l"), "names the field: {err:?}");
        // Wide rather than deep: past the library's own bound on aliases,
        // still under its count of expansions.
        let wide = format!(
            "a: &a [{}]\nb: [{}]\n",
            vec!["x"; 1000].join(", "),
            vec!["*a"; 1000].join(", ")
        );
        let err = check(&wide).unwrap_err();
        assert!(err.message.contains("values once its aliases"), "{err:?}");
        assert_eq!(max_values(&"x".repeat(1 << 20)), MAX_VALUES);
        assert!(err.line.is_some(), "{err:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Ordinary aliases are fine.
        check("a: &x [1, 2]\nb: *x\nc: !tagged 3\n").unwrap();
    }

    #[test]
    fn big_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("drover-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.yaml");
        std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        let err = read_file(&big).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("larger than 1024 KiB"), "{err}");
        std::fs::write(&big, "a: 1\n").unwrap();
        assert_eq!(read_file(&big).unwrap(), "a: 1\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_empty_document_says_what_to_write() {
        let err = parse("# nothing\n---\n").unwrap_err();
        assert!(!err.syntax);
        assert_eq!(err.message, "write a name");
    }

    #[test]
    fn shape_errors_name_the_field_and_suggest() {
        let err = parse("name: x\ntimout: 3\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert_eq!(
            err.message,
            "unknown key \"timout\"; did you mean \"timeout\"? (valid keys: name, timeout)"
        );
        let err = parse("name: x\ntimeout: soon\n").unwrap_err();
        assert_eq!(err.path, "timeout");
        assert!(err.message.starts_with("invalid type"), "{}", err.message);
    }
}
