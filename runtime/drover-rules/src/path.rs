//! Criteria keys: `trigger.a.b`, `trigger.headers['X-Key']`,
//! `trigger.items[1].name`, and the `#tag` suffix that lets one rule test a
//! key twice.
//!
//! st2 reads a key as a JSONPath (`jsonpath_rw`) over `{"trigger": payload}`
//! after cutting it at its first `#`. This module owns the subset drover
//! accepts and its resolution against a JSON payload:
//!
//! | syntax               | meaning                                          |
//! |----------------------|--------------------------------------------------|
//! | `trigger`            | the whole payload (`item` inside `search`)       |
//! | `.name`              | a key made of letters, digits, `_` and `@`       |
//! | `.'a-b'`, `["a b"]`  | any key, quoted                                  |
//! | `[2]`                | an element of a list (from 0)                    |
//! | `.*`                 | every value of a dict                            |
//! | `[*]`                | every element of a list (a non-list is itself)   |
//!
//! With `*`, several values may match; like st2, the first one (in list
//! order, or key order for dicts) is the value tested. JSONPath's `..`,
//! slices, unions and filters are refused with a message. Resolution tells a
//! missing key from a JSON `null` ([`Resolved`]); the operators then treat
//! both as Python's `None`, as st2 does, but the tester shows which it was.

use std::fmt;

use serde_json::Value;

/// Where a key path starts: the trigger payload, or one list item inside a
/// `search` criterion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Root {
    /// `trigger`: the trigger instance's payload.
    Trigger,
    /// `item`: the list element a `search` criterion is looking at.
    Item,
}

impl Root {
    /// The word a key starts with.
    pub fn name(self) -> &'static str {
        match self {
            Root::Trigger => "trigger",
            Root::Item => "item",
        }
    }
}

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// A dict key.
    Key(String),
    /// A list index, from 0.
    Index(usize),
    /// `.*`: every value of a dict.
    AnyValue,
    /// `[*]`: every element of a list.
    AnyElement,
}

/// A parsed key path (without its `#tag`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyPath {
    root: Root,
    steps: Vec<Step>,
}

/// What a path finds in a payload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Resolved<'a> {
    /// No such key (or index) in the payload.
    Missing,
    /// The value there, which may be JSON `null`.
    Found(&'a Value),
}

impl<'a> Resolved<'a> {
    /// The value as st2's operators see it: `None` for missing and `null`.
    pub fn as_python(self) -> Option<&'a Value> {
        match self {
            Resolved::Found(v) if !v.is_null() => Some(v),
            _ => None,
        }
    }

    /// The value, if the key exists.
    pub fn found(self) -> Option<&'a Value> {
        match self {
            Resolved::Found(v) => Some(v),
            Resolved::Missing => None,
        }
    }
}

/// Splits a criteria key at its first `#`, as st2 does: `trigger.a#2` is the
/// key `trigger.a` with the tag `2`.
pub fn split_tag(key: &str) -> (&str, Option<&str>) {
    match key.split_once('#') {
        Some((path, tag)) => (path, Some(tag)),
        None => (key, None),
    }
}

impl KeyPath {
    /// Parses `text` (a criteria key without `#tag`), which must start with
    /// `root`.
    pub fn parse(text: &str, root: Root) -> Result<KeyPath, String> {
        Parser {
            chars: text.chars().collect(),
            pos: 0,
            text,
        }
        .path(root)
    }

    /// The root the path starts from.
    pub fn root(&self) -> Root {
        self.root
    }

    /// The steps after the root.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Finds the value at this path in `root` (the payload, or the item).
    pub fn resolve<'a>(&self, root: &'a Value) -> Resolved<'a> {
        match first_match(root, &self.steps) {
            Some(v) => Resolved::Found(v),
            None => Resolved::Missing,
        }
    }
}

