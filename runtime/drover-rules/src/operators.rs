//! The criteria operators, with StackStorm's exact semantics.
//!
//! Owns the operator names (st2's, aliases included), which ones need a
//! pattern, and [`check`]: one operator applied to the value found in the
//! payload and the (already rendered) pattern. Values are compared as the
//! Python objects st2 sees (the crate's `python` module): no coercion between
//! `"1"` and `1`; `lessthan` on strings compares strings; an operation Python
//! would reject with an exception (`"a" < 1`, `"x" in None`) does not match.
//! Missing keys and `null` are both Python's `None`.
//!
//! | operator (aliases)          | passes when (Python)                        |
//! |-----------------------------|---------------------------------------------|
//! | `equals` (`eq`)             | `pattern is not None and value == pattern`  |
//! | `nequals` (`neq`)           | `value != pattern`                          |
//! | `iequals` (`ieq`)           | `value.lower() == pattern.lower()`          |
//! | `contains`                  | `pattern in value`                          |
//! | `ncontains`                 | `pattern not in value`                      |
//! | `icontains`                 | `pattern.lower() in value.lower()`          |
//! | `incontains`                | `pattern.lower() not in value.lower()`      |
//! | `startswith`, `endswith`    | `value.startswith(pattern)` …               |
//! | `istartswith`, `iendswith`  | the same on `.lower()` of both              |
//! | `lessthan` (`lt`)           | `value < pattern`                           |
//! | `greaterthan` (`gt`)        | `value > pattern`                           |
//! | `matchwildcard`             | `fnmatch(value, pattern)`                   |
//! | `regex`                     | `re.search(pattern, value)`                 |
//! | `iregex`                    | `re.search(pattern, value, re.I)`           |
//! | `matchregex`                | `re.match(pattern, value, re.S)` (anchored at the start) |
//! | `timediff_lt` (`td_lt`)     | `now - parse(value) < float(pattern)` seconds |
//! | `timediff_gt` (`td_gt`)     | `now - parse(value) > float(pattern)` seconds |
//! | `exists`                    | `value is not None` (a `null` does not exist) |
//! | `nexists`                   | `value is None`                             |
//! | `inside` (`in`)             | `value in pattern`                          |
//! | `ninside` (`nin`)           | `value not in pattern`                      |
//! | `search`                    | `any`/`all` list items match child criteria (see the engine) |
//!
//! Every operator but `nequals`, `exists` and `nexists` is false when the
//! pattern is `None`. Where Python raises (wrong types), the criterion is
//! false *even for the negated operators*: `ncontains` on a missing key does
//! not pass, as in st2. Regexes use the `regex` crate: linear time, no
//! look-around or back-references (refused when the rule is loaded).

use std::fmt;

use jiff::Timestamp;
use regex::{Regex, RegexBuilder};
use serde_json::Value;

use crate::fnmatch::Wildcard;
use crate::python;

/// Cap on a compiled regex (bytes of the automaton), so a pattern rendered
/// from a payload cannot make the engine allocate without bound.
pub(crate) const MAX_REGEX_SIZE: usize = 1 << 20;

/// A criteria operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `equals`, `eq`.
    Equals,
    /// `nequals`, `neq`.
    NEquals,
    /// `iequals`, `ieq`.
    IEquals,
    /// `contains`.
    Contains,
    /// `ncontains`.
    NContains,
    /// `icontains`.
    IContains,
    /// `incontains`.
    INContains,
    /// `startswith`.
    StartsWith,
    /// `istartswith`.
    IStartsWith,
    /// `endswith`.
    EndsWith,
    /// `iendswith`.
    IEndsWith,
    /// `lessthan`, `lt`.
    LessThan,
    /// `greaterthan`, `gt`.
    GreaterThan,
    /// `matchwildcard`.
    MatchWildcard,
    /// `matchregex` (deprecated in st2: anchored at the start, dot matches newline).
    MatchRegex,
    /// `regex`.
    Regex,
    /// `iregex`.
    IRegex,
    /// `timediff_lt`, `td_lt`.
    TimeDiffLt,
    /// `timediff_gt`, `td_gt`.
    TimeDiffGt,
    /// `exists`.
    Exists,
    /// `nexists`.
    NExists,
    /// `inside`, `in`.
    Inside,
    /// `ninside`, `nin`.
    NInside,
    /// `search`.
    Search,
}

