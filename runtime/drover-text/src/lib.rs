//! Helpers for drover's messages about YAML files (pack manifests, rules):
//! "did you mean …?", serde's messages in drover's words, and finding
//! the line of a key after parsing.
//!
//! Owns an edit-distance heuristic for misspelt keys and names, and a
//! best-effort search for where a key sits in block-style YAML, used for
//! errors found after deserialization (when the parser's positions are
//! gone), [`yaml::deserialize`], which parses a document with located
//! errors, and [`located`], a YAML tree with the line and column of every
//! node for checks that run after parsing (workflows, the fleet
//! inventory). It knows nothing of packs, rules or workflows.

pub mod located;
pub mod yaml;

/// The candidate closest to `input`, if it is close enough to be a typo:
/// an optimal-string-alignment distance (case-insensitive) of at most a
/// third of the candidate's length (at least 1), else the one candidate an
/// abbreviation of three or more characters starts.
pub fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let input = input.to_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let near = candidates
        .iter()
        .map(|c| (distance(&input, &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    let unique = |mut it: std::vec::IntoIter<&'a str>| match (it.next(), it.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    };
    let len = input.chars().count();
    near.or_else(|| {
        unique(
            candidates
                .iter()
                .copied()
                .filter(|c| len >= 3 && c.to_lowercase().starts_with(&input))
                .collect::<Vec<_>>()
                .into_iter(),
        )
    })
    .or_else(|| {
        // A shortened word (`params`): a long shared beginning.
        let need = (len.saturating_sub(1)).min(5);
        unique(
            candidates
                .iter()
                .copied()
                .filter(|c| len >= 4 && common_prefix(&input, &c.to_lowercase()) >= need)
                .collect::<Vec<_>>()
                .into_iter(),
        )
    })
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// Optimal-string-alignment distance between `a` and `b`, by characters.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// 1-based `(line, column)` of the last key of `path` (map keys from the
/// document root) in block-style YAML, or `None` when it cannot be found
/// (flow style, anchors, anything unusual).
pub fn locate(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0;
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
                break;
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

/// Whether `content` (a line without its indentation) starts with the map
/// key `key`, bare or quoted.
fn is_key(content: &str, key: &str) -> bool {
    let double = format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""));
    let single = format!("'{}'", key.replace('\'', "''"));
    [key, double.as_str(), single.as_str()]
        .iter()
        .filter_map(|k| content.strip_prefix(k))
        .any(|rest| {
            let rest = rest.trim_start_matches(' ');
            rest.strip_prefix(':')
                .is_some_and(|after| after.is_empty() || after.starts_with([' ', '\t']))
        })
}

/// Rewrites a serde error message in drover's words: an unknown key or
/// value gets a "did you mean" and the list of valid ones (without the
/// keys `hidden` says to leave out), missing and duplicate keys are named
/// plainly. Other messages come back unchanged.
pub fn explain_serde(message: &str, hidden: impl Fn(&str, &[&str]) -> bool) -> String {
    // serde quotes names between backticks.
    let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let unknown = if message.starts_with("unknown field `") {
        Some("key")
    } else if message.starts_with("unknown variant `") {
        Some("value")
    } else {
        None
    };
    if let (Some(what), Some((given, valid))) = (unknown, quoted.split_first()) {
        let shown: Vec<&str> = valid
            .iter()
            .copied()
            .filter(|k| !hidden(k, valid))
            .collect();
        if shown.is_empty() {
            return format!("unknown {what} {given:?}: nothing is allowed here");
        }
        let hint = closest(given, shown.iter().copied())
            .map(|near| format!("; did you mean {near:?}?"))
            .unwrap_or_default();
        return format!(
            "unknown {what} {given:?}{hint} (valid {what}s: {})",
            shown.join(", ")
        );
    }
    match quoted.as_slice() {
        [name] if message.starts_with("missing field `") => {
            format!("missing required key {name:?}")
        }
        [name] if message.starts_with("duplicate field `") => {
            format!("key {name:?} is given twice; give it once")
        }
        _ if message.starts_with("invalid type: ") && message.ends_with(", expected a boolean") => {
            format!("{message} (write true or false)")
        }
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names() {
        let ops = ["matchwildcard", "equals", "contains", "timediff_lt"];
        assert_eq!(closest("matchwildcards", ops), Some("matchwildcard"));
        assert_eq!(closest("Equals", ops), Some("equals"));
        assert_eq!(closest("contians", ops), Some("contains"));
        assert_eq!(closest("timediff", ops), Some("timediff_lt"));
        assert_eq!(closest("zzz", ops), None);
        assert_eq!(closest("params", ["ref", "parameters"]), Some("parameters"));
        assert_eq!(closest("para", ["ref", "parameters"]), Some("parameters"));
        assert_eq!(closest("pack", ["name", "parameters"]), None);
    }

    #[test]
    fn finds_keys_by_indentation() {
        let text = "\
name: r
criteria:
  trigger.node:
    type: matchwildcard
  \"trigger.headers['X-Key']\":
    type: equals
action:
  parameters:
    node: x
";
        assert_eq!(
            locate(text, &["criteria", "trigger.node", "type"]),
            Some((4, 5))
        );
        assert_eq!(
            locate(text, &["criteria", "trigger.headers['X-Key']", "type"]),
            Some((6, 5))
        );
        assert_eq!(
            locate(text, &["action", "parameters", "node"]),
            Some((9, 5))
        );
        assert_eq!(locate(text, &["criteria", "node"]), None);
    }
}
