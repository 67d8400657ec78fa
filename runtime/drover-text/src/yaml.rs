//! Parsing a YAML document into a typed value with errors a person can act
//! on: syntax errors first (so they are about syntax), an empty document
//! named as such, then shape errors with the line, column and dotted path
//! of the field and serde's message in drover's words.
//!
//! Callers (pack manifests, rules) wrap [`YamlProblem`] in their own error
//! type, which adds the file name.

use serde::de::{DeserializeOwned, IgnoredAny};

use crate::explain_serde;

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
    if let Err(err) = serde_norway::from_str::<IgnoredAny>(text) {
        let location = err.location();
        return Err(YamlProblem {
            syntax: true,
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            path: String::new(),
            message: without_location(&err.to_string(), location.as_ref()),
        });
    }
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
