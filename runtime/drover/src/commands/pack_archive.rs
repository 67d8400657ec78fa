//! `drover pack build|sign|verify|push|pull`: a pack directory into a
//! `.dpk` archive, an SSH signature into the archive (or into a pack
//! directory, for git), checking one, and moving one to and from an OCI
//! registry ([`crate::oci`]). None needs a drover (verify reads the local
//! database's trusted keys, when there is a database).
//!
//! `pack build` is a list of steps, each its own function, so steps can be
//! added before the checks (building plugin sources) or after them
//! (running the pack's tests).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use drover_pack::archive::{self, BuiltArchive};
use serde_json::json;
use sha2::Digest as _;

use crate::cli::PackCmd;
use crate::output;

pub fn run(db: &Path, cmd: PackCmd) -> Result<ExitCode> {
    match cmd {
        PackCmd::Build {
            dir,
            out,
            skip_tests,
            json,
        } => build(&dir, out, skip_tests, json),
        PackCmd::Sign { archive, key } => sign(&archive, &key),
        PackCmd::Verify { archive, json } => verify(db, &archive, json),
        PackCmd::Push {
            archive,
            reference,
            registry,
        } => push(&archive, &reference, &registry),
        PackCmd::Pull {
            reference,
            out,
            registry,
        } => pull(&reference, out, &registry),
        _ => unreachable!("only build, sign, verify, push and pull come here"),
    }
}

/// The registry options of `--plain-http`, `--username`,
/// `--password-stdin` and the environment.
pub fn registry_options(args: &crate::cli::RegistryArgs) -> Result<crate::oci::Options> {
    crate::oci::Options::from_flags(args.plain_http, args.username.clone(), args.password_stdin)
}

