//! The archive reader against hostile archives, each crafted byte by byte
//! with the `tar` crate's raw headers (paths it would refuse to write).

use super::*;

/// A component's 8-byte header, then anything.
const COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00rest of a component";

fn pack_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("pack.yaml"),
        "name: tiny\nversion: 1.2.3\nplugins:\n  x:\n    kind: action\n    component: components/x.wasm\n",
    )
    .unwrap();
    std::fs::create_dir_all(p.join("components")).unwrap();
    std::fs::write(p.join("components/x.wasm"), COMPONENT).unwrap();
    std::fs::create_dir_all(p.join("rules")).unwrap();
    std::fs::write(p.join("rules/r.yaml"), "name: r\n").unwrap();
    std::fs::create_dir_all(p.join("tests/deep")).unwrap();
    std::fs::write(p.join("tests/deep/case.json"), "{}").unwrap();
    // Not part of a pack: stays out of the archive.
    std::fs::write(p.join("notes.txt"), "scratch").unwrap();
    dir
}

fn built() -> (tempfile::TempDir, PathBuf) {
    let dir = pack_dir();
    let out = dir.path().join("dist");
    let built = write_archive(dir.path(), &out).unwrap();
    (dir, built.path)
}

/// (path, type, bytes) of every entry, in order.
type Entries = Vec<(Vec<u8>, tar::EntryType, Vec<u8>)>;

fn entries(archive: &Path) -> Entries {
    let file = File::open(archive).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    tar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (e.path_bytes().into_owned(), e.header().entry_type(), bytes)
        })
        .collect()
}

/// Writes `entries` as they are, names unchecked, into `archive`.
fn craft(archive: &Path, entries: &Entries) {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, kind, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        let field = &mut header.as_old_mut().name;
        field.fill(0);
        field[..name.len()].copy_from_slice(name);
        if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            header.set_link_name("/etc/passwd").unwrap();
        }
        header.set_cksum();
        tar.append(&header, bytes.as_slice()).unwrap();
    }
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    std::fs::write(archive, bytes).unwrap();
}

fn edited(edit: impl FnOnce(&mut Entries)) -> (tempfile::TempDir, PathBuf, ArchiveError) {
    let (dir, archive) = built();
    let mut e = entries(&archive);
    edit(&mut e);
    craft(&archive, &e);
    let err = read_archive(&archive, &Limits::default()).unwrap_err();
    (dir, archive, err)
}

fn regular(name: &str, bytes: &[u8]) -> (Vec<u8>, tar::EntryType, Vec<u8>) {
    (
        name.as_bytes().to_vec(),
        tar::EntryType::Regular,
        bytes.to_vec(),
    )
}

#[test]
fn a_built_archive_reads_back_into_a_loadable_pack() {
    let (dir, archive) = built();
    assert!(archive.ends_with("dist/tiny-1.2.3.dpk"));
    let opened = read_archive(&archive, &Limits::default()).unwrap();
    let paths: Vec<&str> = opened
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "components/x.wasm",
            "pack.yaml",
            "rules/r.yaml",
            "tests/deep/case.json"
        ]
    );
    assert_eq!(opened.manifest.name, "tiny");
    assert_eq!(opened.manifest.version, "1.2.3");
    assert_eq!(opened.manifest.files[0].size, COMPONENT.len() as u64);
    assert_eq!(
        opened.manifest.files[0].sha256,
        hex::encode(Sha256::digest(COMPONENT))
    );
    assert!(opened.signature.is_none());
    let source = crate::load_pack_dir(opened.dir()).unwrap();
    assert_eq!(source.pack.reference(), "tiny@1.2.3");
    assert_eq!(source.components["x"].bytes, COMPONENT);
    // The manifest is the first entry; the same pack builds the same bytes.
    assert_eq!(entries(&archive)[0].0, ARCHIVE_MANIFEST.as_bytes());
    let first = std::fs::read(&archive).unwrap();
    let again = write_archive(dir.path(), &dir.path().join("dist")).unwrap();
    assert_eq!(std::fs::read(again.path).unwrap(), first);
}

