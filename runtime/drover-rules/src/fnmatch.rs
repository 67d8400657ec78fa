//! `matchwildcard` patterns: Python's `fnmatch`, translated to a regex.
//!
//! st2 calls `fnmatch.fnmatch(value, pattern)`, which on Linux is
//! case-sensitive and means: `*` any run of characters (newlines and `/`
//! included), `?` one character, `[abc]`/`[a-z]` one of a set, `[!abc]` one
//! not in it, and everything else literal — there is no `\` escape and no
//! `{a,b}`. A `[` without its `]` is a literal `[`. globset and wildmatch
//! differ on exactly those points (escapes, alternation, brackets), so this
//! module follows `fnmatch.translate` step by step instead, including its
//! treatment of `-` inside brackets and of empty or reversed ranges, and
//! hands the result to the `regex` crate, which matches in linear time.

use regex::Regex;

/// A compiled wildcard pattern.
#[derive(Clone, Debug)]
pub struct Wildcard {
    regex: Option<Regex>,
}

impl Wildcard {
    /// Compiles `pattern`. Never fails: every string is a valid pattern.
    pub fn new(pattern: &str) -> Wildcard {
        let regex = translate(pattern).map(|source| {
            crate::operators::build_regex(&source, false)
                .expect("a translated wildcard is always a valid regex")
        });
        Wildcard { regex }
    }

    /// The regex it was translated to (`None`: it matches nothing).
    pub fn regex_source(&self) -> Option<&str> {
        self.regex.as_ref().map(Regex::as_str)
    }

    /// Whether the whole of `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.as_ref().is_some_and(|r| r.is_match(text))
    }
}

/// The regex for `pattern`, or `None` when it can match nothing (it has an
/// empty bracket set such as `[z-a]`).
fn translate(pattern: &str) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let n = chars.len();
    let mut out = String::from(r"\A(?s:");
    let mut i = 0;
    let mut last_star = false;
    while i < n {
        let c = chars[i];
        i += 1;
        let star = c == '*';
        match c {
            '*' if last_star => {}
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if j < n && chars[j] == '!' {
                    j += 1;
                }
                if j < n && chars[j] == ']' {
                    j += 1;
                }
                while j < n && chars[j] != ']' {
                    j += 1;
                }
                if j >= n {
                    out.push_str(r"\[");
                } else {
                    match bracket(&chars[i..j])? {
                        Set::Any => out.push('.'),
                        Set::Class { negated, items } => {
                            out.push('[');
                            if negated {
                                out.push('^');
                            }
                            for item in items {
                                match item {
                                    Item::Char(c) => push_char(&mut out, c),
                                    Item::Range(a, b) => {
                                        push_char(&mut out, a);
                                        out.push('-');
                                        push_char(&mut out, b);
                                    }
                                }
                            }
                            out.push(']');
                        }
                    }
                    i = j + 1;
                }
            }
            c => push_char(&mut out, c),
        }
        last_star = star;
    }
    out.push_str(r")\z");
    Some(out)
}

fn push_char(out: &mut String, c: char) {
    use std::fmt::Write;
    let _ = write!(out, r"\x{{{:x}}}", c as u32);
}

enum Set {
    /// `[!]`-like sets that Python turns into "any character".
    Any,
    Class {
        negated: bool,
        items: Vec<Item>,
    },
}

#[derive(Debug, PartialEq)]
enum Item {
    Char(char),
    Range(char, char),
}

/// One token of the class text Python builds: a character, and whether it
/// was escaped (an escaped `-` is literal, a bare one makes a range).
type Tok = (char, bool);