/// Every name st2 accepts, aliases included, with its operator.
pub const OPERATOR_NAMES: &[(&str, Operator)] = &[
    ("matchwildcard", Operator::MatchWildcard),
    ("matchregex", Operator::MatchRegex),
    ("regex", Operator::Regex),
    ("iregex", Operator::IRegex),
    ("eq", Operator::Equals),
    ("equals", Operator::Equals),
    ("nequals", Operator::NEquals),
    ("neq", Operator::NEquals),
    ("ieq", Operator::IEquals),
    ("iequals", Operator::IEquals),
    ("contains", Operator::Contains),
    ("icontains", Operator::IContains),
    ("ncontains", Operator::NContains),
    ("incontains", Operator::INContains),
    ("startswith", Operator::StartsWith),
    ("istartswith", Operator::IStartsWith),
    ("endswith", Operator::EndsWith),
    ("iendswith", Operator::IEndsWith),
    ("lt", Operator::LessThan),
    ("lessthan", Operator::LessThan),
    ("gt", Operator::GreaterThan),
    ("greaterthan", Operator::GreaterThan),
    ("td_lt", Operator::TimeDiffLt),
    ("timediff_lt", Operator::TimeDiffLt),
    ("td_gt", Operator::TimeDiffGt),
    ("timediff_gt", Operator::TimeDiffGt),
    ("exists", Operator::Exists),
    ("nexists", Operator::NExists),
    ("inside", Operator::Inside),
    ("in", Operator::Inside),
    ("ninside", Operator::NInside),
    ("nin", Operator::NInside),
    ("search", Operator::Search),
];

impl Operator {
    /// The operator a name (or alias) stands for. Names are lowercase, as
    /// st2's rule validation requires.
    pub fn from_name(name: &str) -> Option<Operator> {
        // st2 lowercases the name before looking it up (`type: Equals`).
        OPERATOR_NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, op)| *op)
    }

    /// The canonical (long) name.
    pub fn name(self) -> &'static str {
        use Operator::*;
        match self {
            Equals => "equals",
            NEquals => "nequals",
            IEquals => "iequals",
            Contains => "contains",
            NContains => "ncontains",
            IContains => "icontains",
            INContains => "incontains",
            StartsWith => "startswith",
            IStartsWith => "istartswith",
            EndsWith => "endswith",
            IEndsWith => "iendswith",
            LessThan => "lessthan",
            GreaterThan => "greaterthan",
            MatchWildcard => "matchwildcard",
            MatchRegex => "matchregex",
            Regex => "regex",
            IRegex => "iregex",
            TimeDiffLt => "timediff_lt",
            TimeDiffGt => "timediff_gt",
            Exists => "exists",
            NExists => "nexists",
            Inside => "inside",
            NInside => "ninside",
            Search => "search",
        }
    }

    /// Whether a rule must give a pattern (st2 requires one for every
    /// operator; drover lets `exists` and `nexists` omit it).
    pub fn needs_pattern(self) -> bool {
        !matches!(self, Operator::Exists | Operator::NExists)
    }

    /// Whether the pattern must be a string for the operator to ever pass.
    pub(crate) fn needs_string_pattern(self) -> bool {
        use Operator::*;
        matches!(
            self,
            IEquals
                | IContains
                | INContains
                | StartsWith
                | IStartsWith
                | EndsWith
                | IEndsWith
                | MatchWildcard
                | MatchRegex
                | Regex
                | IRegex
        )
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A pattern prepared once: a compiled regex or wildcard.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// For `regex`, `iregex` and `matchregex`.
    Regex(Regex),
    /// For `matchwildcard`.
    Wildcard(Wildcard),
    /// For `timediff_*`: the period in seconds.
    Seconds(f64),
}