/// Depth-first: the first complete match, in document order.
fn first_match<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(value);
    };
    match (step, value) {
        (Step::Key(k), Value::Object(map)) => first_match(map.get(k)?, rest),
        (Step::Index(i), Value::Array(items)) => first_match(items.get(*i)?, rest),
        (Step::AnyValue, Value::Object(map)) => map.values().find_map(|v| first_match(v, rest)),
        (Step::AnyElement, Value::Array(items)) => items.iter().find_map(|v| first_match(v, rest)),
        // jsonpath_rw's `[*]` wraps a dict, string or number in a list.
        (Step::AnyElement, Value::Object(_) | Value::String(_) | Value::Number(_)) => {
            first_match(value, rest)
        }
        _ => None,
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.root.name())?;
        for step in &self.steps {
            match step {
                Step::Key(k) if is_identifier(k) => write!(f, ".{k}")?,
                Step::Key(k) if !k.contains('\'') => write!(f, "['{k}']")?,
                Step::Key(k) => write!(f, "[\"{k}\"]")?,
                Step::Index(i) => write!(f, "[{i}]")?,
                Step::AnyValue => f.write_str(".*")?,
                Step::AnyElement => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

/// A JSONPath identifier: `[A-Za-z_@][A-Za-z0-9_@]*`.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '@')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@')
}

struct Parser<'t> {
    chars: Vec<char>,
    pos: usize,
    text: &'t str,
}

