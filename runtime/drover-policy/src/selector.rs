//! Label selectors: which nodes a `nodes.*` grant covers.
//!
//! Kubernetes label-selector syntax. Requirements are separated by commas
//! and all must hold (AND); there is no OR, grant twice instead.
//!
//! | Form                 | A node matches when                                  |
//! | -------------------- | ---------------------------------------------------- |
//! | `key=value`          | it has label `key` with exactly `value`              |
//! | `key==value`         | the same (written back as `key=value`)               |
//! | `key!=value`         | it has no label `key`, or one with another value     |
//! | `key in (a, b)`      | it has label `key` with value `a` or `b`             |
//! | `key notin (a, b)`   | it has no label `key`, or one with neither value     |
//! | `key`                | it has label `key`, whatever the value               |
//! | `!key`               | it has no label `key`                                |
//! | `*` (whole scope)    | always: see [`crate::Scope::Any`]                    |
//!
//! - As in Kubernetes, `!=` and `notin` also match nodes that lack the label:
//!   `env!=prod` covers a node with no `env` at all. Add `env` (exists) to
//!   require the label: `env,env!=prod`.
//! - The node's name is matched as a label called `name` (`name=n001`,
//!   `name in (n001, n002)`) unless the node has a real label `name`.
//! - Values are compared exactly: no globs, no case folding.
//! - Keys and values are one or more of `A-Z a-z 0-9 . _ / -`; a value may
//!   not be empty.
//! - Whitespace around tokens is ignored. The canonical text
//!   ([`Display`](fmt::Display)) has none except around `in`/`notin`, and
//!   lists set values sorted and deduplicated.
//!
//! Errors point at the offending token with a 1-based column.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::PolicyError;

/// A parsed label selector; see the [module docs](self) for the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// Never empty once parsed.
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Equals(String),
    NotEquals(String),
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Exists,
    NotExists,
}

impl Selector {
    /// Parses a selector such as `rack=r01,role in (compute, gpu),!maintenance`.
    pub fn parse(text: &str) -> Result<Selector, PolicyError> {
        let mut parser = Parser { text, pos: 0 };
        let mut requirements = vec![parser.requirement()?];
        loop {
            match parser.bump() {
                (_, Token::End) => break,
                (_, Token::Comma) => requirements.push(parser.requirement()?),
                (at, token) => {
                    return Err(parser.unexpected(
                        at,
                        token,
                        "expected ',' between requirements".into(),
                    ));
                }
            }
        }
        Ok(Selector { requirements })
    }

    /// Does the node called `name` with these `labels` satisfy every
    /// requirement?
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|requirement| {
            let value = labels
                .get(&requirement.key)
                .map(String::as_str)
                .or_else(|| (requirement.key == "name").then_some(name));
            requirement.op.holds(value)
        })
    }
}

impl Op {
    /// Does a node whose label has `value` (`None`: no such label) pass?
    fn holds(&self, value: Option<&str>) -> bool {
        match self {
            Op::Equals(wanted) => value == Some(wanted.as_str()),
            Op::NotEquals(unwanted) => value != Some(unwanted.as_str()),
            Op::In(set) => value.is_some_and(|v| set.contains(v)),
            Op::NotIn(set) => !value.is_some_and(|v| set.contains(v)),
            Op::Exists => value.is_some(),
            Op::NotExists => value.is_none(),
        }
    }
}

impl FromStr for Selector {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Selector::parse(text)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, Requirement { key, op }) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match op {
                Op::Equals(value) => write!(f, "{key}={value}")?,
                Op::NotEquals(value) => write!(f, "{key}!={value}")?,
                Op::In(set) => write!(f, "{key} in ({})", join(set))?,
                Op::NotIn(set) => write!(f, "{key} notin ({})", join(set))?,
                Op::Exists => write!(f, "{key}")?,
                Op::NotExists => write!(f, "!{key}")?,
            }
        }
        Ok(())
    }
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().map(String::as_str).collect::<Vec<_>>().join(",")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    /// A key, a value, or the operators `in` / `notin` (told apart by place).
    Word(&'a str),
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    Comma,
    Open,
    Close,
    End,
    /// A character no token starts with.
    Bad(char),
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')
}

