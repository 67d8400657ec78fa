//! Pack archives, `NAME-VERSION.dpk`: one file that carries a pack from the
//! team that builds it to the drover that installs it.
//!
//! The format is a gzip-compressed tar of regular files. The first entry is
//! [`ARCHIVE_MANIFEST`] (JSON: format, pack name and version, and every
//! other file's path, size and SHA-256); then, once the archive is signed,
//! [`SIGNATURE_ENTRY`] (an SSH signature over the manifest's exact bytes,
//! see [`crate::signing`]); then the pack's files in path order: pack.yaml,
//! components, rules, policies, workflows and tests. The manifest lists
//! every file but itself and the signature, so a signature over it covers
//! every byte that gets installed.
//!
//! This module owns writing an archive from a pack directory, adding a
//! signature to one, and reading one, which is hostile input: anything but
//! a relative path of plain names to a regular file, a duplicate, a file
//! the manifest does not list (or a listed one that is missing), a size or
//! digest other than the manifest's, an entry or a total past [`Limits`],
//! and a manifest whose name or version differ from pack.yaml's, is
//! refused, naming the entry. Reading extracts into a fresh temporary
//! directory that [`crate::load_pack_dir`] then loads like any pack.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::PackError;
use crate::manifest::parse_manifest;
use crate::source::MANIFEST_FILE;

/// The file extension of pack archives.
pub const ARCHIVE_EXTENSION: &str = "dpk";
/// The manifest entry: every file's path, size and digest.
pub const ARCHIVE_MANIFEST: &str = "drover-archive.json";
/// The signature entry (outside the manifest; it signs the manifest).
pub const SIGNATURE_ENTRY: &str = "drover-archive.json.sig";
/// The manifest's `format`.
pub const ARCHIVE_FORMAT: &str = "drover-pack-archive/1";
/// The directories of a pack directory that go into its archive (with
/// pack.yaml and any other file the manifest names).
pub const ARCHIVED_DIRS: [&str; 5] = ["components", "rules", "policies", "workflows", "tests"];

/// The manifest of an archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveManifest {
    /// [`ARCHIVE_FORMAT`].
    pub format: String,
    /// The pack's name, as in pack.yaml.
    pub name: String,
    /// The pack's version, as in pack.yaml.
    pub version: String,
    /// Every file of the pack, in path order.
    pub files: Vec<ArchivedFile>,
}

/// One file of an archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivedFile {
    /// Relative, `/`-separated.
    pub path: String,
    pub size: u64,
    /// 64 lowercase hex digits.
    pub sha256: String,
}

impl ArchiveManifest {
    /// `NAME-VERSION.dpk`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.{ARCHIVE_EXTENSION}", self.name, self.version)
    }
}

/// What reading an archive accepts at most (decompression bombs, entry
/// floods).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Entries, manifest and signature included.
    pub max_entries: usize,
    /// One file's bytes.
    pub max_entry_bytes: u64,
    /// The whole decompressed stream, tar headers included.
    pub max_total_bytes: u64,
    /// The manifest's and the signature's bytes.
    pub max_manifest_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_entries: 10_000,
            // A Python component is ~18 MB; leave room, refuse bombs.
            max_entry_bytes: 256 << 20,
            max_total_bytes: 1 << 30,
            max_manifest_bytes: 4 << 20,
        }
    }
}