/// `drover pack push`: the archive is read and checked first (a broken
/// one is not published); an unsigned one is pushed, with a warning (an
/// install refuses it all the same).
fn push(path: &Path, reference: &str, args: &crate::cli::RegistryArgs) -> Result<ExitCode> {
    let r = crate::oci::Reference::parse(reference)?;
    let options = registry_options(args)?;
    let opened = archive::read_archive(path, &archive::Limits::default())?;
    let config = crate::oci::PackConfig {
        name: opened.manifest.name.clone(),
        version: opened.manifest.version.clone(),
        archive_manifest_sha256: hex::encode(sha2::Sha256::digest(&opened.manifest_bytes)),
        signed: opened.signature.is_some(),
    };
    drop(opened);
    let digest = crate::oci::Client::new(&r, &options).push(path, &config)?;
    println!(
        "pushed {} ({}@{}) to {r} ({digest})",
        path.display(),
        config.name,
        config.version
    );
    if !config.signed {
        eprintln!(
            "warning: the archive is unsigned: `drover pack install {r}` refuses it unless              --allow-unsigned (sign it with `drover pack sign {} --key NAME` and push again)",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Downloads `reference`'s archive into a new file in `dir`, checked
/// against the artifact (size, digest) and read as an archive (every file
/// against its manifest). Returns the file and the temporary directory
/// it was downloaded into (dropped: removed), when `dir` is `None`.
pub fn pull_archive(
    reference: &crate::oci::Reference,
    options: &crate::oci::Options,
    dir: Option<&Path>,
) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    let limits = archive::Limits::default();
    let (tmp, dir) = match dir {
        Some(d) => (None, d.to_owned()),
        None => {
            let t = tempfile::tempdir().context("cannot make a temporary directory")?;
            let d = t.path().to_owned();
            (Some(t), d)
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let partial = tempfile::Builder::new()
        .prefix(".drover-pull-")
        .tempdir_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let file = partial.path().join("pack.dpk");
    // A gzip stream is not much larger than what it holds: the archive
    // reader's limit on the decompressed total bounds the layer too.
    let (name, version) =
        crate::oci::Client::new(reference, options).pull(&file, limits.max_total_bytes)?;
    let opened = archive::read_archive(&file, &limits)
        .with_context(|| format!("{reference}: the artifact's archive"))?;
    if opened.manifest.name != name || opened.manifest.version != version {
        bail!(
            "{reference}: the artifact says {name}@{version}, its archive holds {}@{}; refused",
            opened.manifest.name,
            opened.manifest.version
        );
    }
    let target = dir.join(opened.manifest.file_name());
    drop(opened);
    std::fs::rename(&file, &target)
        .with_context(|| format!("cannot write {}", target.display()))?;
    Ok((target, tmp))
}

/// `drover pack pull`.
fn pull(
    reference: &str,
    out: Option<PathBuf>,
    args: &crate::cli::RegistryArgs,
) -> Result<ExitCode> {
    let r = crate::oci::Reference::parse(reference)?;
    let options = registry_options(args)?;
    let out = out.unwrap_or_else(|| PathBuf::from("."));
    let (path, _) = pull_archive(&r, &options, Some(out.as_path()))?;
    println!(
        "pulled {r} into {} (install it with `drover pack install {}`)",
        path.display(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `drover pack build`: the steps, in order; each says what it did
/// (unless `as_json`: then one object at the end).
fn build(dir: &Path, out: Option<PathBuf>, skip_tests: bool, as_json: bool) -> Result<ExitCode> {
    let out = out.unwrap_or_else(|| dir.join("dist"));
    let sources = super::pack::compile_sources(dir, as_json)?;
    build_check_rules(dir)?;
    // One throwaway cache for the checks and the tests: each component is
    // compiled once (a Python one takes ~10 s).
    let scratch = tempfile::tempdir().context("cannot make a temporary directory")?;
    let cache = scratch.path().join("cache");
    let checked = build_check_components(dir, scratch.path(), &cache, as_json)?;
    let tests = if skip_tests {
        None
    } else {
        let report = build_run_tests(dir, &cache)?;
        if !as_json && !report.files.is_empty() {
            println!("{report}");
        }
        if !report.ok() {
            if as_json {
                output::json(&json!({"built": sources, "checked": checked, "tests": report}))?;
            }
            eprintln!(
                "error: {} of the pack's tests failed: no archive written (fix them, or build \
                 with --skip-tests)",
                report.failed
            );
            return Ok(ExitCode::from(1));
        }
        Some(report)
    };
    let built = build_write_archive(dir, &out)?;
    if as_json {
        output::json(&json!({
            "built": sources,
            "checked": checked,
            "tests": tests,
            "archive": {
                "path": built.path,
                "name": built.manifest.name,
                "version": built.manifest.version,
                "files": built.manifest.files.len(),
            },
        }))?;
    } else {
        build_report(&built);
    }
    Ok(ExitCode::SUCCESS)
}

/// pack.yaml, rules and policies parse and check (what install checks
/// first).
fn build_check_rules(dir: &Path) -> Result<()> {
    drover_engine::read_pack_rules(dir)
        .with_context(|| format!("cannot build the pack in {}", dir.display()))?;
    Ok(())
}

/// Every component is a component of its world and imports only what its
/// plugin declares: the install's checks, in a throwaway database and
/// cache (they need none of the host's state).
fn build_check_components(
    dir: &Path,
    scratch: &Path,
    cache: &Path,
    quiet: bool,
) -> Result<Vec<serde_json::Value>> {
    let store = drover_store::Store::open(&scratch.join("build.db"))?;
    let app = drover_app::App::with_defaults(store, cache)?;
    let plugins = app
        .check_components(dir)
        .with_context(|| format!("cannot build the pack in {}", dir.display()))?;
    let mut checked = Vec::new();
    for p in plugins {
        if !quiet {
            let imports = if p.imports.is_empty() {
                "no host imports".to_owned()
            } else {
                p.imports.join(", ")
            };
            println!(
                "checked {} ({}) {}  imports: {imports}",
                p.name, p.kind, p.digest
            );
        }
        checked.push(
            json!({"plugin": p.name, "kind": p.kind, "digest": p.digest, "imports": p.imports}),
        );
    }
    Ok(checked)
}

/// The pack's own tests (`tests/*.yaml`), as `drover pack test` runs them.
fn build_run_tests(dir: &Path, cache: &Path) -> Result<drover_engine::pack_test::Report> {
    let opts = drover_engine::pack_test::Options {
        filter: None,
        cache_dir: Some(cache.to_owned()),
    };
    drover_engine::pack_test::test_pack(dir, &opts)
        .with_context(|| format!("cannot build the pack in {}", dir.display()))
}

/// Writes `out/NAME-VERSION.dpk`.
fn build_write_archive(dir: &Path, out: &Path) -> Result<BuiltArchive> {
    Ok(archive::write_archive(dir, out)?)
}

fn build_report(built: &BuiltArchive) {
    let bytes: u64 = built.manifest.files.iter().map(|f| f.size).sum();
    println!(
        "built {} ({}@{}: {} files, {bytes} bytes, unsigned; sign it with `drover pack sign {} \
         --key NAME`)",
        built.path.display(),
        built.manifest.name,
        built.manifest.version,
        built.manifest.files.len(),
        built.path.display()
    );
}

/// `drover pack sign`: signs the manifest of a checked archive and puts
/// the signature in it.
fn sign(path: &Path, key: &str) -> Result<ExitCode> {
    let key_path = crate::commands::key::find_private_key(key)?;
    let text = read_private_key(&key_path)?;
    if path.is_dir() {
        return sign_dir(path, &key_path, &text);
    }
    let opened = archive::read_archive(path, &archive::Limits::default())?;
    let what = key_path.display().to_string();
    let signature = drover_pack::signing::sign(&what, &text, &opened.manifest_bytes)?;
    let signer = drover_pack::signing::verify(&opened.manifest_bytes, &signature)?;
    drop(opened);
    archive::add_signature(path, &signature)?;
    println!(
        "signed {} with {} ({})",
        path.display(),
        key_path.display(),
        drover_pack::signing::fingerprint(&signer)
    );
    Ok(ExitCode::SUCCESS)
}

/// `drover pack sign DIR`: the manifest an archive of `dir` would have,
/// signed, both written into `dir` (for publishing the directory in git).
fn sign_dir(dir: &Path, key_path: &Path, key_text: &str) -> Result<ExitCode> {
    let (manifest, bytes) = archive::dir_manifest(dir)?;
    let what = key_path.display().to_string();
    let signature = drover_pack::signing::sign(&what, key_text, &bytes)?;
    let signer = drover_pack::signing::verify(&bytes, &signature)?;
    let manifest_path = dir.join(archive::ARCHIVE_MANIFEST);
    let sig_path = dir.join(archive::SIGNATURE_ENTRY);
    std::fs::write(&manifest_path, &bytes)
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    std::fs::write(&sig_path, signature.as_bytes())
        .with_context(|| format!("cannot write {}", sig_path.display()))?;
    println!(
        "signed {} ({}@{}, {} files) with {} ({}): commit {} and {} with the pack",
        dir.display(),
        manifest.name,
        manifest.version,
        manifest.files.len(),
        key_path.display(),
        drover_pack::signing::fingerprint(&signer),
        archive::ARCHIVE_MANIFEST,
        archive::SIGNATURE_ENTRY
    );
    Ok(ExitCode::SUCCESS)
}

/// A private key file: a regular file, small, readable by its owner only
/// (as ssh insists).
fn read_private_key(path: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() || meta.len() > 64 * 1024 {
        anyhow::bail!(
            "{}: not a private key file (an OpenSSH private key is a small text file)",
            path.display()
        );
    }
    if meta.permissions().mode() & 0o077 != 0 {
        anyhow::bail!(
            "{}: other users can read this private key; `chmod 600 {}` first",
            path.display(),
            path.display()
        );
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `drover pack verify`.
fn verify(db: &Path, path: &Path, as_json: bool) -> Result<ExitCode> {
    // The trusted keys, if this machine has a drover database.
    let trusted = if db.exists() {
        crate::context::open_store(db)?.list_trusted_keys()?
    } else {
        Vec::new()
    };
    let verified = drover_app::trust::verify_archive(path, &trusted)?;
    let m = &verified.opened.manifest;
    if as_json {
        output::json(&json!({
            "archive": path.display().to_string(),
            "pack": m.name,
            "version": m.version,
            "files": m.files.iter().map(|f| json!({
                "path": f.path, "size": f.size, "sha256": f.sha256, "ok": true,
            })).collect::<Vec<_>>(),
            "signer": verified.signer,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}: pack {}@{}", path.display(), m.name, m.version);
    for f in &m.files {
        println!("  OK  {}  {} bytes  sha256:{}", f.path, f.size, f.sha256);
    }
    println!("signer: {}", verified.signer.describe());
    Ok(ExitCode::SUCCESS)
}
