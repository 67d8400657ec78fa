//! Trusting publishers and checking pack archives against them: `drover
//! trust add|list|remove` (a key's name, its pack name patterns) and the
//! verification `drover pack install FILE.dpk` and `drover pack verify`
//! run (the archive's files against its manifest, the signature against
//! the manifest, the signer against the trusted keys).
//!
//! A signature that does not verify is tampering and always refused; an
//! unsigned archive, a signer no key is trusted for, or a trusted key
//! whose patterns do not match the pack are [`Signer`] states the caller
//! refuses unless the operator allowed unsigned archives.

use std::path::Path;

use drover_core::{ChangeBy, now_ms};
use drover_pack::archive::{ArchiveError, Limits, OpenedArchive, read_archive};
use drover_pack::signing::{self, SignError};
use drover_store::{Store, StoreError, TrustedKey};
use serde::Serialize;

/// The longest key name.
pub const MAX_KEY_NAME: usize = 64;

/// Why a trust change is refused. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(
        "key name {0:?}: write letters, digits, `-`, `_` or `.`, starting with a letter or a \
         digit, at most {MAX_KEY_NAME} characters (e.g. batch-team)"
    )]
    BadName(String),
    #[error(transparent)]
    Key(#[from] SignError),
    #[error(
        "--packs pattern {pattern:?}: {problem}; write pack names or patterns with `*` and `?`, \
         comma-separated (e.g. 'batch*,ops_*'); pack names are [a-z][a-z0-9_]*"
    )]
    BadPattern { pattern: String, problem: String },
    #[error(
        "a key named {0:?} is already trusted; `drover trust remove {0}` first, or pick another \
         name"
    )]
    NameTaken(String),
    #[error(
        "this key ({fingerprint}) is already trusted as {name:?}; `drover trust remove {name}` \
         first to trust it for other packs"
    )]
    KeyTaken { name: String, fingerprint: String },
    #[error("no trusted key is named {0:?} (see `drover trust list`)")]
    NotTrusted(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a key name.
pub fn check_key_name(name: &str) -> Result<(), TrustError> {
    let ok = name.len() <= MAX_KEY_NAME
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(TrustError::BadName(name.to_owned()))
    }
}

/// Parses `--packs` (comma-separated patterns; `*` when absent).
pub fn parse_patterns(packs: Option<&str>) -> Result<Vec<String>, TrustError> {
    let Some(packs) = packs else {
        return Ok(vec!["*".into()]);
    };
    let mut out = Vec::new();
    for p in packs.split(',').map(str::trim) {
        let bad = |problem: &str| TrustError::BadPattern {
            pattern: p.to_owned(),
            problem: problem.to_owned(),
        };
        if p.is_empty() {
            return Err(bad("empty"));
        }
        if let Some(c) = p
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '*' | '?'))
        {
            return Err(bad(&format!("{c:?} never appears in a pack name")));
        }
        if p.len() > 128 {
            return Err(bad("longer than 128 characters"));
        }
        if !out.iter().any(|o: &String| o == p) {
            out.push(p.to_owned());
        }
    }
    Ok(out)
}

/// Whether `name` matches the glob `pattern` (`*`: any run, `?`: one
/// character).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    // Iterative glob with one backtrack point: linear enough for names.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Trusts the OpenSSH public key `public_key` (read from `what`, e.g. the
/// file) as `name`, for the packs `packs` matches; records the change.
pub fn add_trust(
    store: &Store,
    what: &str,
    public_key: &str,
    name: &str,
    packs: Option<&str>,
    by: &ChangeBy,
) -> Result<TrustedKey, TrustError> {
    check_key_name(name)?;
    let key = signing::parse_public_key(what, public_key)?;
    let fingerprint = signing::fingerprint(&key);
    let packs = parse_patterns(packs)?;
    for k in store.list_trusted_keys()? {
        if k.name == name {
            return Err(TrustError::NameTaken(name.to_owned()));
        }
        if k.fingerprint == fingerprint {
            return Err(TrustError::KeyTaken {
                name: k.name,
                fingerprint,
            });
        }
    }
    let mut public = key.clone();
    // The comment is the publisher's; the operator's name is `name`.
    public.set_comment(name);
    let trusted = TrustedKey {
        name: name.to_owned(),
        public_key: public
            .to_openssh()
            .map_err(|e| SignError::Sign(e.to_string()))?,
        fingerprint,
        packs,
        added_at_ms: now_ms(),
        added_by: by.actor.clone(),
    };
    store.add_trusted_key(trusted.clone(), by)?;
    Ok(trusted)
}