impl Parser<'_> {
    fn path(mut self, root: Root) -> Result<KeyPath, String> {
        self.skip_blanks();
        let first = self.identifier();
        if first != root.name() {
            return Err(self.bad_root(root, &first));
        }
        let mut steps = Vec::new();
        loop {
            self.skip_blanks();
            match self.peek() {
                None => break,
                Some('.') => {
                    self.pos += 1;
                    if self.peek() == Some('.') {
                        return Err(self.unsupported("`..` (recursive descent)"));
                    }
                    self.skip_blanks();
                    steps.push(self.dotted()?);
                }
                Some('[') => {
                    self.pos += 1;
                    self.skip_blanks();
                    steps.push(self.bracketed()?);
                    self.skip_blanks();
                    if self.peek() != Some(']') {
                        return Err(self.expected("`]`"));
                    }
                    self.pos += 1;
                }
                Some(_) => return Err(self.expected("`.`, `[` or the end of the key")),
            }
        }
        Ok(KeyPath { root, steps })
    }

    /// After a `.`: a name, a quoted key or `*`.
    fn dotted(&mut self) -> Result<Step, String> {
        match self.peek() {
            Some('*') => {
                self.pos += 1;
                Ok(Step::AnyValue)
            }
            Some('\'' | '"') => self.quoted().map(Step::Key),
            Some(c) if c.is_ascii_digit() => {
                let digits = self.digits();
                Err(format!(
                    "invalid key {:?}: a list index goes in brackets (write `[{digits}]`, not `.{digits}`)",
                    self.text
                ))
            }
            _ => {
                let name = self.identifier();
                if name.is_empty() {
                    return Err(self.expected("a key name after `.`"));
                }
                if let Some(c) = self.peek()
                    && !matches!(c, '.' | '[' | ' ' | '\t')
                {
                    let rest: String = self.chars[self.pos..]
                        .iter()
                        .take_while(|c| !matches!(c, '.' | '['))
                        .collect();
                    return Err(format!(
                        "invalid key {:?}: {c:?} cannot appear in a bare key name; quote it \
                         (write `['{name}{rest}']`)",
                        self.text
                    ));
                }
                Ok(Step::Key(name))
            }
        }
    }

    /// After a `[`: an index, a quoted key or `*`.
    fn bracketed(&mut self) -> Result<Step, String> {
        match self.peek() {
            Some('*') => {
                self.pos += 1;
                Ok(Step::AnyElement)
            }
            Some('\'' | '"') => {
                let key = self.quoted()?;
                self.skip_blanks();
                if self.peek() == Some(',') {
                    return Err(self.unsupported("a union of keys (`[a, b]`)"));
                }
                Ok(Step::Key(key))
            }
            Some(c) if c.is_ascii_digit() => {
                let digits = self.digits();
                self.skip_blanks();
                if self.peek() == Some(':') {
                    return Err(self.unsupported("a slice (`[a:b]`)"));
                }
                digits.parse().map(Step::Index).map_err(|_| {
                    format!("invalid key {:?}: index {digits} is too large", self.text)
                })
            }
            Some('-') => Err(format!(
                "invalid key {:?}: negative indexes are not supported; count from 0",
                self.text
            )),
            Some(':') => Err(self.unsupported("a slice (`[a:b]`)")),
            Some(_) => {
                let name = self.identifier();
                if name.is_empty() {
                    Err(self.expected("an index, a quoted key or `*` inside `[]`"))
                } else {
                    Ok(Step::Key(name))
                }
            }
            None => Err(self.expected("`]`")),
        }
    }

    /// A single- or double-quoted key; `\'` and `\"` stand for the quote.
    fn quoted(&mut self) -> Result<String, String> {
        let quote = self.chars[self.pos];
        self.pos += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == quote {
                return Ok(out);
            }
            if c == '\\' && self.peek() == Some(quote) {
                self.pos += 1;
                out.push(quote);
            } else {
                out.push(c);
            }
        }
        Err(format!(
            "invalid key {:?}: the quoted name is not closed (add {quote})",
            self.text
        ))
    }

    fn identifier(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let ok = if self.pos == start {
                c.is_ascii_alphabetic() || c == '_' || c == '@'
            } else {
                c.is_ascii_alphanumeric() || c == '_' || c == '@'
            };
            if !ok {
                break;
            }
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn digits(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    fn bad_root(&self, root: Root, first: &str) -> String {
        let example = match root {
            Root::Trigger => "trigger.node or trigger.headers['X-Key']",
            Root::Item => "item.name (the list element being searched)",
        };
        if self.text.trim().is_empty() {
            return format!("empty key: write a path such as {example}");
        }
        let hint = match (root, first) {
            (Root::Trigger, "payload") => {
                format!(
                    " (st2 calls the payload `trigger`: write {:?})",
                    self.text.replacen("payload", "trigger", 1)
                )
            }
            (Root::Trigger, "item") => " (`item.…` keys belong inside a search pattern)".into(),
            (Root::Item, "trigger") => {
                " (inside a search pattern keys start with `item`, the list element)".into()
            }
            _ => format!(" (write e.g. {example})"),
        };
        format!(
            "invalid key {:?}: keys start with `{}`{hint}",
            self.text,
            root.name()
        )
    }

    fn expected(&self, what: &str) -> String {
        let at: String = self.chars[self.pos.min(self.chars.len())..]
            .iter()
            .collect();
        if at.is_empty() {
            format!("invalid key {:?}: expected {what} at the end", self.text)
        } else {
            format!("invalid key {:?}: expected {what} at {at:?}", self.text)
        }
    }

    fn unsupported(&self, what: &str) -> String {
        format!(
            "invalid key {:?}: {what} is not supported; name the key directly, e.g. trigger.a.b or trigger.items[0]",
            self.text
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn p(text: &str) -> KeyPath {
        KeyPath::parse(text, Root::Trigger).unwrap()
    }

    fn err(text: &str) -> String {
        KeyPath::parse(text, Root::Trigger).unwrap_err()
    }

    #[test]
    fn parses_st2_keys() {
        use Step::*;
        assert_eq!(p("trigger").steps(), &[]);
        assert_eq!(
            p("trigger.a.b").steps(),
            &[Key("a".into()), Key("b".into())]
        );
        assert_eq!(
            p("trigger.headers['X-Key']").steps(),
            &[Key("headers".into()), Key("X-Key".into())]
        );
        assert_eq!(
            p("trigger.items[1].name").steps(),
            &[Key("items".into()), Index(1), Key("name".into())]
        );
        assert_eq!(
            p(r#"trigger."a b".'c\'d'"#).steps(),
            &[Key("a b".into()), Key("c'd".into())]
        );
        assert_eq!(p("trigger . a [ 0 ]").steps(), &[Key("a".into()), Index(0)]);
        assert_eq!(
            p("trigger.*.x[*]").steps(),
            &[AnyValue, Key("x".into()), AnyElement]
        );
        assert_eq!(p("trigger[name]").steps(), &[Key("name".into())]);
        assert_eq!(
            p("trigger['héllo wörld']").steps(),
            &[Key("héllo wörld".into())]
        );
        assert_eq!(p("trigger.@timestamp").steps(), &[Key("@timestamp".into())]);
        assert_eq!(
            KeyPath::parse("item.to_value", Root::Item).unwrap().root(),
            Root::Item
        );
    }

    #[test]
    fn refuses_with_a_hint() {
        assert!(
            err("payload.node").contains("write \"trigger.node\""),
            "{}",
            err("payload.node")
        );
        assert!(
            err("trigger.x-key").contains("write `['x-key']`"),
            "{}",
            err("trigger.x-key")
        );
        assert!(err("trigger.items.0").contains("write `[0]`"));
        assert!(err("trigger..a").contains("not supported"));
        assert!(err("trigger.a[1:2]").contains("slice"));
        assert!(err("trigger.a['x','y']").contains("union"));
        assert!(err("trigger.a[-1]").contains("negative"));
        assert!(err("trigger.a['x").contains("not closed"));
        assert!(err("trigger.a[0").contains("expected `]`"));
        assert!(err("").contains("empty key"));
        assert!(
            KeyPath::parse("trigger.x", Root::Item)
                .unwrap_err()
                .contains("inside a search pattern")
        );
    }

    #[test]
    fn resolves_missing_null_and_found() {
        let payload = json!({
            "node": "b7s01",
            "gone": null,
            "headers": {"X-Key": "k"},
            "items": [{"name": "a"}, {"name": "b"}],
            "tags": {"z": {"v": 1}, "a": {"w": 2}},
        });
        let r = |t: &str| p(t).resolve(&payload);
        assert_eq!(r("trigger.node"), Resolved::Found(&json!("b7s01")));
        assert_eq!(r("trigger.gone"), Resolved::Found(&Value::Null));
        assert_eq!(r("trigger.gone").as_python(), None);
        assert_eq!(r("trigger.absent"), Resolved::Missing);
        assert_eq!(r("trigger.headers['X-Key']").found(), Some(&json!("k")));
        assert_eq!(r("trigger.items[1].name").found(), Some(&json!("b")));
        assert_eq!(r("trigger.items[2].name"), Resolved::Missing);
        assert_eq!(r("trigger.node.x"), Resolved::Missing);
        assert_eq!(r("trigger.node[0]"), Resolved::Missing);
        assert_eq!(r("trigger.items.name"), Resolved::Missing);
        assert_eq!(r("trigger.items[*].name").found(), Some(&json!("a")));
        // The first value that has the rest of the path, in key order.
        assert_eq!(r("trigger.tags.*.w").found(), Some(&json!(2)));
        assert_eq!(r("trigger.node[*]").found(), Some(&json!("b7s01")));
        assert_eq!(r("trigger").found(), Some(&payload));
    }

    #[test]
    fn splits_tags_at_the_first_hash() {
        assert_eq!(split_tag("trigger.a#1"), ("trigger.a", Some("1")));
        assert_eq!(split_tag("trigger.a#x#y"), ("trigger.a", Some("x#y")));
        assert_eq!(split_tag("trigger.a"), ("trigger.a", None));
    }

    #[test]
    fn displays_canonically() {
        for text in [
            "trigger.a.b",
            "trigger.headers['X-Key']",
            "trigger.items[1].name",
            "trigger.*[*]",
        ] {
            assert_eq!(p(text).to_string(), text);
        }
    }
}
