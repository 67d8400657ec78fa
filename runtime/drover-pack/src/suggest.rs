//! "Did you mean …?" for misspelt keys, values and parameter names.
//!
//! Owns the edit-distance heuristic shared by the manifest and parameter
//! errors; it knows nothing about where the candidates come from.

/// The candidate closest to `input`, if it is close enough to be a likely typo.
///
/// "Close enough" is an optimal-string-alignment distance (insertions,
/// deletions, substitutions and swaps of neighbours) of at most a third of the
/// candidate's length, and at least 1, so `mesage` finds `message` but `x`
/// does not find `timeout`. Failing that, an abbreviation of at least three
/// characters finds the one candidate it starts (`int` finds `integer`).
pub(crate) fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let input = input.to_ascii_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let near = candidates
        .iter()
        .map(|candidate| {
            (
                distance(&input, &candidate.to_ascii_lowercase()),
                *candidate,
            )
        })
        .filter(|(d, candidate)| *d <= (candidate.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate);
    near.or_else(|| {
        let mut starting = candidates.iter().filter(|candidate| {
            input.len() >= 3 && candidate.to_ascii_lowercase().starts_with(&input)
        });
        match (starting.next(), starting.next()) {
            (Some(only), None) => Some(*only),
            _ => None,
        }
    })
}

/// Optimal-string-alignment distance between `a` and `b`, by characters.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j] = distance between a[..i] and b[..j]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_and_ignores_strangers() {
        let keys = ["kind", "timeout", "memory", "capabilities"];
        assert_eq!(closest("timout", keys), Some("timeout"));
        assert_eq!(closest("tiemout", keys), Some("timeout"));
        assert_eq!(closest("capabilites", keys), Some("capabilities"));
        assert_eq!(closest("Memory", keys), Some("memory"));
        assert_eq!(closest("x", keys), None);
        assert_eq!(closest("colour", keys), None);
        assert_eq!(closest("cap", keys), Some("capabilities"));
        assert_eq!(
            closest("int", ["string", "integer", "number"]),
            Some("integer")
        );
        assert_eq!(closest("me", keys), None);
        assert_eq!(closest("nod", ["node_a", "node_b"]), None);
    }
}