/// The set between `[` and `]` (exclusive); `None` if it is empty.
fn bracket(stuff: &[char]) -> Option<Set> {
    let mut toks: Vec<Tok> = Vec::new();
    if !stuff.contains(&'-') {
        toks.extend(stuff.iter().map(|&c| (c, c == '\\')));
    } else {
        // Python splits at the hyphens that make ranges (never the first
        // character, nor the one right after a range's end).
        let mut chunks: Vec<Vec<char>> = Vec::new();
        let mut start = 0;
        let mut k = if stuff[0] == '!' { 2 } else { 1 };
        while let Some(pos) = (k < stuff.len())
            .then(|| stuff[k..].iter().position(|&c| c == '-').map(|p| p + k))
            .flatten()
        {
            chunks.push(stuff[start..pos].to_vec());
            start = pos + 1;
            k = pos + 3;
        }
        let last = stuff[start..].to_vec();
        if last.is_empty() {
            chunks.last_mut().expect("a hyphen made a chunk").push('-');
        } else {
            chunks.push(last);
        }
        // Drop empty ranges (`z-a`), which are errors in a regex.
        for k in (1..chunks.len()).rev() {
            if chunks[k - 1].last() > chunks[k].first() {
                let mut merged = chunks[k - 1].clone();
                merged.pop();
                merged.extend_from_slice(&chunks[k][1..]);
                chunks[k - 1] = merged;
                chunks.remove(k);
            }
        }
        for (idx, chunk) in chunks.iter().enumerate() {
            if idx > 0 {
                toks.push(('-', false));
            }
            toks.extend(chunk.iter().map(|&c| (c, c == '\\' || c == '-')));
        }
    }
    // Python escapes `&`, `~` and `|` (set operations): every character we
    // emit is escaped anyway.
    if toks.is_empty() {
        return None;
    }
    if toks == [('!', false)] {
        return Some(Set::Any);
    }
    let negated = toks[0] == ('!', false);
    let body = if negated { &toks[1..] } else { &toks[..] };
    // Now read the class as Python's `re` does: `a-b` is a range, a `-`
    // first or last is literal.
    let mut items = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let (c, _) = body[i];
        if i + 2 < body.len() && body[i + 1] == ('-', false) {
            let (d, _) = body[i + 2];
            if c > d {
                // Python's `re` would raise "bad character range": the
                // pattern can never match.
                return None;
            }
            items.push(Item::Range(c, d));
            i += 3;
        } else {
            items.push(Item::Char(c));
            i += 1;
        }
    }
    Some(Set::Class { negated, items })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Wildcard::new(pattern).is_match(text)
    }

    /// Cases checked against CPython 3.11's `fnmatch.fnmatchcase`.
    #[test]
    fn agrees_with_python_fnmatch() {
        let cases: &[(&str, &str, bool)] = &[
            ("b*", "b7s01", true),
            ("b*", "a7s01", false),
            ("b*", "B7s01", false),
            ("v1", "v1", true),
            ("foo", "test foo test", false),
            ("*foo*", "test foo test", true),
            ("b*r", "bar", true),
            ("b?r", "bar", true),
            ("b?r", "bear", false),
            ("*", "", true),
            ("?", "", false),
            ("a*b", "a\nb", true),
            ("a/*", "a/b/c", true),
            ("[abc]x", "bx", true),
            ("[abc]x", "dx", false),
            ("[!abc]x", "dx", true),
            ("[!abc]x", "ax", false),
            ("[a-c]", "b", true),
            ("[a-c]", "-", false),
            ("[-a]", "-", true),
            ("[a-]", "-", true),
            ("[!-a]", "-", false),
            ("[]]", "]", true),
            ("[!]]", "a", true),
            ("[!]]", "]", false),
            ("[", "[", true),
            ("[a", "[a", true),
            ("a[", "a[", true),
            ("[z-a]", "m", false),
            ("[z-a]x", "x", false),
            ("[!z-a]", "m", true),
            ("[a-c-e]", "-", true),
            ("[a-c-e]", "d", false),
            ("[a-c-e]", "e", true),
            ("[\\]", "\\", true),
            ("\\*", "\\x", true),
            ("\\*", "*", false),
            ("{a,b}", "a", false),
            ("{a,b}", "{a,b}", true),
            ("[&~|]", "~", true),
            ("[^a]", "^", true),
            ("[^a]", "b", false),
            ("é*", "ecole", false),
            ("é*", "été", true),
            ("*.log", "syslog", false),
            ("*.log", "sys.log", true),
            ("***a", "bba", true),
            ("[a-cx-z]", "y", true),
            ("[a-cx-z]", "m", false),
            ("(a|b)", "(a|b)", true),
            ("a+", "aa", false),
            ("$^", "$^", true),
        ];
        for &(pattern, text, want) in cases {
            assert_eq!(m(pattern, text), want, "fnmatch({text:?}, {pattern:?})");
        }
    }
}