/// Why an archive cannot be written or read. Every message names the
/// archive and, when it is about one, the entry.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{}: not a pack archive (a gzip'd tar written by `drover pack build`): {message}",
        archive.display()
    )]
    NotAnArchive { archive: PathBuf, message: String },
    #[error("{}: entry {entry:?}: {problem}; the archive is refused", archive.display())]
    BadEntry {
        archive: PathBuf,
        entry: String,
        problem: String,
    },
    #[error(
        "{}: {entry} differs from the manifest ({detail}): the archive was changed after it was \
         built/signed; get the archive again from its publisher",
        archive.display()
    )]
    Differs {
        archive: PathBuf,
        entry: String,
        detail: String,
    },
    #[error(
        "{}: {entry} is listed in the manifest but missing from the archive: the archive was \
         changed after it was built/signed",
        archive.display()
    )]
    Missing { archive: PathBuf, entry: String },
    #[error(
        "{}: {ARCHIVE_MANIFEST}: {message}; rebuild the archive with `drover pack build`",
        archive.display()
    )]
    Manifest { archive: PathBuf, message: String },
    #[error(
        "{}: more than {max} entries; a pack archive has far fewer (is this a pack?)",
        archive.display()
    )]
    TooManyEntries { archive: PathBuf, max: usize },
    #[error(
        "{}: more than {max} bytes once decompressed (a decompression bomb, or not a pack)",
        archive.display()
    )]
    TooLarge { archive: PathBuf, max: u64 },
    #[error("{}: {message}", dir.display())]
    Source { dir: PathBuf, message: String },
    #[error(transparent)]
    Pack(#[from] PackError),
}

/// An archive read and checked: its files extracted into a temporary
/// directory (removed when this is dropped).
#[derive(Debug)]
pub struct OpenedArchive {
    /// The archive file.
    pub archive: PathBuf,
    dir: tempfile::TempDir,
    pub manifest: ArchiveManifest,
    /// The manifest's exact bytes (what a signature signs).
    pub manifest_bytes: Vec<u8>,
    /// The signature entry's text, if the archive is signed.
    pub signature: Option<String>,
}

impl OpenedArchive {
    /// The extracted pack directory (give it to [`crate::load_pack_dir`]).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// What [`write_archive`] wrote.
#[derive(Debug)]
pub struct BuiltArchive {
    pub path: PathBuf,
    pub manifest: ArchiveManifest,
}

/// Writes `out_dir/NAME-VERSION.dpk` from the pack directory `pack_dir`
/// (read and validated first), unsigned, replacing an older one.
pub fn write_archive(pack_dir: &Path, out_dir: &Path) -> Result<BuiltArchive, ArchiveError> {
    let (manifest, manifest_bytes, files, contents) = collect(pack_dir)?;
    std::fs::create_dir_all(out_dir).map_err(|source| ArchiveError::Io {
        path: out_dir.to_owned(),
        source,
    })?;
    let path = out_dir.join(manifest.file_name());
    let entries = files
        .iter()
        .map(String::as_str)
        .zip(contents.iter().map(Vec::as_slice));
    write_tar(&path, &manifest_bytes, None, entries)?;
    Ok(BuiltArchive { path, manifest })
}

/// The manifest `write_archive` would write for the pack directory
/// `pack_dir`, and its exact bytes (what `drover pack sign DIR` signs and
/// writes into the directory as [`ARCHIVE_MANIFEST`]).
pub fn dir_manifest(pack_dir: &Path) -> Result<(ArchiveManifest, Vec<u8>), ArchiveError> {
    let (manifest, bytes, _, _) = collect(pack_dir)?;
    Ok((manifest, bytes))
}

/// A pack directory's manifest, its bytes, and its files' paths and
/// contents (in the manifest's order).
#[allow(clippy::type_complexity)]
fn collect(
    pack_dir: &Path,
) -> Result<(ArchiveManifest, Vec<u8>, Vec<String>, Vec<Vec<u8>>), ArchiveError> {
    let source = crate::load_pack_dir(pack_dir)?;
    let files = pack_files(pack_dir, &source.pack)?;
    let mut listed = Vec::new();
    let mut contents = Vec::new();
    for rel in &files {
        let path = pack_dir.join(rel);
        let bytes = std::fs::read(&path).map_err(|source| ArchiveError::Io {
            path: path.clone(),
            source,
        })?;
        listed.push(ArchivedFile {
            path: rel.clone(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
        });
        contents.push(bytes);
    }
    let manifest = ArchiveManifest {
        format: ARCHIVE_FORMAT.into(),
        name: source.pack.name.clone(),
        version: source.pack.version.clone(),
        files: listed,
    };
    let mut manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    manifest_bytes.push(b'\n');
    Ok((manifest, manifest_bytes, files, contents))
}

/// Adds `signature` (an armored SSH signature over the manifest) to the
/// archive at `path`, replacing any signature it had. The archive is read
/// and checked first; the manifest's bytes are kept exactly.
pub fn add_signature(path: &Path, signature: &str) -> Result<(), ArchiveError> {
    let opened = read_archive(path, &Limits::default())?;
    let mut contents = Vec::new();
    for f in &opened.manifest.files {
        let file = opened.dir().join(&f.path);
        let bytes =
            std::fs::read(&file).map_err(|source| ArchiveError::Io { path: file, source })?;
        contents.push(bytes);
    }
    let entries = opened
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .zip(contents.iter().map(Vec::as_slice));
    write_tar(
        path,
        &opened.manifest_bytes,
        Some(signature.as_bytes()),
        entries,
    )
}

/// Writes the tar.gz to a temporary file beside `path`, then renames it
/// over `path` (a reader never sees half an archive).
fn write_tar<'a>(
    path: &Path,
    manifest: &[u8],
    signature: Option<&[u8]>,
    files: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), ArchiveError> {
    let io_err = |source| ArchiveError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new("."))).map_err(io_err)?;
    let gz = flate2::write::GzEncoder::new(tmp, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut append = |name: &str, bytes: &[u8]| -> io::Result<()> {
        // Reproducible: no owner, no time, one mode.
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, name, bytes)
    };
    append(ARCHIVE_MANIFEST, manifest).map_err(io_err)?;
    if let Some(sig) = signature {
        append(SIGNATURE_ENTRY, sig).map_err(io_err)?;
    }
    for (name, bytes) in files {
        append(name, bytes).map_err(io_err)?;
    }
    let gz = tar.into_inner().map_err(io_err)?;
    let tmp = gz.finish().map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(path).map_err(|e| io_err(e.error))?;
    Ok(())
}