#[test]
fn a_signature_is_added_and_the_manifest_kept_byte_for_byte() {
    let (_dir, archive) = built();
    let before = read_archive(&archive, &Limits::default()).unwrap();
    add_signature(&archive, "-----BEGIN SSH SIGNATURE-----\nx\n").unwrap();
    add_signature(&archive, "-----BEGIN SSH SIGNATURE-----\ny\n").unwrap();
    let after = read_archive(&archive, &Limits::default()).unwrap();
    assert_eq!(after.manifest_bytes, before.manifest_bytes);
    assert_eq!(
        after.signature.as_deref(),
        Some("-----BEGIN SSH SIGNATURE-----\ny\n")
    );
    assert_eq!(entries(&archive)[1].0, SIGNATURE_ENTRY.as_bytes());
}

#[test]
fn a_changed_component_is_refused_naming_it() {
    let (_d, _a, err) = edited(|e| {
        let c = e.iter_mut().find(|x| x.0 == b"components/x.wasm").unwrap();
        c.2[10] ^= 1;
    });
    assert!(matches!(&err, ArchiveError::Differs { entry, .. } if entry == "components/x.wasm"));
    let msg = err.to_string();
    assert!(
        msg.contains("components/x.wasm differs from the manifest")
            && msg.contains("the archive was changed after it was built/signed"),
        "{msg}"
    );
}

#[test]
fn a_changed_size_is_refused_naming_the_file() {
    let (_d, _a, err) = edited(|e| {
        let c = e.iter_mut().find(|x| x.0 == b"rules/r.yaml").unwrap();
        c.2.extend_from_slice(b"enabled: false\n");
    });
    let msg = err.to_string();
    assert!(
        msg.contains("rules/r.yaml differs from the manifest"),
        "{msg}"
    );
    assert!(msg.contains("bytes, the manifest says"), "{msg}");
}

#[test]
fn hostile_paths_are_refused_naming_the_entry() {
    for (name, expect) in [
        ("/etc/cron.d/x", "an absolute path"),
        ("../outside", "path traversal"),
        ("rules/../../outside", "path traversal"),
        ("./pack.yaml", "`.`"),
        ("rules//r.yaml", "empty part"),
        ("rules\\r.yaml", "backslash"),
    ] {
        let (_d, _a, err) = edited(|e| e.push(regular(name, b"x")));
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("entry {name:?}")) && msg.contains(expect),
            "{name}: {msg}"
        );
    }
}

#[test]
fn links_devices_and_directories_are_refused() {
    for (kind, expect) in [
        (tar::EntryType::Symlink, "a symbolic link"),
        (tar::EntryType::Link, "a hard link"),
        (tar::EntryType::Char, "a device"),
        (tar::EntryType::Block, "a device"),
        (tar::EntryType::Fifo, "a FIFO"),
        (tar::EntryType::Directory, "a directory entry"),
    ] {
        let (_d, _a, err) = edited(|e| {
            e.insert(1, (b"components/y.wasm".to_vec(), kind, Vec::new()));
        });
        let msg = err.to_string();
        assert!(
            msg.contains("entry \"components/y.wasm\"") && msg.contains(expect),
            "{kind:?}: {msg}"
        );
    }
}

#[test]
fn a_duplicate_entry_is_refused() {
    let (_d, _a, err) = edited(|e| {
        let c = e.iter().find(|x| x.0 == b"pack.yaml").unwrap().clone();
        e.push(c);
    });
    assert!(
        err.to_string()
            .contains("entry \"pack.yaml\": a second entry with this path"),
        "{err}"
    );
    let (_d, _a, err) = edited(|e| {
        let m = e[0].clone();
        e.push(m);
    });
    assert!(err.to_string().contains("a second entry"), "{err}");
}