/// Why a criterion did not pass although nothing is wrong with the rule.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckError {
    /// The payload value has a type the operator cannot use (Python would
    /// raise `TypeError`/`AttributeError`): the criterion does not match.
    Type(String),
    /// The pattern is unusable (an invalid regex or period rendered from a
    /// template): the rule is broken for this event, and st2 records a
    /// failed enforcement.
    Pattern(String),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Type(m) | CheckError::Pattern(m) => f.write_str(m),
        }
    }
}

/// Prepares `pattern` for `op`: compiles regexes and wildcards, reads
/// periods. `Ok(None)` when the operator needs nothing prepared.
pub fn prepare(op: Operator, pattern: &Value) -> Result<Option<Matcher>, String> {
    use Operator::*;
    match op {
        Regex | IRegex | MatchRegex => {
            let Some(source) = pattern.as_str() else {
                return Err(format!("{op} needs a string pattern"));
            };
            let source = python_regex(source);
            let source = if op == MatchRegex {
                format!(r"(?s)\A(?:{source})")
            } else {
                source
            };
            build_regex(&source, op == IRegex)
                .map(|r| Some(Matcher::Regex(r)))
                .map_err(|e| explain_regex_error(&e))
        }
        MatchWildcard => match pattern.as_str() {
            Some(p) => Ok(Some(Matcher::Wildcard(Wildcard::new(p)))),
            None => Err(format!("{op} needs a string pattern such as \"b*\"")),
        },
        TimeDiffLt | TimeDiffGt => python::float(Some(pattern))
            .map(|s| Some(Matcher::Seconds(s)))
            .map_err(|e| format!("{op} needs a number of seconds as its pattern ({e})")),
        _ => Ok(None),
    }
}

/// Builds a regex with drover's limits.
pub(crate) fn build_regex(source: &str, case_insensitive: bool) -> Result<Regex, regex::Error> {
    RegexBuilder::new(source)
        .case_insensitive(case_insensitive)
        .size_limit(MAX_REGEX_SIZE)
        .dfa_size_limit(MAX_REGEX_SIZE)
        .build()
}

/// Python regex syntax the `regex` crate spells differently: `\Z` (end of
/// text) is `\z`.
fn python_regex(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('Z') => out.push_str(r"\z"),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn explain_regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    let hint = if text.contains("look-around") {
        " (drover's regexes run in linear time: look-ahead and look-behind are not supported)"
    } else if text.contains("backreference") {
        " (drover's regexes run in linear time: back-references are not supported)"
    } else if matches!(e, regex::Error::CompiledTooBig(_)) {
        " (the regex is too large)"
    } else {
        ""
    };
    let first = text.lines().last().unwrap_or(&text).trim();
    let detail = if text.lines().count() > 1 {
        // The regex crate draws the pattern with a caret; keep it on one line.
        format!("invalid regex: {first}")
    } else {
        format!("invalid regex: {text}")
    };
    format!("{detail}{hint}")
}