/// The files of a pack directory that go into its archive: pack.yaml,
/// every file under [`ARCHIVED_DIRS`], and every component and workflow
/// file the manifest names; relative, `/`-separated, sorted.
fn pack_files(dir: &Path, pack: &crate::Pack) -> Result<Vec<String>, ArchiveError> {
    let mut files = BTreeSet::from([MANIFEST_FILE.to_owned()]);
    for sub in ARCHIVED_DIRS {
        walk(dir, Path::new(sub), &mut files)?;
    }
    for plugin in &pack.plugins {
        let named = match &plugin.workflow {
            Some(w) => &w.entry,
            None => &plugin.component,
        };
        let rel = named.replace('\\', "/");
        let rel = rel.trim_start_matches("./").to_owned();
        if check_path(&rel).is_err() {
            return Err(ArchiveError::Source {
                dir: dir.to_owned(),
                message: format!(
                    "plugins.{}: {rel:?} is outside the pack directory; an archive holds only \
                     the pack's own files (put it under components/ or workflows/)",
                    plugin.name
                ),
            });
        }
        files.insert(rel);
    }
    Ok(files.into_iter().collect())
}

/// Adds the regular files under `dir/rel` (recursively) to `files`.
fn walk(dir: &Path, rel: &Path, files: &mut BTreeSet<String>) -> Result<(), ArchiveError> {
    let full = dir.join(rel);
    let entries = match std::fs::read_dir(&full) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(ArchiveError::Io { path: full, source }),
    };
    for entry in entries {
        let entry = entry.map_err(|source| ArchiveError::Io {
            path: full.clone(),
            source,
        })?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(ArchiveError::Source {
                dir: full.clone(),
                message: format!("{name:?}: file names in a pack must be UTF-8"),
            });
        };
        let path = entry.path();
        // Follows symlinks: the archive holds the bytes, never a link.
        let meta = std::fs::metadata(&path).map_err(|source| ArchiveError::Io {
            path: path.clone(),
            source,
        })?;
        let child = rel.join(name);
        if meta.is_dir() {
            walk(dir, &child, files)?;
        } else if meta.is_file() {
            files.insert(child.to_string_lossy().replace('\\', "/"));
        } else {
            return Err(ArchiveError::Source {
                dir: dir.to_owned(),
                message: format!(
                    "{}: not a regular file or directory; remove it from the pack",
                    child.display()
                ),
            });
        }
    }
    Ok(())
}

