//! YAML with a location on every node.
//!
//! Validation must point at the exact line and column of a bad key or value,
//! which a serde deserializer cannot do for nodes that parsed fine. This
//! module builds a small tree ([`Node`]) from the event stream of
//! `yaml-rust2`, keeping the position of every scalar, sequence and mapping,
//! and resolves plain scalars with the YAML 1.2 core schema (`null`, `true`,
//! `12`, `1.5`, everything else a string; quoted scalars are always
//! strings). Anchors and aliases are expanded. Only the first document of a
//! stream is read. [`Node::to_json`] drops the locations for the runtime
//! data model.
//!
//! The text may come from a hostile pack, so the tree is bounded: aliases
//! may add at most [`MAX_ALIAS_NODES`] nodes in all (a "billion laughs"
//! document of a few hundred bytes would otherwise expand to gigabytes),
//! and nesting is at most [`MAX_DEPTH`] deep (the tree is walked
//! recursively later).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl Mark {
    fn from_marker(m: Marker) -> Mark {
        // yaml-rust2 reports 1-based lines and 0-based columns.
        Mark {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

/// Most nodes that aliases may add to a document, all aliases together.
/// Written-out nodes are bounded by the size of the text; aliases are the
/// only way a small text becomes a large tree.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// Deepest nesting of sequences and mappings.
pub const MAX_DEPTH: usize = 128;

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Yaml,
    pub mark: Mark,
}

/// A syntax error with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub mark: Mark,
    pub message: String,
}

impl Node {
    /// The string, if this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Yaml::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Yaml::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Yaml::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.key_text() == key)
            .map(|(_, v)| v)
    }

    /// A mapping key as text (non-string keys are printed as YAML would).
    pub fn key_text(&self) -> String {
        match &self.value {
            Yaml::Str(s) => s.clone(),
            Yaml::Null => "null".into(),
            Yaml::Bool(b) => b.to_string(),
            Yaml::Int(i) => i.to_string(),
            Yaml::Float(f) => format_float(*f),
            Yaml::Seq(_) | Yaml::Map(_) => "<complex key>".into(),
        }
    }

    /// A short name of the node's type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Yaml::Null => "null",
            Yaml::Bool(_) => "a boolean",
            Yaml::Int(_) => "an integer",
            Yaml::Float(_) => "a number",
            Yaml::Str(_) => "a string",
            Yaml::Seq(_) => "a list",
            Yaml::Map(_) => "a mapping",
        }
    }

    /// The value without locations.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            Yaml::Null => Value::Null,
            Yaml::Bool(b) => Value::Bool(*b),
            Yaml::Int(i) => Value::from(*i),
            Yaml::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Yaml::Str(s) => Value::String(s.clone()),
            Yaml::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Yaml::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.is_finite() {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

/// Parses the first document of `text`. An empty document is `null`.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| YamlError {
        mark: Mark::from_marker(*e.marker()),
        message: e.info().to_string(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root.unwrap_or(Node {
        value: Yaml::Null,
        mark: Mark { line: 1, column: 1 },
    }))
}