/// Applies a leaf operator (anything but `search`).
///
/// `value` is what the key found (`None` for missing or `null`), `pattern`
/// the rendered pattern (`None` when absent or `null`), `matcher` its
/// prepared form if [`prepare`] made one (it is made here otherwise), and
/// `now` the clock for `timediff_*`.
pub fn check(
    op: Operator,
    value: Option<&Value>,
    pattern: Option<&Value>,
    matcher: Option<&Matcher>,
    now: Timestamp,
) -> Result<bool, CheckError> {
    use Operator::*;
    let value = python::some(value);
    let pattern = python::some(pattern);
    match op {
        Exists => return Ok(value.is_some()),
        NExists => return Ok(value.is_none()),
        NEquals => return Ok(!python::eq(value, pattern)),
        _ => {}
    }
    let Some(pat) = pattern else {
        return Ok(false);
    };
    let ty = CheckError::Type;
    match op {
        Equals => Ok(python::eq(value, pattern)),
        IEquals => {
            let v = python::lower(value).map_err(ty)?;
            let p = python::lower(pattern).map_err(ty)?;
            Ok(v == p)
        }
        Contains => python::contains(value, pattern).map_err(ty),
        NContains => python::contains(value, pattern).map(|b| !b).map_err(ty),
        IContains | INContains => {
            let p = python::lower(pattern).map_err(ty)?;
            let v = python::lower(value).map_err(ty)?;
            Ok(v.contains(&p) == (op == IContains))
        }
        StartsWith => {
            let (v, p) = python::both_str(value, pattern, "startswith").map_err(ty)?;
            Ok(v.starts_with(p))
        }
        EndsWith => {
            let (v, p) = python::both_str(value, pattern, "endswith").map_err(ty)?;
            Ok(v.ends_with(p))
        }
        IStartsWith | IEndsWith => {
            let v = python::lower(value).map_err(ty)?;
            let p = python::lower(pattern).map_err(ty)?;
            Ok(if op == IStartsWith {
                v.starts_with(&p)
            } else {
                v.ends_with(&p)
            })
        }
        LessThan => python::cmp(value, pattern, "<")
            .map(|o| o.is_lt())
            .map_err(ty),
        GreaterThan => python::cmp(value, pattern, ">")
            .map(|o| o.is_gt())
            .map_err(ty),
        Inside => python::contains(pattern, value).map_err(ty),
        NInside => python::contains(pattern, value).map(|b| !b).map_err(ty),
        MatchWildcard | Regex | IRegex | MatchRegex | TimeDiffLt | TimeDiffGt => {
            let owned;
            let matcher = match matcher {
                Some(m) => m,
                None => {
                    owned = prepare(op, pat)
                        .map_err(CheckError::Pattern)?
                        .expect("these operators always prepare a matcher");
                    &owned
                }
            };
            match matcher {
                Matcher::Wildcard(w) => {
                    let v = python::as_str(value).ok_or_else(|| {
                        CheckError::Type(format!(
                            "expected str, bytes or os.PathLike object, not {}",
                            python::type_name(value)
                        ))
                    })?;
                    Ok(w.is_match(v))
                }
                Matcher::Regex(r) => {
                    let v = python::as_str(value).ok_or_else(|| {
                        CheckError::Type(format!(
                            "expected string or bytes-like object, got '{}'",
                            python::type_name(value)
                        ))
                    })?;
                    Ok(r.is_match(v))
                }
                Matcher::Seconds(period) => {
                    let v = python::as_str(value).ok_or_else(|| {
                        CheckError::Type(format!(
                            "a date must be a string, not {}",
                            python::type_name(value)
                        ))
                    })?;
                    let then = parse_time(v).map_err(CheckError::Type)?;
                    let elapsed = now.duration_since(then).as_secs_f64();
                    Ok(if op == TimeDiffLt {
                        elapsed < *period
                    } else {
                        elapsed > *period
                    })
                }
            }
        }
        Exists | NExists | NEquals => unreachable!("handled above"),
        Search => Err(CheckError::Pattern(
            "search is evaluated by the engine, not as a leaf operator".into(),
        )),
    }
}

/// Parses a time the way st2's `date_utils.parse` accepts the common
/// forms: RFC 3339 / ISO 8601 with an offset, the same without one (taken
/// as UTC, as st2 does), a bare date (midnight UTC), or RFC 2822.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    let s = text.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    let utc = jiff::tz::TimeZone::UTC;
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>()
        && let Ok(t) = utc.to_timestamp(dt)
    {
        return Ok(t);
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>()
        && let Ok(t) = utc.to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
    {
        return Ok(t);
    }
    if let Ok(z) = jiff::fmt::rfc2822::parse(s) {
        return Ok(z.timestamp());
    }
    Err(format!(
        "unknown date format {text:?} (write ISO 8601, e.g. 2026-01-31T12:00:00Z)"
    ))
}

#[cfg(test)]
#[path = "operators_tests.rs"]
mod tests;