/// A path as an archive may hold it: relative, `/`-separated plain names
/// (no `.`, `..`, empty parts, backslashes or control characters).
fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("an empty path".into());
    }
    if path.starts_with('/') {
        return Err("an absolute path".into());
    }
    if path.chars().any(|c| c == '\\' || c.is_control()) {
        return Err("a path with a backslash or a control character".into());
    }
    if path.len() > 1024 {
        return Err("a path longer than 1024 bytes".into());
    }
    for part in path.split('/') {
        match part {
            "" => return Err("a path with an empty part (`//` or a trailing `/`)".into()),
            "." | ".." => return Err(format!("a path with `{part}` in it (path traversal)")),
            _ => {}
        }
    }
    Ok(())
}

/// Counts decompressed bytes and fails past a limit, whatever the tar
/// headers claim (long-name and pax entries are read into memory).
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One byte more means the stream is over the limit.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(BoundExceeded)),
            };
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[derive(Debug)]
struct BoundExceeded;

impl std::fmt::Display for BoundExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decompressed size limit exceeded")
    }
}

impl std::error::Error for BoundExceeded {}

/// Reads and checks the archive at `path` (see the module doc) into a
/// fresh temporary directory.
pub fn read_archive(path: &Path, limits: &Limits) -> Result<OpenedArchive, ArchiveError> {
    let archive = path.to_owned();
    let file = File::open(path).map_err(|source| ArchiveError::Io {
        path: archive.clone(),
        source,
    })?;
    let dir = tempfile::Builder::new()
        .prefix("drover-pack-")
        .tempdir()
        .map_err(|source| ArchiveError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let stream = Bounded {
        inner: flate2::read::GzDecoder::new(BufReader::new(file)),
        left: limits.max_total_bytes,
    };
    let not_archive = |e: io::Error| {
        if e.get_ref().is_some_and(|i| i.is::<BoundExceeded>()) {
            ArchiveError::TooLarge {
                archive: archive.clone(),
                max: limits.max_total_bytes,
            }
        } else {
            ArchiveError::NotAnArchive {
                archive: archive.clone(),
                message: e.to_string(),
            }
        }
    };
    let mut tar = tar::Archive::new(stream);
    let bad = |entry: &str, problem: String| ArchiveError::BadEntry {
        archive: archive.clone(),
        entry: entry.to_owned(),
        problem,
    };
    let mut manifest_bytes: Option<Vec<u8>> = None;
    let mut signature: Option<Vec<u8>> = None;
    // Path -> (size, sha256 hex) of every file extracted.
    let mut found: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut count = 0usize;
    for entry in tar.entries().map_err(not_archive)? {
        let mut entry = entry.map_err(not_archive)?;
        count += 1;
        if count > limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                archive: archive.clone(),
                max: limits.max_entries,
            });
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            let what = match kind {
                tar::EntryType::Symlink => "a symbolic link".to_owned(),
                tar::EntryType::Link => "a hard link".to_owned(),
                tar::EntryType::Char | tar::EntryType::Block => "a device".to_owned(),
                tar::EntryType::Fifo => "a FIFO".to_owned(),
                tar::EntryType::Directory => "a directory entry".to_owned(),
                other => format!("a tar entry of type {other:?}"),
            };
            return Err(bad(
                &name,
                format!("{what}; a pack archive holds regular files only"),
            ));
        }
        std::str::from_utf8(&entry.path_bytes())
            .map_err(|_| bad(&name, "a path that is not UTF-8".into()))?;
        check_path(&name).map_err(|p| bad(&name, p))?;
        let size = entry.header().size().map_err(not_archive)?;
        let duplicate = || bad(&name, "a second entry with this path".into());
        if name == ARCHIVE_MANIFEST || name == SIGNATURE_ENTRY {
            if size > limits.max_manifest_bytes {
                return Err(bad(
                    &name,
                    format!("{size} bytes, more than {}", limits.max_manifest_bytes),
                ));
            }
            let slot = if name == ARCHIVE_MANIFEST {
                &mut manifest_bytes
            } else {
                &mut signature
            };
            if slot.is_some() {
                return Err(duplicate());
            }
            let mut bytes = Vec::new();
            (&mut entry)
                .take(limits.max_manifest_bytes + 1)
                .read_to_end(&mut bytes)
                .map_err(not_archive)?;
            *slot = Some(bytes);
            continue;
        }
        if found.contains_key(&name) {
            return Err(duplicate());
        }
        if size > limits.max_entry_bytes {
            return Err(bad(
                &name,
                format!(
                    "{size} bytes, more than the {} a file of a pack may have",
                    limits.max_entry_bytes
                ),
            ));
        }
        let target = dir.path().join(&name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|_| {
                bad(
                    &name,
                    "its directory clashes with a file of the same name".into(),
                )
            })?;
        }
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|_| bad(&name, "clashes with another entry's path".into()))?;
        let mut hasher = HashWriter {
            hasher: Sha256::new(),
            out: &mut out,
            written: 0,
        };
        io::copy(
            &mut (&mut entry).take(limits.max_entry_bytes + 1),
            &mut hasher,
        )
        .map_err(not_archive)?;
        let written = hasher.written;
        if written > limits.max_entry_bytes {
            return Err(bad(
                &name,
                format!("more than {} bytes", limits.max_entry_bytes),
            ));
        }
        let digest = hex::encode(hasher.hasher.finalize());
        found.insert(name, (written, digest));
    }
    let Some(manifest_bytes) = manifest_bytes else {
        return Err(ArchiveError::Manifest {
            archive: archive.clone(),
            message:
                "missing: the archive has no manifest (was it written by `drover pack build`?)"
                    .into(),
        });
    };
    let manifest_err = |message: String| ArchiveError::Manifest {
        archive: archive.clone(),
        message,
    };
    if manifest_bytes.len() as u64 > limits.max_manifest_bytes {
        return Err(manifest_err(format!(
            "more than {} bytes",
            limits.max_manifest_bytes
        )));
    }
    let manifest: ArchiveManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| manifest_err(format!("not a valid manifest: {e}")))?;
    if manifest.format != ARCHIVE_FORMAT {
        return Err(manifest_err(format!(
            "format {:?}, but this drover reads {ARCHIVE_FORMAT:?}",
            manifest.format
        )));
    }
    let mut listed = BTreeSet::new();
    for f in &manifest.files {
        check_path(&f.path).map_err(|p| manifest_err(format!("file {:?}: {p}", f.path)))?;
        if !listed.insert(f.path.as_str()) {
            return Err(manifest_err(format!("file {:?} is listed twice", f.path)));
        }
        let Some((size, digest)) = found.get(&f.path) else {
            return Err(ArchiveError::Missing {
                archive: archive.clone(),
                entry: f.path.clone(),
            });
        };
        if *size != f.size {
            return Err(ArchiveError::Differs {
                archive: archive.clone(),
                entry: f.path.clone(),
                detail: format!("{size} bytes, the manifest says {}", f.size),
            });
        }
        if *digest != f.sha256 {
            return Err(ArchiveError::Differs {
                archive: archive.clone(),
                entry: f.path.clone(),
                detail: format!("sha256 {digest}, the manifest says {}", f.sha256),
            });
        }
    }
    if let Some(extra) = found.keys().find(|k| !listed.contains(k.as_str())) {
        return Err(bad(
            extra,
            "not listed in the manifest: the archive was changed after it was built/signed".into(),
        ));
    }
    // The pack itself: its name and version must be the manifest's (a
    // signature over the manifest vouches for them).
    let pack_yaml = dir.path().join(MANIFEST_FILE);
    if !found.contains_key(MANIFEST_FILE) {
        return Err(manifest_err(format!("the archive has no {MANIFEST_FILE}")));
    }
    let text = drover_text::yaml::read_file(&pack_yaml).map_err(|source| PackError::Io {
        path: pack_yaml.clone(),
        source,
    })?;
    let pack = parse_manifest(Path::new(MANIFEST_FILE), &text)?;
    if pack.name != manifest.name || pack.version != manifest.version {
        return Err(manifest_err(format!(
            "names {}@{}, but its pack.yaml says {}@{}",
            manifest.name, manifest.version, pack.name, pack.version
        )));
    }
    let signature = signature
        .map(|s| {
            String::from_utf8(s).map_err(|_| bad(SIGNATURE_ENTRY, "not UTF-8 text".to_owned()))
        })
        .transpose()?;
    Ok(OpenedArchive {
        archive,
        dir,
        manifest,
        manifest_bytes,
        signature,
    })
}

