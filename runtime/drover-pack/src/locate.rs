//! Finding where a key sits in YAML text, for errors found after parsing.
//!
//! Checks that need a whole parsed value (a `default` against its schema, an
//! empty `plugins:` map) run after deserialization, when the YAML parser's
//! positions are gone. This module recovers a position from the text: it
//! follows a path of map keys through block-style YAML by indentation. It is
//! a best effort; flow style (`{a: b}`) or anything unusual gives `None`, and
//! the error then names only the file and field path.

/// 1-based `(line, column)` of the last key of `path` (a chain of map keys
/// from the document root), or `None` if it cannot be found.
pub(crate) fn locate(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0; // first line of the current parent's block
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for key in path {
        let mut child_indent = None;
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(start) {
            let content = line.trim_start_matches(' ');
            if content.trim().is_empty() || content.starts_with('#') || content.starts_with("---") {
                continue;
            }
            let indent = line.len() - content.len();
            if parent_indent.is_some_and(|parent| indent <= parent) {
                break; // left the parent's block
            }
            let child = *child_indent.get_or_insert(indent);
            if indent == child && is_key(content, key) {
                hit = Some((i, indent));
                break;
            }
        }
        let (i, indent) = hit?;
        found = Some((i + 1, indent + 1));
        start = i + 1;
        parent_indent = Some(indent);
    }
    found
}

/// Whether `content` (a line without its indentation) starts with the map key `key`.
fn is_key(content: &str, key: &str) -> bool {
    let rest = [("", ""), ("\"", "\""), ("'", "'")]
        .iter()
        .find_map(|(open, close)| {
            content
                .strip_prefix(open)?
                .strip_prefix(key)?
                .strip_prefix(close)
        });
    rest.is_some_and(|rest| {
        let rest = rest.trim_start_matches(' ');
        rest.strip_prefix(':')
            .is_some_and(|after| after.is_empty() || after.starts_with([' ', '\t']))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
name: core
plugins:
  # a comment
  echo:
    kind: action
    parameters:
      message:
        type: string

        default: hi
  other:
    'default': x
";

    #[test]
    fn follows_indentation() {
        assert_eq!(locate(TEXT, &["name"]), Some((1, 1)));
        assert_eq!(locate(TEXT, &["plugins", "echo"]), Some((4, 3)));
        assert_eq!(
            locate(
                TEXT,
                &["plugins", "echo", "parameters", "message", "default"]
            ),
            Some((10, 9))
        );
        assert_eq!(
            locate(TEXT, &["plugins", "other", "default"]),
            Some((12, 5))
        );
        // Only direct children count, and a block ends where indentation drops.
        assert_eq!(locate(TEXT, &["plugins", "kind"]), None);
        assert_eq!(locate(TEXT, &["plugins", "echo", "default"]), None);
        assert_eq!(locate("a: {b: 1}", &["a", "b"]), None);
    }
}
