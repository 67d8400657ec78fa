//! `drover pack install|list|show|promote|rollback|diff` (`pack test`:
//! [`super::pack_test`]; `pack build|sign|verify`: [`super::pack_archive`]).
//!
//! Install takes pack directories (local development) and `.dpk`
//! archives: an archive is verified (every file against its manifest, the
//! signature against the manifest) and must be signed by a key trusted for
//! the pack's name, unless `--allow-unsigned`, which installs it in shadow
//! mode. `oci://…` and `git+…` sources are fetched into an archive file
//! first (`fetch_remote`) and then verified exactly as a local one.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use drover_core::ChangeBy;
use drover_pack::Pack;
use drover_policy::Capability;
use serde_json::json;

use crate::cli::PackCmd;
use crate::context::{actor, open_app, open_store};
use crate::output;

pub fn run(db: &Path, cmd: PackCmd) -> Result<ExitCode> {
    match cmd {
        PackCmd::Install {
            dirs,
            registry,
            allow_unsigned,
            shadow,
            trusted,
            reason,
            json,
        } => install(
            db,
            &dirs,
            &registry,
            shadow.then_some(true).or(trusted.then_some(false)),
            allow_unsigned,
            &ChangeBy::new(&actor(), reason.as_deref())?,
            json,
        ),
        PackCmd::Promote { pack, reason } => {
            promote(db, &pack, &ChangeBy::new(&actor(), Some(&reason))?)
        }
        PackCmd::Rollback { pack, reason } => {
            let by = ChangeBy::new(&actor(), Some(&reason))?;
            let done = drover_app::packs::rollback(&open_store(db)?, &pack, &by)?;
            println!(
                "rolled back {}: live version {} → {}; {}",
                done.name,
                done.from,
                done.to,
                done.note()
            );
            Ok(ExitCode::SUCCESS)
        }
        PackCmd::Diff {
            pack,
            from,
            to,
            json,
        } => {
            let d = drover_app::pack_diff::diff_installed(
                &open_store(db)?,
                &pack,
                from.as_deref(),
                to.as_deref(),
            )?;
            print_diff(&d, json)
        }
        PackCmd::New { .. } => run_offline(cmd),
        PackCmd::Test(args) => super::pack_test::run(db, args),
        PackCmd::Build { .. }
        | PackCmd::Sign { .. }
        | PackCmd::Verify { .. }
        | PackCmd::Push { .. }
        | PackCmd::Pull { .. } => crate::commands::pack_archive::run(db, cmd),
        PackCmd::List { json } => list(db, json),
        PackCmd::Show { pack, json } => show(db, &pack, json),
    }
}

/// `drover pack build` and `drover pack new`: a pack directory, no database.
pub fn run_offline(cmd: PackCmd) -> Result<ExitCode> {
    match cmd {
        PackCmd::New { name, lang, dir } => new(&name, lang, dir),
        _ => unreachable!("only new is offline here"),
    }
}

/// Builds every plugin of the pack in `dir` that has a `source:`, saying
/// what it built unless `quiet`.
pub fn compile_sources(dir: &Path, quiet: bool) -> Result<Vec<serde_json::Value>> {
    let built = drover_build::compile_sources(dir)
        .with_context(|| format!("cannot build the pack in {}", dir.display()))?;
    if built.is_empty() && !quiet {
        println!(
            "no plugin in {} names a source: nothing to build",
            dir.display()
        );
    }
    Ok(built
        .iter()
        .map(|b| {
            if !quiet {
                println!(
                    "built {} ({}) → {}  {} bytes in {:.1}s",
                    b.plugin,
                    b.language.as_str(),
                    b.component.display(),
                    b.bytes,
                    b.took.as_secs_f64()
                );
            }
            json!({
                "plugin": b.plugin,
                "language": b.language.as_str(),
                "component": b.component,
                "bytes": b.bytes,
                "seconds": b.took.as_secs_f64(),
            })
        })
        .collect())
}