/// Writes through to a file, hashing and counting.
struct HashWriter<'a> {
    hasher: Sha256,
    out: &'a mut File,
    written: u64,
}

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes an archive at `out` of a signed pack directory (a git
/// checkout): [`ARCHIVE_MANIFEST`] and [`SIGNATURE_ENTRY`] as committed,
/// then every other regular file under `dir` but its top-level `.git`,
/// whether the manifest lists it or not. [`read_archive`] then checks it
/// like any archive (an unlisted, changed or missing file is refused by
/// name), so a checkout gets exactly an archive's verification. Without a
/// committed manifest, the archive is unsigned with a manifest of every
/// file found. Symbolic links and special files are refused here;
/// `limits` bound the walk.
pub fn archive_checkout(dir: &Path, out: &Path, limits: &Limits) -> Result<(), ArchiveError> {
    let source_err = |message: String| ArchiveError::Source {
        dir: dir.to_owned(),
        message,
    };
    let read_small = |name: &str| -> Result<Option<Vec<u8>>, ArchiveError> {
        let path = dir.join(name);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ArchiveError::Io { path, source }),
            Ok(m) if !m.is_file() => {
                return Err(source_err(format!("{name}: not a regular file")));
            }
            Ok(m) if m.len() > limits.max_manifest_bytes => {
                return Err(source_err(format!(
                    "{name}: {} bytes, more than {}",
                    m.len(),
                    limits.max_manifest_bytes
                )));
            }
            Ok(_) => {}
        }
        std::fs::read(&path)
            .map(Some)
            .map_err(|source| ArchiveError::Io { path, source })
    };
    let committed = read_small(ARCHIVE_MANIFEST)?;
    let signature = read_small(SIGNATURE_ENTRY)?;
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    walk_checkout(dir, Path::new(""), limits, &mut files, &mut total)?;
    // Unsigned (no manifest committed): a manifest of what is there, so
    // the archive reads like any unsigned one (refused unless the
    // operator allows unsigned packs).
    let manifest = match committed {
        Some(m) => m,
        None if signature.is_some() => {
            return Err(source_err(format!(
                "{SIGNATURE_ENTRY} without {ARCHIVE_MANIFEST}: commit both (`drover pack sign \
                 DIR` writes them)"
            )));
        }
        None => unsigned_manifest(dir, &files)?,
    };
    let io_err = |source| ArchiveError::Io {
        path: out.to_owned(),
        source,
    };
    let file = File::create(out).map_err(io_err)?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let header = |size: u64| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header
    };
    tar.append_data(
        &mut header(manifest.len() as u64),
        ARCHIVE_MANIFEST,
        &manifest[..],
    )
    .map_err(io_err)?;
    if let Some(sig) = &signature {
        tar.append_data(&mut header(sig.len() as u64), SIGNATURE_ENTRY, &sig[..])
            .map_err(io_err)?;
    }
    for (rel, size) in files {
        let path = dir.join(&rel);
        let f = File::open(&path).map_err(|source| ArchiveError::Io { path, source })?;
        // `take`: a file that grew since the walk cannot overrun its header.
        tar.append_data(&mut header(size), &rel, f.take(size))
            .map_err(io_err)?;
    }
    tar.into_inner().map_err(io_err)?.finish().map_err(io_err)?;
    Ok(())
}

