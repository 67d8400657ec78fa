//! Argv patterns: which commands a `command` grant lets a plugin run on a
//! node.
//!
//! Patterns are separated by `;`; an argv is allowed when any pattern
//! matches it. Each pattern is whitespace-separated words, matched against
//! the argv element by element:
//!
//! | Word              | Matches                                              |
//! | ----------------- | ---------------------------------------------------- |
//! | `systemctl`       | exactly that element                                 |
//! | `*`               | any one element                                      |
//! | `**` (last word)  | every remaining element, zero or more                |
//! | `*` (whole part)  | every argv: see [`crate::CommandScope`]              |
//!
//! A pattern matches only when every word matches and the lengths agree:
//! `systemctl restart *` allows `systemctl restart slurmd` but not
//! `systemctl restart` or `systemctl restart a b`; `journalctl -u slurmd **`
//! allows `journalctl -u slurmd` and `journalctl -u slurmd -n 50`.
//!
//! Example: `uptime; systemctl restart slurmd; journalctl -u * -n *; cat **`.
//! `cat /proc/**` is refused: `*` and `**` are whole words, never globs.
//!
//! - There is no globbing inside a word (`/proc/*` is refused) and no
//!   quoting, so an element that contains whitespace or `;`, or is a
//!   literal `*` or `**`, can only be matched by `*`.
//! - A pattern of `*` alone would allow any one-word command; it is
//!   refused, write `*` as the whole command part to allow every command.
//! - The canonical text joins words with one space and patterns with `; `.
//!
//! The grant only says which argv may run; the host runs it with
//! `execve`-style argv over ssh (no shell), so `;`, `|` and `$(...)` in an
//! element are plain text, not syntax.

use std::fmt;
use std::str::FromStr;

use crate::PolicyError;

/// A parsed list of argv patterns; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgvList {
    /// Never empty once parsed.
    patterns: Vec<ArgvPattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ArgvPattern {
    /// Never empty unless `rest` is set.
    words: Vec<Word>,
    /// Ends with `**`: any number of further elements.
    rest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    Exact(String),
    Any,
}

impl ArgvList {
    /// Parses patterns such as `uptime; systemctl restart slurmd`.
    pub fn parse(text: &str) -> Result<ArgvList, PolicyError> {
        let patterns = text
            .split(';')
            .map(ArgvPattern::parse)
            .collect::<Result<_, _>>()?;
        Ok(ArgvList { patterns })
    }

    /// Does any pattern match `argv`?
    pub fn matches(&self, argv: &[String]) -> bool {
        self.patterns.iter().any(|pattern| pattern.matches(argv))
    }
}

impl ArgvPattern {
    fn parse(raw: &str) -> Result<ArgvPattern, PolicyError> {
        let pattern = raw.trim();
        let fail = |reason: &str| PolicyError::Argv {
            pattern: pattern.to_owned(),
            reason: reason.to_owned(),
        };
        if pattern.is_empty() {
            return Err(fail(
                "empty pattern: remove the extra ';' or write a command",
            ));
        }
        if pattern == "*" {
            return Err(fail(
                "a pattern of `*` alone would run any one-word command; \
                 write `*` as the whole command part to allow every command, \
                 or name the program, as in `uptime`",
            ));
        }
        let raw_words: Vec<&str> = pattern.split_whitespace().collect();
        let mut words = Vec::with_capacity(raw_words.len());
        let mut rest = false;
        for (i, word) in raw_words.iter().enumerate() {
            match *word {
                "*" => words.push(Word::Any),
                "**" if i + 1 == raw_words.len() => rest = true,
                "**" => {
                    return Err(fail(
                        "`**` matches every remaining element, so it must be the last word",
                    ));
                }
                word if word.contains('*') => {
                    return Err(fail(
                        "'*' must be a whole word: `*` matches one element and a final `**` \
                         the rest; there is no globbing inside a word",
                    ));
                }
                word => words.push(Word::Exact(word.to_owned())),
            }
        }
        Ok(ArgvPattern { words, rest })
    }

    fn matches(&self, argv: &[String]) -> bool {
        let length_ok = if self.rest {
            argv.len() >= self.words.len()
        } else {
            argv.len() == self.words.len()
        };
        length_ok
            && self.words.iter().zip(argv).all(|(word, arg)| match word {
                Word::Exact(exact) => exact == arg,
                Word::Any => true,
            })
    }
}

impl FromStr for ArgvList {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ArgvList::parse(text)
    }
}