#[test]
fn an_entry_not_in_the_manifest_is_refused() {
    let (_d, _a, err) = edited(|e| e.push(regular("rules/extra.yaml", b"name: extra\n")));
    let msg = err.to_string();
    assert!(
        msg.contains("entry \"rules/extra.yaml\": not listed in the manifest"),
        "{msg}"
    );
}

#[test]
fn a_listed_file_that_is_missing_is_refused() {
    let (_d, _a, err) = edited(|e| e.retain(|x| x.0 != b"tests/deep/case.json"));
    assert!(
        err.to_string()
            .contains("tests/deep/case.json is listed in the manifest but missing"),
        "{err}"
    );
}

#[test]
fn a_missing_or_garbled_manifest_is_refused() {
    let (_d, _a, err) = edited(|e| {
        e.remove(0);
    });
    assert!(
        err.to_string().contains("the archive has no manifest"),
        "{err}"
    );
    let (_d, _a, err) = edited(|e| e[0].2 = b"{\"format\": 1".to_vec());
    assert!(
        err.to_string()
            .contains("drover-archive.json: not a valid manifest"),
        "{err}"
    );
    let (_d, _a, err) = edited(|e| {
        let text = String::from_utf8(e[0].2.clone()).unwrap();
        e[0].2 = text
            .replace("\"format\"", "\"extra\": 1, \"format\"")
            .into_bytes();
    });
    assert!(err.to_string().contains("unknown field `extra`"), "{err}");
}

#[test]
fn a_manifest_naming_another_pack_or_version_is_refused() {
    let (_d, _a, err) = edited(|e| {
        let text = String::from_utf8(e[0].2.clone()).unwrap();
        e[0].2 = text.replace("1.2.3", "9.9.9").into_bytes();
    });
    let msg = err.to_string();
    assert!(
        msg.contains("names tiny@9.9.9, but its pack.yaml says tiny@1.2.3"),
        "{msg}"
    );
}

#[test]
fn oversized_entries_and_totals_are_refused() {
    let (_d, archive) = built();
    let small = Limits {
        max_entry_bytes: 10,
        ..Limits::default()
    };
    let err = read_archive(&archive, &small).unwrap_err();
    assert!(
        err.to_string().contains("entry \"components/x.wasm\"")
            && err.to_string().contains("more than the 10"),
        "{err}"
    );
    let tiny_total = Limits {
        max_total_bytes: 2048,
        ..Limits::default()
    };
    let err = read_archive(&archive, &tiny_total).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("decompression bomb"), "{err}");
}

#[test]
fn a_decompression_bomb_stops_at_the_limit() {
    // 64 MiB of zeros claimed by its header: compresses to ~64 KiB.
    let (_d, archive, _) = edited(|e| e.push(regular("tests/bomb", &vec![0u8; 64 << 20])));
    assert!(std::fs::metadata(&archive).unwrap().len() < 1 << 20);
    let limits = Limits {
        max_entry_bytes: 1 << 20,
        ..Limits::default()
    };
    let err = read_archive(&archive, &limits).unwrap_err();
    assert!(err.to_string().contains("entry \"tests/bomb\""), "{err}");
}

#[test]
fn too_many_entries_are_refused() {
    let (_d, archive, _) = edited(|e| {
        for i in 0..50 {
            e.push(regular(&format!("tests/f{i}"), b""));
        }
    });
    let limits = Limits {
        max_entries: 20,
        ..Limits::default()
    };
    let err = read_archive(&archive, &limits).unwrap_err();
    assert!(
        matches!(err, ArchiveError::TooManyEntries { max: 20, .. }),
        "{err}"
    );
}

#[test]
fn truncated_or_foreign_files_are_refused() {
    let (_d, archive) = built();
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_archive(&archive, &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("not a pack archive"), "{err}");
    std::fs::write(&archive, b"name: not an archive\n").unwrap();
    let err = read_archive(&archive, &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("not a pack archive"), "{err}");
}

