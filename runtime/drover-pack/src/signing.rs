//! Signatures of pack archives: OpenSSH ed25519 keys and SSH signatures
//! (the SSHSIG format of `ssh-keygen -Y sign`, namespace
//! [`SIGNATURE_NAMESPACE`]) over an archive's manifest bytes.
//!
//! The format is OpenSSH's own, so anyone can check a signature without
//! drover: `ssh-keygen -Y verify -f allowed_signers -I NAME -n drover-pack
//! -s SIG < drover-archive.json`. Keys are identified by their SHA-256
//! fingerprint (`SHA256:…`, as `ssh-keygen -l` prints it). This module owns
//! making keys, signing and verifying; which keys are trusted for which
//! packs is the store's and the application's.

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

/// The SSHSIG namespace of pack signatures (a signature made for another
/// purpose, e.g. git commits, does not verify as a pack's).
pub const SIGNATURE_NAMESPACE: &str = "drover-pack";

/// Why a key or a signature is refused.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{what}: not an OpenSSH {kind}: {message}")]
    BadKey {
        what: String,
        kind: &'static str,
        message: String,
    },
    #[error(
        "{what}: a {algorithm} key; drover signs and trusts ed25519 keys only (make one with \
         `drover key new` or `ssh-keygen -t ed25519`)"
    )]
    NotEd25519 { what: String, algorithm: String },
    #[error(
        "{what}: the private key is encrypted with a passphrase; drover reads unencrypted keys \
         only (keep it 0600; `ssh-keygen -p -N '' -f KEY` removes a passphrase)"
    )]
    Encrypted { what: String },
    #[error("the signature is not an SSH signature (-----BEGIN SSH SIGNATURE-----): {0}")]
    BadSignature(String),
    #[error(
        "the signature is for namespace {0:?}, not {SIGNATURE_NAMESPACE:?}: it was not made for \
         a drover pack"
    )]
    WrongNamespace(String),
    #[error(
        "the signature does not match the archive's manifest: the manifest was changed after \
         it was signed, or the signature belongs to another archive"
    )]
    Mismatch,
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// A new key pair: the private key in OpenSSH format, the public key's
/// `authorized_keys` line, and its fingerprint.
pub struct NewKey {
    pub private_openssh: String,
    pub public_openssh: String,
    pub fingerprint: String,
}

/// Makes a new ed25519 key pair with `comment` (e.g. the key's name).
pub fn new_key(comment: &str) -> Result<NewKey, SignError> {
    let mut key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519)
        .map_err(|e| SignError::Sign(e.to_string()))?;
    key.set_comment(comment);
    let private_openssh = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| SignError::Sign(e.to_string()))?
        .to_string();
    let public_openssh = key
        .public_key()
        .to_openssh()
        .map_err(|e| SignError::Sign(e.to_string()))?;
    Ok(NewKey {
        private_openssh,
        public_openssh,
        fingerprint: fingerprint(key.public_key()),
    })
}

/// `SHA256:…`, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Parses an OpenSSH public key line (`ssh-ed25519 AAAA… comment`);
/// `what` names it in errors (e.g. the file).
pub fn parse_public_key(what: &str, text: &str) -> Result<PublicKey, SignError> {
    let key = PublicKey::from_openssh(text.trim()).map_err(|e| SignError::BadKey {
        what: what.to_owned(),
        kind: "public key (one line: ssh-ed25519 AAAA… comment)",
        message: e.to_string(),
    })?;
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(SignError::NotEd25519 {
            what: what.to_owned(),
            algorithm: key.algorithm().to_string(),
        });
    }
    Ok(key)
}

/// Signs `manifest` with the OpenSSH private key `private_openssh`
/// (`what` names it in errors) and returns the armored signature.
pub fn sign(what: &str, private_openssh: &str, manifest: &[u8]) -> Result<String, SignError> {
    let key = PrivateKey::from_openssh(private_openssh).map_err(|e| SignError::BadKey {
        what: what.to_owned(),
        kind: "private key (-----BEGIN OPENSSH PRIVATE KEY-----)",
        message: e.to_string(),
    })?;
    if key.is_encrypted() {
        return Err(SignError::Encrypted {
            what: what.to_owned(),
        });
    }
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(SignError::NotEd25519 {
            what: what.to_owned(),
            algorithm: key.algorithm().to_string(),
        });
    }
    let sig = key
        .sign(SIGNATURE_NAMESPACE, HashAlg::Sha512, manifest)
        .map_err(|e| SignError::Sign(e.to_string()))?;
    sig.to_pem(LineEnding::LF)
        .map_err(|e| SignError::Sign(e.to_string()))
}

/// Checks the armored signature `pem` over `manifest` and returns the key
/// that made it (the signature carries it; whether that key is trusted is
/// the caller's question).
pub fn verify(manifest: &[u8], pem: &str) -> Result<PublicKey, SignError> {
    let sig = SshSig::from_pem(pem.trim()).map_err(|e| SignError::BadSignature(e.to_string()))?;
    if sig.namespace() != SIGNATURE_NAMESPACE {
        return Err(SignError::WrongNamespace(sig.namespace().to_owned()));
    }
    let key = PublicKey::from(sig.public_key().clone());
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(SignError::NotEd25519 {
            what: "the signature's key".into(),
            algorithm: key.algorithm().to_string(),
        });
    }
    key.verify(SIGNATURE_NAMESPACE, manifest, &sig)
        .map_err(|_| SignError::Mismatch)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_names_its_key() {
        let key = new_key("team").unwrap();
        let sig = sign("team", &key.private_openssh, b"manifest").unwrap();
        let signer = verify(b"manifest", &sig).unwrap();
        assert_eq!(fingerprint(&signer), key.fingerprint);
        let public = parse_public_key("team.pub", &key.public_openssh).unwrap();
        assert_eq!(fingerprint(&public), key.fingerprint);
    }

    #[test]
    fn a_changed_manifest_or_signature_is_refused() {
        let key = new_key("team").unwrap();
        let sig = sign("team", &key.private_openssh, b"manifest").unwrap();
        assert!(matches!(
            verify(b"manifest!", &sig),
            Err(SignError::Mismatch)
        ));
        assert!(matches!(
            verify(b"manifest", "not a signature"),
            Err(SignError::BadSignature(_))
        ));
        let truncated = &sig[..sig.len() / 2];
        assert!(verify(b"manifest", truncated).is_err());
    }

    #[test]
    fn another_namespace_is_refused() {
        let key = PrivateKey::from_openssh(new_key("t").unwrap().private_openssh).unwrap();
        let git = key
            .sign("git", HashAlg::Sha512, b"manifest")
            .unwrap()
            .to_pem(LineEnding::LF)
            .unwrap();
        let err = verify(b"manifest", &git).unwrap_err();
        assert!(
            matches!(err, SignError::WrongNamespace(ref n) if n == "git"),
            "{err}"
        );
    }

    #[test]
    fn garbage_keys_are_refused_naming_the_file() {
        let err = parse_public_key("k.pub", "ssh-ed25519 notbase64").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("k.pub: not an OpenSSH public key"),
            "{err}"
        );
        let err = sign("k", "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n", b"m").unwrap_err();
        assert!(
            err.to_string().starts_with("k: not an OpenSSH private key"),
            "{err}"
        );
    }
}