impl fmt::Display for ArgvList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pattern) in self.patterns.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let words = pattern
                .words
                .iter()
                .map(|word| match word {
                    Word::Exact(exact) => exact.as_str(),
                    Word::Any => "*",
                })
                .chain(pattern.rest.then_some("**"));
            for (j, word) in words.enumerate() {
                if j > 0 {
                    f.write_str(" ")?;
                }
                f.write_str(word)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(text: &str, argv: &[&str]) -> bool {
        let argv: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
        ArgvList::parse(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .matches(&argv)
    }

    fn reason(text: &str) -> String {
        match ArgvList::parse(text) {
            Err(PolicyError::Argv { reason, .. }) => reason,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn exact_words_and_lengths() {
        assert!(matches("uptime", &["uptime"]));
        assert!(!matches("uptime", &["uptime", "-p"]));
        assert!(!matches("uptime", &[]));
        assert!(matches(
            "systemctl restart slurmd",
            &["systemctl", "restart", "slurmd"]
        ));
        assert!(!matches(
            "systemctl restart slurmd",
            &["systemctl", "restart"]
        ));
        assert!(!matches(
            "systemctl restart slurmd",
            &["systemctl", "restart", "sshd"]
        ));
        assert!(!matches(
            "systemctl restart slurmd",
            &["systemctl", "restart", "slurmd", "x"]
        ));
        assert!(!matches("uptime", &["Uptime"]));
        assert!(!matches("uptime", &["/usr/bin/uptime"]));
    }

    #[test]
    fn star_matches_exactly_one_element() {
        let text = "systemctl restart *";
        assert!(matches(text, &["systemctl", "restart", "slurmd"]));
        assert!(matches(text, &["systemctl", "restart", ""]));
        assert!(!matches(text, &["systemctl", "restart"]));
        assert!(!matches(text, &["systemctl", "restart", "a", "b"]));
        assert!(matches("* --version", &["slurmd", "--version"]));
        assert!(matches(
            "journalctl -u * -n *",
            &["journalctl", "-u", "slurmd", "-n", "50"]
        ));
    }

    #[test]
    fn final_double_star_matches_zero_or_more() {
        let text = "journalctl -u slurmd **";
        assert!(matches(text, &["journalctl", "-u", "slurmd"]));
        assert!(matches(text, &["journalctl", "-u", "slurmd", "-n", "50"]));
        assert!(!matches(text, &["journalctl", "-u"]));
        assert!(!matches(text, &["journalctl", "-u", "sshd", "-n", "50"]));
        assert!(matches("cat **", &["cat", "/proc/loadavg", "/proc/uptime"]));
        assert!(matches("**", &[]));
        assert!(matches("**", &["rm", "-rf", "/"]));
        assert!(matches("* * **", &["a", "b"]));
        assert!(!matches("* * **", &["a"]));
    }

    #[test]
    fn any_pattern_may_match() {
        let text = "uptime; systemctl restart slurmd ;cat /proc/loadavg";
        assert!(matches(text, &["uptime"]));
        assert!(matches(text, &["systemctl", "restart", "slurmd"]));
        assert!(matches(text, &["cat", "/proc/loadavg"]));
        assert!(!matches(text, &["cat", "/etc/shadow"]));
    }

    #[test]
    fn shell_syntax_in_an_element_is_plain_text() {
        assert!(!matches("echo *", &["echo", "a", ";", "rm"]));
        assert!(matches("echo *", &["echo", "a; rm -rf /"]));
        assert!(matches("echo $(id)", &["echo", "$(id)"]));
    }

    #[test]
    fn display_is_canonical_and_parses_back() {
        let cases = [
            (
                "  uptime ;systemctl   restart\tslurmd ",
                "uptime; systemctl restart slurmd",
            ),
            ("journalctl -u * **", "journalctl -u * **"),
            ("**", "**"),
            ("* x", "* x"),
        ];
        for (text, canonical) in cases {
            let argv = ArgvList::parse(text).unwrap();
            assert_eq!(argv.to_string(), canonical, "{text:?}");
            assert_eq!(ArgvList::parse(canonical).unwrap(), argv, "{text:?}");
            assert_eq!(canonical.parse::<ArgvList>().unwrap(), argv, "{text:?}");
        }
    }

    #[test]
    fn error_empty_patterns() {
        let empty = "empty pattern: remove the extra ';' or write a command";
        assert_eq!(reason(""), empty);
        assert_eq!(reason("uptime;;w"), empty);
        assert_eq!(reason("uptime;"), empty);
        assert_eq!(reason(" ; uptime"), empty);
    }

    #[test]
    fn error_double_star_not_last() {
        let last = "`**` matches every remaining element, so it must be the last word";
        assert_eq!(reason("cat ** /etc/shadow"), last);
        assert_eq!(reason("** uptime"), last);
        assert_eq!(reason("** **"), last);
    }

    #[test]
    fn error_globs_inside_words() {
        let whole = "'*' must be a whole word: `*` matches one element and a final `**` the rest; \
                     there is no globbing inside a word";
        assert_eq!(reason("cat /proc/**"), whole);
        assert_eq!(reason("cat /proc/*"), whole);
        assert_eq!(reason("systemctl restart slurm*"), whole);
        assert_eq!(reason("cat ***"), whole);
    }

    #[test]
    fn error_lone_star_pattern() {
        assert!(reason("uptime; *").starts_with("a pattern of `*` alone would run any one-word"));
        assert!(reason("*;uptime").starts_with("a pattern of `*` alone"));
    }

    #[test]
    fn error_names_the_pattern() {
        let err = ArgvList::parse("uptime; cat ** x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid argv pattern \"cat ** x\": `**` matches every remaining element, \
             so it must be the last word"
        );
    }
}