enum Frame {
    Seq {
        items: Vec<Node>,
        mark: Mark,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        mark: Mark,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Each anchor's node and how many nodes it holds.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes added by aliases so far.
    expanded: usize,
    root: Option<Node>,
    done: bool,
    error: Option<YamlError>,
}

/// The number of nodes in `node`, itself included.
fn size(node: &Node) -> usize {
    1 + match &node.value {
        Yaml::Seq(items) => items.iter().map(size).sum(),
        Yaml::Map(entries) => entries.iter().map(|(k, v)| size(k) + size(v)).sum(),
        _ => 0,
    }
}

impl Builder {
    /// Where the next node goes, as `key.key[index]`.
    fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.stack {
            match frame {
                Frame::Seq { items, .. } => path.push_str(&format!("[{}]", items.len())),
                Frame::Map { key: Some(k), .. } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&k.key_text());
                }
                Frame::Map { key: None, .. } => {}
            }
        }
        if path.is_empty() {
            path.push_str("the top");
        }
        path
    }

    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            let n = size(&node);
            self.anchors.insert(anchor, (node.clone(), n));
        }
        match self.stack.last_mut() {
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => *key = Some(node),
            },
            None => {
                self.root = Some(node);
                self.done = true;
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        if self.done || self.error.is_some() {
            return;
        }
        let mark = Mark::from_marker(marker);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| t.suffix);
                let value = resolve_scalar(text, style, tag.as_deref());
                self.push_node(Node { value, mark }, anchor);
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                self.error = Some(YamlError {
                    mark,
                    message: format!(
                        "nested more than {MAX_DEPTH} levels deep; flatten the document"
                    ),
                })
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                items: Vec::new(),
                mark,
                anchor,
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                entries: Vec::new(),
                key: None,
                mark,
                anchor,
            }),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    items,
                    mark,
                    anchor,
                }) => self.push_node(
                    Node {
                        value: Yaml::Seq(items),
                        mark,
                    },
                    anchor,
                ),
                Some(Frame::Map {
                    entries,
                    mark,
                    anchor,
                    ..
                }) => self.push_node(
                    Node {
                        value: Yaml::Map(entries),
                        mark,
                    },
                    anchor,
                ),
                None => {}
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((_, n)) if self.expanded + n > MAX_ALIAS_NODES => {
                    self.error = Some(YamlError {
                        mark,
                        message: format!(
                            "at {}: aliases expand this document beyond {MAX_ALIAS_NODES} \
                             values (an alias `*name` repeats everything its anchor `&name` \
                             holds); write the values out instead of nesting aliases",
                            self.path()
                        ),
                    })
                }
                Some((node, n)) => {
                    self.expanded += n;
                    let node = Node {
                        value: node.value.clone(),
                        mark,
                    };
                    self.push_node(node, 0);
                }
                None => {
                    self.error = Some(YamlError {
                        mark,
                        message: "alias to an unknown anchor".into(),
                    })
                }
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&str>) -> Yaml {
    match tag {
        Some("str") => return Yaml::Str(text),
        Some("null") => return Yaml::Null,
        Some("bool") => return parse_bool(&text).map_or(Yaml::Str(text), Yaml::Bool),
        Some("int") => return parse_int(&text).map_or(Yaml::Str(text), Yaml::Int),
        Some("float") => {
            return parse_float(&text)
                .or_else(|| parse_int(&text).map(|i| i as f64))
                .map_or(Yaml::Str(text), Yaml::Float);
        }
        _ => {}
    }
    if style != TScalarStyle::Plain {
        return Yaml::Str(text);
    }
    if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
        return Yaml::Null;
    }
    if let Some(b) = parse_bool(&text) {
        return Yaml::Bool(b);
    }
    if let Some(i) = parse_int(&text) {
        return Yaml::Int(i);
    }
    if let Some(f) = parse_float(&text) {
        return Yaml::Float(f);
    }
    Yaml::Str(text)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_int(s: &str) -> Option<i64> {
    if let Some(hex) = s.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = s.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac_part {
        Some(f) => digits(int_part) && digits(f) && !(int_part.is_empty() && f.is_empty()),
        None => !int_part.is_empty() && digits(int_part),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if mantissa_ok && exponent_ok {
        s.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_resolve_like_yaml_1_2_core() {
        let n = parse("a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: hello\ng: 1.0\nh: -3\n").unwrap();
        let j = n.to_json();
        assert_eq!(j["a"], 1);
        assert_eq!(j["b"], 1.5);
        assert_eq!(j["c"], true);
        assert!(j["d"].is_null());
        assert_eq!(j["e"], "1");
        assert_eq!(j["f"], "hello");
        assert_eq!(j["g"], 1.0);
        assert_eq!(j["h"], -3);
    }

    #[test]
    fn nodes_carry_positions() {
        let n = parse("tasks:\n  t1:\n    action: core.noop\n").unwrap();
        let t1 = n.get("tasks").unwrap().get("t1").unwrap();
        let (k, v) = &t1.as_map().unwrap()[0];
        assert_eq!(k.mark, Mark { line: 3, column: 5 });
        assert_eq!(
            v.mark,
            Mark {
                line: 3,
                column: 13
            }
        );
    }

    #[test]
    fn aliases_expand() {
        let n = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(n.to_json()["b"], serde_json::json!([1, 2]));
    }

    #[test]
    fn alias_bombs_are_refused_early() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let started = std::time::Instant::now();
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("aliases expand"), "{e:?}");
        assert!(e.message.starts_with("at a"), "{e:?}");
        assert!(e.mark.line > 1, "{e:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("nested more than 128"), "{e:?}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.mark.line >= 1, "{e:?}");
    }
}