/// A recursive-descent parser over `text`; `pos` is a byte offset.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    /// The next token with the byte offsets where it starts and ends,
    /// without consuming it.
    fn peek(&self) -> (usize, Token<'a>, usize) {
        let rest = &self.text[self.pos..];
        let start = self.pos + (rest.len() - rest.trim_start().len());
        let rest = &self.text[start..];
        let mut chars = rest.chars();
        let Some(c) = chars.next() else {
            return (start, Token::End, start);
        };
        let second = chars.next();
        let (token, len) = match (c, second) {
            ('!', Some('=')) => (Token::NotEquals, 2),
            ('!', _) => (Token::Bang, 1),
            ('=', Some('=')) => (Token::DoubleEquals, 2),
            ('=', _) => (Token::Equals, 1),
            (',', _) => (Token::Comma, 1),
            ('(', _) => (Token::Open, 1),
            (')', _) => (Token::Close, 1),
            (c, _) if is_word_char(c) => {
                let len = rest.find(|c| !is_word_char(c)).unwrap_or(rest.len());
                (Token::Word(&rest[..len]), len)
            }
            (c, _) => (Token::Bad(c), c.len_utf8()),
        };
        (start, token, start + len)
    }

    /// The next token and its byte offset, consumed.
    fn bump(&mut self) -> (usize, Token<'a>) {
        let (at, token, end) = self.peek();
        self.pos = end;
        (at, token)
    }

    fn requirement(&mut self) -> Result<Requirement, PolicyError> {
        let (at, token) = self.bump();
        match token {
            Token::Bang => {
                let key = self.word("expected a label key after '!'")?;
                Ok(Requirement {
                    key: key.to_owned(),
                    op: Op::NotExists,
                })
            }
            Token::Word(key) => {
                let op = self.operator(key)?;
                Ok(Requirement {
                    key: key.to_owned(),
                    op,
                })
            }
            token => Err(self.unexpected(at, token, "expected a label key or '!key'".into())),
        }
    }

    /// What follows a key: an operator and its value(s), or nothing.
    fn operator(&mut self, key: &str) -> Result<Op, PolicyError> {
        let (at, token, _) = self.peek();
        let op = match token {
            Token::Comma | Token::End => return Ok(Op::Exists),
            Token::Equals | Token::DoubleEquals => {
                self.bump();
                let spelled = if token == Token::Equals { "=" } else { "==" };
                Op::Equals(self.value(&format!("expected a value after '{spelled}'"))?)
            }
            Token::NotEquals => {
                self.bump();
                Op::NotEquals(self.value("expected a value after '!='")?)
            }
            Token::Word(word @ ("in" | "notin")) => {
                self.bump();
                let set = self.set(word)?;
                if word == "in" {
                    Op::In(set)
                } else {
                    Op::NotIn(set)
                }
            }
            token => {
                let expected = format!("expected '=', '!=', 'in' or 'notin' after key {key:?}");
                return Err(self.unexpected(at, token, expected));
            }
        };
        Ok(op)
    }

    /// `(a, b, ...)` after `in` / `notin`.
    fn set(&mut self, operator: &str) -> Result<BTreeSet<String>, PolicyError> {
        let (at, token) = self.bump();
        if token != Token::Open {
            let expected =
                format!("expected '(' after '{operator}', as in `key {operator} (a, b)`");
            return Err(self.unexpected(at, token, expected));
        }
        let mut set = BTreeSet::new();
        loop {
            set.insert(self.value("expected a value")?);
            match self.bump() {
                (_, Token::Comma) => {}
                (_, Token::Close) => return Ok(set),
                (at, token) => {
                    let expected = format!("expected ',' or ')' in the '{operator}' list");
                    return Err(self.unexpected(at, token, expected));
                }
            }
        }
    }

    fn value(&mut self, expected: &str) -> Result<String, PolicyError> {
        self.word(expected).map(str::to_owned)
    }

    fn word(&mut self, expected: &str) -> Result<&'a str, PolicyError> {
        match self.bump() {
            (_, Token::Word(word)) => Ok(word),
            (at, token) => Err(self.unexpected(at, token, expected.to_owned())),
        }
    }

    /// The error for finding `token` at byte offset `at` where `expected`
    /// was wanted; a bad character gets a reason of its own.
    fn unexpected(&self, at: usize, token: Token<'_>, expected: String) -> PolicyError {
        let reason = match token {
            Token::Bad('*') => {
                "'*' is not allowed: values are exact, list them with `key in (a, b)` \
                 or write `*` alone for every node"
                    .to_owned()
            }
            Token::Bad(c) => format!(
                "unexpected character {c:?}: keys and values are letters, digits, '.', '_', '/' and '-'"
            ),
            _ => expected,
        };
        PolicyError::Selector {
            text: self.text.to_owned(),
            column: self.text[..at].chars().count() + 1,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn matches(selector: &str, name: &str, pairs: &[(&str, &str)]) -> bool {
        Selector::parse(selector)
            .unwrap_or_else(|e| panic!("{e}"))
            .matches(name, &labels(pairs))
    }

    /// (selector, column, reason) of a refused selector.
    fn error(selector: &str) -> (usize, String) {
        match Selector::parse(selector) {
            Err(PolicyError::Selector {
                text,
                column,
                reason,
            }) => {
                assert_eq!(text, selector);
                (column, reason)
            }
            other => panic!("{selector:?} gave {other:?}"),
        }
    }

    const R01: &[(&str, &str)] = &[("rack", "r01"), ("role", "compute")];
    const R02: &[(&str, &str)] = &[("rack", "r02"), ("role", "gpu")];
    const BARE: &[(&str, &str)] = &[];

    #[test]
    fn equals() {
        assert!(matches("rack=r01", "n1", R01));
        assert!(!matches("rack=r01", "n2", R02));
        assert!(!matches("rack=r01", "n3", BARE));
        assert!(matches("rack==r01", "n1", R01));
        assert!(!matches("rack==r01", "n2", R02));
    }

    #[test]
    fn values_are_exact() {
        assert!(!matches("rack=R01", "n1", R01));
        assert!(!matches("rack=r0", "n1", R01));
        assert!(!matches("rack=r011", "n1", R01));
        assert!(!matches("Rack=r01", "n1", R01));
    }

    #[test]
    fn not_equals_matches_other_values_and_missing_labels() {
        assert!(!matches("rack!=r01", "n1", R01));
        assert!(matches("rack!=r01", "n2", R02));
        assert!(matches("rack!=r01", "n3", BARE));
        assert!(!matches("rack,rack!=r01", "n3", BARE));
    }

    #[test]
    fn in_set() {
        assert!(matches("role in (compute, gpu)", "n1", R01));
        assert!(matches("role in (compute, gpu)", "n2", R02));
        assert!(!matches("role in (login)", "n1", R01));
        assert!(!matches("role in (compute)", "n3", BARE));
    }

    #[test]
    fn notin_set_matches_other_values_and_missing_labels() {
        assert!(!matches("role notin (compute,gpu)", "n1", R01));
        assert!(matches("role notin (login)", "n1", R01));
        assert!(matches("role notin (compute)", "n3", BARE));
    }

    #[test]
    fn exists_and_not_exists() {
        assert!(matches("rack", "n1", R01));
        assert!(!matches("rack", "n3", BARE));
        assert!(!matches("!rack", "n1", R01));
        assert!(matches("!rack", "n3", BARE));
        assert!(matches("!maintenance", "n1", R01));
    }

    #[test]
    fn comma_means_and() {
        let selector = "rack=r01,role=compute";
        assert!(matches(selector, "n1", R01));
        assert!(!matches(
            selector,
            "n1",
            &[("rack", "r01"), ("role", "gpu")]
        ));
        assert!(!matches(selector, "n2", R02));
        assert!(matches(
            "rack in (r01,r02), role!=gpu, !maintenance",
            "n1",
            R01
        ));
        assert!(!matches(
            "rack in (r01,r02), role!=gpu, !maintenance",
            "n2",
            R02
        ));
    }

    #[test]
    fn the_node_name_is_a_pseudo_label() {
        assert!(matches("name=n001", "n001", BARE));
        assert!(!matches("name=n001", "n002", BARE));
        assert!(matches("name in (n001, n002)", "n002", R01));
        assert!(matches("name notin (n001)", "n002", R01));
        assert!(matches("name", "n001", BARE));
        assert!(!matches("!name", "n001", BARE));
        assert!(matches("name=n001,rack=r01", "n001", R01));
    }

    #[test]
    fn a_real_name_label_wins_over_the_node_name() {
        let real = &[("name", "bmc-7")];
        assert!(matches("name=bmc-7", "n001", real));
        assert!(!matches("name=n001", "n001", real));
    }

    #[test]
    fn keys_and_values_take_the_whole_character_set() {
        let pairs = &[("topology.example.com/rack_id", "R-01.a")];
        assert!(matches("topology.example.com/rack_id=R-01.a", "n1", pairs));
        assert!(matches(
            "topology.example.com/rack_id in (R-01.a)",
            "n1",
            pairs
        ));
    }

    #[test]
    fn in_and_notin_are_only_operators_after_a_key() {
        assert!(matches("in", "n1", &[("in", "")]));
        assert!(matches("in=notin", "n1", &[("in", "notin")]));
        assert!(matches("notin in (in)", "n1", &[("notin", "in")]));
        assert!(matches("!in", "n1", BARE));
    }

    #[test]
    fn whitespace_around_tokens_is_ignored() {
        let spaced =
            Selector::parse("  rack = r01 ,\trole  in(  compute ,gpu )  , ! maint , x != y ")
                .unwrap();
        let tight = Selector::parse("rack=r01,role in(compute,gpu),!maint,x!=y").unwrap();
        assert_eq!(spaced, tight);
    }

    #[test]
    fn display_is_canonical_and_parses_back() {
        let cases = [
            ("rack==r01", "rack=r01"),
            ("rack != r01", "rack!=r01"),
            ("role in (gpu, compute, gpu)", "role in (compute,gpu)"),
            ("role notin(b,a)", "role notin (a,b)"),
            (" rack ", "rack"),
            ("! rack", "!rack"),
            (
                "name=n001 , rack in (r02,r01),!maintenance",
                "name=n001,rack in (r01,r02),!maintenance",
            ),
        ];
        for (text, canonical) in cases {
            let selector = Selector::parse(text).unwrap();
            assert_eq!(selector.to_string(), canonical, "{text:?}");
            assert_eq!(Selector::parse(canonical).unwrap(), selector, "{text:?}");
            assert_eq!(canonical.parse::<Selector>().unwrap(), selector, "{text:?}");
        }
    }

    #[test]
    fn error_missing_operator_points_at_the_next_token() {
        let (column, reason) = error("rack r01");
        assert_eq!(column, 6);
        assert_eq!(
            reason,
            "expected '=', '!=', 'in' or 'notin' after key \"rack\""
        );
        assert_eq!(
            Selector::parse("rack r01").unwrap_err().to_string(),
            "invalid label selector: expected '=', '!=', 'in' or 'notin' after key \"rack\" \
             at column 6 in \"rack r01\""
        );
        assert_eq!(error("role inn (a)").0, 6);
        assert_eq!(error("a=b,rack (r01)").0, 10);
    }

    #[test]
    fn error_missing_value() {
        assert_eq!(error("rack="), (6, "expected a value after '='".into()));
        assert_eq!(error("rack=="), (7, "expected a value after '=='".into()));
        assert_eq!(
            error("rack!= ,x"),
            (8, "expected a value after '!='".into())
        );
        assert_eq!(error("rack=(a)"), (6, "expected a value after '='".into()));
        let message = Selector::parse("rack=").unwrap_err().to_string();
        assert_eq!(
            message,
            "invalid label selector: expected a value after '=' at the end of \"rack=\""
        );
    }

    #[test]
    fn error_bad_sets() {
        assert_eq!(
            error("rack in r01"),
            (9, "expected '(' after 'in', as in `key in (a, b)`".into())
        );
        assert_eq!(
            error("rack notin"),
            (
                11,
                "expected '(' after 'notin', as in `key notin (a, b)`".into()
            )
        );
        assert_eq!(error("rack in ()"), (10, "expected a value".into()));
        assert_eq!(error("rack in (a,)"), (12, "expected a value".into()));
        assert_eq!(
            error("rack in (a b)"),
            (12, "expected ',' or ')' in the 'in' list".into())
        );
        assert_eq!(
            error("rack notin (a"),
            (14, "expected ',' or ')' in the 'notin' list".into())
        );
    }

    #[test]
    fn error_missing_key() {
        let expected = "expected a label key or '!key'".to_owned();
        assert_eq!(error(""), (1, expected.clone()));
        assert_eq!(error("   "), (4, expected.clone()));
        assert_eq!(error(",rack"), (1, expected.clone()));
        assert_eq!(error("rack,,role"), (6, expected.clone()));
        assert_eq!(error("rack,"), (6, expected.clone()));
        assert_eq!(error("=r01"), (1, expected.clone()));
        assert_eq!(error("(a)"), (1, expected));
        assert_eq!(error("!"), (2, "expected a label key after '!'".into()));
        assert_eq!(error("!!a"), (2, "expected a label key after '!'".into()));
        assert_eq!(error("! =a"), (3, "expected a label key after '!'".into()));
    }

    #[test]
    fn error_missing_comma() {
        assert_eq!(
            error("a=b c=d"),
            (5, "expected ',' between requirements".into())
        );
        assert_eq!(
            error("a=b)"),
            (4, "expected ',' between requirements".into())
        );
        assert_eq!(
            error("a in (b) c"),
            (10, "expected ',' between requirements".into())
        );
    }

    #[test]
    fn error_bad_characters() {
        let (column, reason) = error("rack=r0*");
        assert_eq!(column, 8);
        assert!(
            reason.starts_with("'*' is not allowed: values are exact"),
            "{reason}"
        );
        assert_eq!(error("*").0, 1);
        let (column, reason) = error("rack=r01;role=x");
        assert_eq!(column, 9);
        assert_eq!(
            reason,
            "unexpected character ';': keys and values are letters, digits, '.', '_', '/' and '-'"
        );
        // Columns count characters, not bytes.
        assert_eq!(error("ré=x").0, 2);
        assert_eq!(error("a=\"b\"").0, 3);
    }
}