/// Stops trusting the key named `name`; records the change.
pub fn remove_trust(store: &Store, name: &str, by: &ChangeBy) -> Result<TrustedKey, TrustError> {
    store
        .remove_trusted_key(name, by)?
        .ok_or_else(|| TrustError::NotTrusted(name.to_owned()))
}

/// Who signed an archive, as far as this drover is concerned.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Signer {
    /// No signature in the archive.
    Unsigned,
    /// A valid signature by a key no trusted key matches.
    Untrusted { fingerprint: String },
    /// A valid signature by a trusted key whose patterns do not match the
    /// pack's name.
    NotForPack {
        name: String,
        fingerprint: String,
        packs: Vec<String>,
    },
    /// A valid signature by a key trusted for this pack.
    Trusted { name: String, fingerprint: String },
}

impl Signer {
    /// What `pack list/show` and the change log show for an installed
    /// version: `NAME SHA256:…`, or `unsigned`.
    pub fn recorded(&self) -> String {
        match self {
            Signer::Trusted { name, fingerprint } => format!("{name} {fingerprint}"),
            _ => "unsigned".into(),
        }
    }

    /// One line for `drover pack verify`.
    pub fn describe(&self) -> String {
        match self {
            Signer::Unsigned => "unsigned".into(),
            Signer::Untrusted { fingerprint } => {
                format!("signed by {fingerprint} (NOT TRUSTED here: see `drover trust list`)")
            }
            Signer::NotForPack {
                name,
                fingerprint,
                packs,
            } => format!(
                "signed by {name} ({fingerprint}), trusted only for packs '{}', NOT for this one",
                packs.join(",")
            ),
            Signer::Trusted { name, fingerprint } => {
                format!("signed by {name} ({fingerprint}), trusted for this pack")
            }
        }
    }
}

/// Why a verified archive may not be installed as it is.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("{}: {source}; the archive is refused", archive.display())]
    Signature {
        archive: std::path::PathBuf,
        source: SignError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An archive whose files match its manifest and whose signature (if
/// any) matches the manifest, with its signer judged against `trusted`.
pub struct VerifiedArchive {
    pub opened: OpenedArchive,
    pub signer: Signer,
}

/// Reads and checks the archive at `path` (see the module doc); `trusted`
/// are the keys to judge its signer by (none: every signer is untrusted).
pub fn verify_archive(path: &Path, trusted: &[TrustedKey]) -> Result<VerifiedArchive, VerifyError> {
    let opened = read_archive(path, &Limits::default())?;
    let signer = match &opened.signature {
        None => Signer::Unsigned,
        Some(sig) => {
            let key = signing::verify(&opened.manifest_bytes, sig).map_err(|source| {
                VerifyError::Signature {
                    archive: path.to_owned(),
                    source,
                }
            })?;
            let fingerprint = signing::fingerprint(&key);
            match trusted.iter().find(|k| k.fingerprint == fingerprint) {
                None => Signer::Untrusted { fingerprint },
                Some(k)
                    if k.packs
                        .iter()
                        .any(|p| pattern_matches(p, &opened.manifest.name)) =>
                {
                    Signer::Trusted {
                        name: k.name.clone(),
                        fingerprint,
                    }
                }
                Some(k) => Signer::NotForPack {
                    name: k.name.clone(),
                    fingerprint,
                    packs: k.packs.clone(),
                },
            }
        }
    };
    Ok(VerifiedArchive { opened, signer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_globs() {
        for (p, n, want) in [
            ("*", "anything", true),
            ("batch*", "batchops", true),
            ("batch*", "batch", true),
            ("batch*", "ops", false),
            ("b?tch", "batch", true),
            ("b?tch", "bitchy", false),
            ("*ops", "batchops", true),
            ("*o*s", "batchops", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(pattern_matches(p, n), want, "{p} vs {n}");
        }
    }

    #[test]
    fn patterns_that_match_no_pack_name_are_refused() {
        assert_eq!(parse_patterns(None).unwrap(), ["*"]);
        assert_eq!(
            parse_patterns(Some("batch*, ops_*,batch*")).unwrap(),
            ["batch*", "ops_*"]
        );
        let err = parse_patterns(Some("batch*,ops-*"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"ops-*\"") && err.contains("'-'"), "{err}");
        assert!(parse_patterns(Some("a,,b")).is_err());
        assert!(parse_patterns(Some("../x")).is_err());
    }

    #[test]
    fn key_names_are_file_names() {
        assert!(check_key_name("batch-team").is_ok());
        assert!(check_key_name("team_2.key").is_ok());
        for bad in [
            "",
            "-x",
            ".hidden",
            "a/b",
            "../up",
            "white space",
            &"x".repeat(65),
        ] {
            assert!(check_key_name(bad).is_err(), "{bad:?}");
        }
    }
}
