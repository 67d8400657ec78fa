//! [`ParseError`]: what can be wrong with a rule file or a trigger-instance
//! file.
//!
//! Every message names the file and, when known, the line, column and field,
//! in the shape compilers use so editors can jump to it:
//! `rules/on_no_contact.yaml:7:11: criteria.trigger.node.type: unknown operator "matchwildcards"; did you mean "matchwildcard"? (…)`.

use std::fmt;
use std::path::PathBuf;

/// Why a rule (or trigger-instance) document was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// The text is not well-formed YAML (or JSON).
    #[error("{}: invalid {format}: {message}", Place { origin, line: *line, column: *column, path: "" })]
    Syntax {
        /// The file (or a name for text from elsewhere, e.g. `<api>`).
        origin: PathBuf,
        /// `YAML` or `JSON`.
        format: &'static str,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// The parser's complaint.
        message: String,
    },
    /// Well-formed, but it breaks a rule of the format.
    #[error("{}: {message}", Place { origin, line: *line, column: *column, path })]
    Invalid {
        /// The file.
        origin: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// Dotted path of the offending field, e.g. `criteria.trigger.node.type`;
        /// empty for the document as a whole.
        path: String,
        /// What is wrong and what to write instead.
        message: String,
    },
}

impl ParseError {
    /// `(line, column)` of the problem, when known (1-based).
    pub fn location(&self) -> Option<(usize, usize)> {
        match self {
            ParseError::Syntax { line, column, .. } | ParseError::Invalid { line, column, .. } => {
                line.zip(*column)
            }
        }
    }
}

/// `file:line:column: path` (each part only when known).
struct Place<'a> {
    origin: &'a PathBuf,
    line: Option<usize>,
    column: Option<usize>,
    path: &'a str,
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if !self.path.is_empty() && self.path != "." {
            write!(f, ": {}", self.path)?;
        }
        Ok(())
    }
}