#[test]
fn a_component_outside_the_pack_is_not_archived() {
    let dir = pack_dir();
    let yaml = std::fs::read_to_string(dir.path().join("pack.yaml")).unwrap();
    std::fs::write(dir.path().join("x.wasm"), COMPONENT).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("sub/pack.yaml"),
        yaml.replace("components/x.wasm", "../x.wasm"),
    )
    .unwrap();
    let err = write_archive(&dir.path().join("sub"), &dir.path().join("dist")).unwrap_err();
    // pack.yaml itself refuses it; the archive never holds `..`.
    assert!(
        err.to_string()
            .contains("contains .. and so may leave the pack directory"),
        "{err}"
    );
}

/// `pack_dir()` with its manifest written in place (as `pack sign DIR`
/// writes it, without the signature) and its stray notes removed.
fn checkout() -> tempfile::TempDir {
    let dir = pack_dir();
    std::fs::remove_file(dir.path().join("notes.txt")).unwrap();
    let (_, bytes) = dir_manifest(dir.path()).unwrap();
    std::fs::write(dir.path().join(ARCHIVE_MANIFEST), bytes).unwrap();
    std::fs::create_dir_all(dir.path().join(".git/objects")).unwrap();
    std::fs::write(dir.path().join(".git/HEAD"), "ref: x\n").unwrap();
    dir
}

fn read_checkout(dir: &Path) -> Result<OpenedArchive, ArchiveError> {
    let out = tempfile::tempdir().unwrap();
    let archive = out.path().join("c.dpk");
    archive_checkout(dir, &archive, &Limits::default())?;
    read_archive(&archive, &Limits::default())
}

#[test]
fn a_checkout_with_its_manifest_reads_as_the_archive_of_the_same_directory() {
    let dir = checkout();
    let opened = read_checkout(dir.path()).unwrap();
    let (manifest, bytes) = dir_manifest(dir.path()).unwrap();
    assert_eq!(opened.manifest, manifest);
    assert_eq!(opened.manifest_bytes, bytes);
    assert_eq!(opened.signature, None);
    assert!(opened.dir().join("components/x.wasm").is_file());
    assert!(!opened.dir().join(".git").exists(), ".git stays out");
}

#[test]
fn a_checkout_with_a_changed_unlisted_or_linked_file_is_refused_by_name() {
    let dir = checkout();
    std::fs::write(dir.path().join("rules/r.yaml"), "name: changed\n").unwrap();
    let err = read_checkout(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("rules/r.yaml differs from the manifest"),
        "{err}"
    );

    let dir = checkout();
    std::fs::write(dir.path().join("rules/extra.yaml"), "x: 1\n").unwrap();
    let err = read_checkout(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("\"rules/extra.yaml\": not listed in the manifest"),
        "{err}"
    );

    let dir = checkout();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("rules/p.yaml")).unwrap();
    let err = read_checkout(dir.path()).unwrap_err().to_string();
    assert!(err.contains("\"rules/p.yaml\": a symbolic link"), "{err}");

    let dir = checkout();
    std::fs::remove_file(dir.path().join("rules/r.yaml")).unwrap();
    let err = read_checkout(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("rules/r.yaml is listed in the manifest but missing"),
        "{err}"
    );
}

#[test]
fn a_checkout_without_a_manifest_is_an_unsigned_archive_of_every_file() {
    let dir = pack_dir();
    let opened = read_checkout(dir.path()).unwrap();
    assert_eq!(opened.signature, None);
    assert_eq!(opened.manifest.name, "tiny");
    let paths: Vec<_> = opened
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert!(paths.contains(&"notes.txt"), "{paths:?}");

    let limits = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    let out = tempfile::tempdir().unwrap();
    let err = archive_checkout(dir.path(), &out.path().join("c.dpk"), &limits)
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than 3 entries"), "{err}");
}