/// The manifest of the files found in `dir` (path -> size), named as its
/// pack.yaml says.
fn unsigned_manifest(dir: &Path, files: &BTreeMap<String, u64>) -> Result<Vec<u8>, ArchiveError> {
    let pack_yaml = dir.join(MANIFEST_FILE);
    if !files.contains_key(MANIFEST_FILE) {
        return Err(ArchiveError::Source {
            dir: dir.to_owned(),
            message: format!("no {MANIFEST_FILE}: not a pack directory"),
        });
    }
    let text = drover_text::yaml::read_file(&pack_yaml).map_err(|source| PackError::Io {
        path: pack_yaml.clone(),
        source,
    })?;
    let pack = parse_manifest(Path::new(MANIFEST_FILE), &text)?;
    let mut listed = Vec::new();
    for (rel, size) in files {
        let path = dir.join(rel);
        let f = File::open(&path).map_err(|source| ArchiveError::Io {
            path: path.clone(),
            source,
        })?;
        let mut hasher = Sha256::new();
        io::copy(&mut BufReader::new(f).take(*size), &mut hasher)
            .map_err(|source| ArchiveError::Io { path, source })?;
        listed.push(ArchivedFile {
            path: rel.clone(),
            size: *size,
            sha256: hex::encode(hasher.finalize()),
        });
    }
    let manifest = ArchiveManifest {
        format: ARCHIVE_FORMAT.into(),
        name: pack.name,
        version: pack.version,
        files: listed,
    };
    Ok(serde_json::to_vec_pretty(&manifest).expect("a manifest serializes"))
}