/// `drover pack new`.
fn new(name: &str, lang: crate::cli::Lang, dir: Option<std::path::PathBuf>) -> Result<ExitCode> {
    let lang = match lang {
        crate::cli::Lang::Python => drover_pack::Language::Python,
        crate::cli::Lang::Js => drover_pack::Language::JavaScript,
        crate::cli::Lang::Rust => drover_pack::Language::Rust,
    };
    let dir = dir.unwrap_or_else(|| Path::new(name).to_owned());
    let files = drover_build::scaffold::new_pack(name, lang, &dir)?;
    println!(
        "created pack {name} ({}) in {}:",
        lang.as_str(),
        dir.display()
    );
    for f in &files {
        println!("  {}", f.strip_prefix(&dir).unwrap_or(f).display());
    }
    println!(
        "next: cd {} && drover pack build && drover pack install .",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `drover pack diff`'s output, local and through `--server`.
pub fn print_diff(d: &drover_app::pack_diff::PackDiff, as_json: bool) -> Result<ExitCode> {
    if as_json {
        output::json(d)?;
    } else {
        print!("{}", drover_app::pack_diff::render_text(d));
    }
    Ok(ExitCode::SUCCESS)
}

/// Packs shipped with this drover's source (its `packs/` and
/// `tests/packs/`) are trusted; any other pack is installed in shadow mode
/// unless the operator says otherwise.
fn shadow_by_default(dir: &Path) -> bool {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return true;
    };
    !["packs", "tests/packs"].iter().any(|bundled| {
        std::fs::canonicalize(repo.join(bundled)).is_ok_and(|b| dir.parent() == Some(b.as_path()))
    })
}

/// Whether `name@version` is a new version of an installed pack (another
/// version is installed, this one is not): it arrives shadowed, wherever it
/// comes from (upgrades do not inherit trust). A reinstall of an installed
/// version is judged by where it comes from.
fn is_new_version(store: &drover_store::Store, name: &str, version: &str) -> Result<bool> {
    let installed: Vec<String> = store
        .list_packs()?
        .into_iter()
        .filter(|p| p.name == name)
        .map(|p| p.version)
        .collect();
    Ok(!installed.is_empty() && !installed.iter().any(|v| v == version))
}

fn promote(db: &Path, spec: &str, by: &ChangeBy) -> Result<ExitCode> {
    let store = open_store(db)?;
    let (name, version) = match spec.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    };
    // The local CLI is the database's owner: it holds every role.
    let done = drover_app::packs::promote(&store, name, version, by, drover_store::Role::Admin)?;
    if done.changed {
        println!("promoted {}@{}: {}", done.name, done.version, done.note());
    } else {
        println!("{}@{} is not in shadow mode", done.name, done.version);
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether `path` is a pack archive (a file; a pack is otherwise a
/// directory).
fn is_archive(path: &Path) -> bool {
    path.is_file()
        || path
            .extension()
            .is_some_and(|e| e == drover_pack::archive::ARCHIVE_EXTENSION)
}

/// A pack from elsewhere (`oci://…`, `git+…`), fetched as an archive
/// file in a temporary directory (dropped: removed).
struct Fetched {
    archive: std::path::PathBuf,
    _tmp: tempfile::TempDir,
}

/// Whether `given` names a pack elsewhere rather than a file or directory.
fn is_remote(given: &str) -> bool {
    given.starts_with("oci://") || given.starts_with("git+")
}

/// Fetches `given` into an archive file: an OCI artifact's layer (checked
/// against its digest), or a git checkout made into an archive of all its
/// files ([`drover_pack::archive::archive_checkout`]). Either is then
/// verified by [`open_archive`] like a local `.dpk`.
/// `options`: the registry options, read once (a password from standard
/// input can be read only once) when the first `oci://` source needs them.
fn fetch_remote(
    given: &str,
    registry: &crate::cli::RegistryArgs,
    options: &mut Option<crate::oci::Options>,
) -> Result<Fetched> {
    if given.starts_with("oci://") {
        let r = crate::oci::Reference::parse(given)?;
        if options.is_none() {
            *options = Some(crate::commands::pack_archive::registry_options(registry)?);
        }
        let options = options.as_ref().expect("set above");
        let (archive, tmp) = crate::commands::pack_archive::pull_archive(&r, options, None)?;
        return Ok(Fetched {
            archive,
            _tmp: tmp.expect("a temporary directory when none is given"),
        });
    }
    let source = crate::git_source::GitSource::parse(given)?;
    let tmp = tempfile::Builder::new()
        .prefix("drover-git-")
        .tempdir()
        .context("cannot make a temporary directory")?;
    let dir = source.fetch(&tmp.path().join("checkout"))?;
    let archive = tmp.path().join("checkout.dpk");
    drover_pack::archive::archive_checkout(
        &dir,
        &archive,
        &drover_pack::archive::Limits::default(),
    )?;
    Ok(Fetched { archive, _tmp: tmp })
}

/// Verifies the archive at `path` (shown as `shown`: its file, or where
/// it was fetched from) against the trusted keys and decides whether it
/// may be installed: its extracted pack (dropped: removed), its origin,
/// and the shadow mode it must have (`Some(true)` when only
/// `--allow-unsigned` lets it in).
fn open_archive(
    app: &drover_app::App,
    path: &Path,
    shown: &str,
    allow_unsigned: bool,
) -> Result<(
    drover_pack::archive::OpenedArchive,
    drover_app::ArchiveOrigin,
    Option<bool>,
)> {
    use drover_app::trust::Signer;
    let trusted = app.store().list_trusted_keys()?;
    let verified = drover_app::trust::verify_archive(path, &trusted)?;
    let pack = &verified.opened.manifest.name;
    let refusal = match &verified.signer {
        Signer::Trusted { .. } => None,
        Signer::Unsigned => Some(format!(
            "{shown}: the archive is unsigned; ask its publisher for a signed one (`drover pack \
             sign`) and trust their key (`drover trust add KEY.pub --name NAME --packs \
             '{pack}'`), or install it in shadow mode with --allow-unsigned"
        )),
        Signer::Untrusted { fingerprint } => Some(format!(
            "{shown}: signed by key {fingerprint}, which this drover does not trust; if you \
             trust its publisher, `drover trust add KEY.pub --name NAME --packs '{pack}'` with \
             their public key, or install it in shadow mode with --allow-unsigned"
        )),
        Signer::NotForPack {
            name,
            fingerprint,
            packs,
        } => Some(format!(
            "{shown}: signed by {name} ({fingerprint}), which is trusted only for packs '{}', \
             not for {pack}; to trust it for {pack} too, `drover trust remove {name}` and `drover \
             trust add` it again with --packs covering {pack}, or install it in shadow mode with \
             --allow-unsigned",
            packs.join(",")
        )),
    };
    let force_shadow = match refusal {
        Some(why) if !allow_unsigned => bail!(why),
        Some(_) => Some(true),
        None => None,
    };
    let signer = match &verified.signer {
        Signer::Untrusted { fingerprint } | Signer::NotForPack { fingerprint, .. } => {
            format!("untrusted {fingerprint}")
        }
        other => other.recorded(),
    };
    let origin = drover_app::ArchiveOrigin {
        archive: std::path::PathBuf::from(shown),
        signer,
    };
    Ok((verified.opened, origin, force_shadow))
}

#[allow(clippy::too_many_arguments)]
fn install(
    db: &Path,
    dirs: &[std::path::PathBuf],
    registry: &crate::cli::RegistryArgs,
    shadow: Option<bool>,
    allow_unsigned: bool,
    by: &ChangeBy,
    as_json: bool,
) -> Result<ExitCode> {
    let app = open_app(db)?;
    let mut reports = Vec::new();
    let mut registry_options = None;
    for given in dirs {
        let cannot = || format!("cannot install the pack in {}", given.display());
        // An archive is verified and extracted; its pack is installed from
        // the extracted directory (removed when `opened` is dropped).
        let text = given.to_string_lossy();
        let fetched = if is_remote(&text) {
            Some(fetch_remote(&text, registry, &mut registry_options).with_context(cannot)?)
        } else {
            None
        };
        let (opened, origin, forced) = if let Some(f) = &fetched {
            let (opened, origin, forced) =
                open_archive(&app, &f.archive, &text, allow_unsigned).with_context(cannot)?;
            (Some(opened), Some(origin), forced)
        } else if is_archive(given) {
            let shown = given.display().to_string();
            let (opened, origin, forced) =
                open_archive(&app, given, &shown, allow_unsigned).with_context(cannot)?;
            (Some(opened), Some(origin), forced)
        } else {
            (None, None, None)
        };
        let dir = opened.as_ref().map_or(given.as_path(), |o| o.dir());
        // A file of an archive is named inside it (`x.dpk:workflows/a.yaml`),
        // not in the temporary directory it was extracted to.
        let shown_in = |e: anyhow::Error| match (&opened, &origin) {
            (Some(o), Some(origin)) => {
                let inside = format!("{}/", o.dir().display());
                let archive = format!("{}:", origin.archive.display());
                anyhow!("{}", format!("{e:#}").replace(&inside, &archive))
            }
            _ => e,
        };
        // Rules are checked first: a bad rule refuses the whole pack.
        let pack_rules = drover_engine::read_pack_rules(dir)
            .map_err(anyhow::Error::from)
            .map_err(shown_in)
            .with_context(cannot)?;
        let rules = pack_rules.references();
        let policies = pack_rules.policy_references();
        let name = pack_rules.pack().to_owned();
        let upgrade = is_new_version(app.store(), &name, pack_rules.version())?;
        // An archive is shadowed unless the operator says otherwise (its
        // extracted directory is never one of this drover's own packs).
        let shadow = forced
            .or(shadow)
            .unwrap_or_else(|| upgrade || shadow_by_default(dir));
        // Pack, components, rules and policies: one transaction.
        let report = app
            .install_from(dir, by, shadow, pack_rules.into_catalog(), origin.as_ref())
            .map_err(anyhow::Error::from)
            .map_err(shown_in)
            .with_context(cannot)?;
        let live = app.store().get_pack(&name, None)?;
        if !as_json {
            let verb = if report.replaced {
                "reinstalled"
            } else {
                "installed"
            };
            let mode = if report.shadow {
                format!(
                    " in shadow mode: its rules start dry runs only and its actions run dry, \
                     until `drover pack promote {}`",
                    report.pack
                )
            } else {
                String::new()
            };
            println!("{verb} {}{mode}", report.pack);
            if let Some(signer) = &report.signer {
                println!("  signer: {signer}");
            }
            if let Some(live) = live.filter(|l| format!("{}@{}", l.name, l.version) != report.pack)
            {
                println!(
                    "  {}@{} stays the live version: rules and workflows call it, and this \
                     version's rules and policies wait, until it is promoted",
                    live.name, live.version
                );
            }
            for p in &report.plugins {
                let imports = if p.imports.is_empty() {
                    "no host imports".to_string()
                } else {
                    p.imports.join(", ")
                };
                println!("  {} ({}) {}  imports: {imports}", p.name, p.kind, p.digest);
            }
            for r in &rules {
                println!("  rule {r}");
            }
            for p in &policies {
                println!("  policy {p}");
            }
        }
        reports.push(report);
    }
    if as_json {
        output::json(&reports)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn list(db: &Path, as_json: bool) -> Result<ExitCode> {
    let packs = open_store(db)?.list_packs()?;
    if as_json {
        let rows: Vec<_> = packs
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "version": p.version,
                    "description": p.manifest.get("description"),
                    "plugins": p.digests,
                    "installed_at": output::time(p.installed_at_ms),
                    "installed_by": p.installed_by,
                    "shadow": p.shadow,
                    "live": p.live,
                    "source_dir": p.source_dir,
                    "signer": p.signer,
                })
            })
            .collect();
        output::json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if packs.is_empty() {
        println!("no packs installed; try `drover pack install packs/core`");
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![vec![
        "PACK".into(),
        "VERSION".into(),
        "STATE".into(),
        "PLUGINS".into(),
        "INSTALLED".into(),
        "SIGNER".into(),
        "DESCRIPTION".into(),
    ]];
    for p in &packs {
        rows.push(vec![
            p.name.clone(),
            p.version.clone(),
            match (p.live, p.shadow) {
                (true, false) => "live",
                (true, true) => "live, shadow",
                (false, true) => "shadow candidate",
                (false, false) => "not live",
            }
            .into(),
            p.digests.keys().cloned().collect::<Vec<_>>().join(","),
            output::time(p.installed_at_ms),
            signer_text(p.signer.as_deref()).into(),
            p.manifest["description"].as_str().unwrap_or("").to_owned(),
        ]);
    }
    output::table(&rows);
    Ok(ExitCode::SUCCESS)
}

fn show(db: &Path, spec: &str, as_json: bool) -> Result<ExitCode> {
    let store = open_store(db)?;
    let (name, version) = match spec.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    };
    let Some(installed) = store.get_pack(name, version)? else {
        bail!("no pack {spec:?} is installed (see `drover pack list`)");
    };
    let pack: Pack = serde_json::from_value(installed.manifest.clone())?;
    let grants = store.active_grants(&pack.name, &pack.version)?;
    if as_json {
        output::json(&json!({
            "pack": installed,
            "grants": grants,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} — {}", pack.reference(), pack.description);
    println!(
        "installed {} by {} from {}",
        output::time(installed.installed_at_ms),
        installed.installed_by,
        installed.source_dir
    );
    println!("signer: {}", signer_text(installed.signer.as_deref()));
    if installed.live {
        println!("LIVE: rules, workflows and `drover run` use this version");
    } else if let Some(live) = store.get_pack(&pack.name, None)? {
        println!(
            "NOT LIVE: {}@{} is the live version; this one runs only with `drover run --version {}`",
            live.name, live.version, pack.version
        );
    }
    if installed.shadow {
        println!(
            "SHADOW MODE: everything it causes is a dry run; `drover pack promote {}` makes it real",
            pack.reference()
        );
    }
    for plugin in &pack.plugins {
        let digest = installed
            .digests
            .get(&plugin.name)
            .map(String::as_str)
            .unwrap_or("?");
        println!();
        println!(
            "{}.{} ({}) {}",
            pack.name, plugin.name, plugin.kind, plugin.description
        );
        println!("  component  {digest}");
        println!(
            "  limits     timeout {:?}, memory {} MiB, output {} KiB",
            plugin.limits.timeout,
            plugin.limits.memory_bytes >> 20,
            plugin.limits.output_bytes >> 10
        );
        for line in plugin.parameters.describe() {
            println!("  param      {line}");
        }
        for cap in &plugin.capabilities {
            println!(
                "  capability {cap}: {}",
                grant_state(*cap, &plugin.name, digest, &grants)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Who signed an installed version, for people: the recorded signer, or
/// that it came from a directory.
pub fn signer_text(signer: Option<&str>) -> &str {
    signer.unwrap_or("none (a pack directory)")
}

/// "granted (scope)", "needs no grant", or "not granted".
fn grant_state(
    cap: Capability,
    plugin: &str,
    digest: &str,
    grants: &[drover_core::Grant],
) -> String {
    if !cap.needs_grant() {
        return "needs no grant".into();
    }
    let scopes: Vec<String> = grants
        .iter()
        .filter(|g| {
            g.capability == cap.name() && g.digests.get(plugin).map(String::as_str) == Some(digest)
        })
        .map(|g| format!("'{}' (grant {})", g.scope, g.id))
        .collect();
    if scopes.is_empty() {
        "NOT GRANTED".into()
    } else {
        format!("granted {}", scopes.join(", "))
    }
}