/// Adds the regular files under `dir/rel` to `files` (path -> size),
/// refusing links and special files, bounded by `limits`.
fn walk_checkout(
    dir: &Path,
    rel: &Path,
    limits: &Limits,
    files: &mut BTreeMap<String, u64>,
    total: &mut u64,
) -> Result<(), ArchiveError> {
    let full = dir.join(rel);
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| ArchiveError::Io { path, source }
    };
    let mut entries: Vec<_> = std::fs::read_dir(&full)
        .map_err(io_err(&full))?
        .collect::<Result<_, _>>()
        .map_err(io_err(&full))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let child = rel.join(&name);
        let shown = child.to_string_lossy().replace('\\', "/");
        if rel.as_os_str().is_empty() && name == ".git" {
            continue;
        }
        if rel.as_os_str().is_empty() && (name == ARCHIVE_MANIFEST || name == SIGNATURE_ENTRY) {
            continue;
        }
        let refuse = |problem: &str| ArchiveError::BadEntry {
            archive: dir.to_owned(),
            entry: shown.clone(),
            problem: problem.to_owned(),
        };
        if name.to_str().is_none() {
            return Err(refuse("a file name that is not UTF-8"));
        }
        // Not followed: a link could name any file of this machine.
        let meta = std::fs::symlink_metadata(entry.path()).map_err(io_err(&entry.path()))?;
        if meta.file_type().is_symlink() {
            return Err(refuse(
                "a symbolic link; a signed pack directory holds regular files only",
            ));
        }
        if meta.is_dir() {
            walk_checkout(dir, &child, limits, files, total)?;
            continue;
        }
        if !meta.is_file() {
            return Err(refuse("not a regular file or directory"));
        }
        if files.len() + 2 >= limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                archive: dir.to_owned(),
                max: limits.max_entries,
            });
        }
        if meta.len() > limits.max_entry_bytes {
            return Err(refuse(&format!(
                "{} bytes, more than the {} a file of a pack may have",
                meta.len(),
                limits.max_entry_bytes
            )));
        }
        *total += meta.len() + 512;
        if *total > limits.max_total_bytes {
            return Err(ArchiveError::TooLarge {
                archive: dir.to_owned(),
                max: limits.max_total_bytes,
            });
        }
        files.insert(shown, meta.len());
    }
    Ok(())
}

#[cfg(test)]
#[path = "archive_tests.rs"]
mod tests;
