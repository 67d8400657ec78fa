//! Signed pack archives end to end, through the real binary: `pack build`
//! → `key new` → `pack sign` → `pack verify` → `trust add` → `pack
//! install FILE.dpk` → the signer in `pack list/show` and the change log;
//! `ssh-keygen -Y verify` accepts the signature; and the refusals: a
//! changed component (named), an unsigned archive (then installed shadowed
//! with --allow-unsigned), a key trusted only for other packs, a key no
//! longer trusted, a pack whose component imports more than it declares.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

/// A copy of `tests/packs/events` (one component, rules) in the test's
/// directory, built into an archive: (pack dir, archive).
fn built(d: &Drover) -> (PathBuf, PathBuf) {
    let src = d.dir.path().join("src/events");
    copy_dir(&pack_dir("tests/packs/events"), &src);
    let out = d.expect(0, &["pack", "build", src.to_str().unwrap()]);
    let archive = src.join("dist/events-0.1.0.dpk");
    assert!(
        stdout(&out).contains(&format!("built {}", archive.display())),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("checked noop (action) sha256:"));
    (src, archive)
}

fn trust(d: &Drover, key: &Path, name: &str, packs: &str) {
    let public = format!("{}.pub", key.display());
    d.expect(
        0,
        &[
            "trust", "add", &public, "--name", name, "--packs", packs, "--reason", "CHG-77",
        ],
    );
}

fn install_archive(d: &Drover, archive: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["pack", "install", archive.to_str().unwrap()];
    args.extend_from_slice(extra);
    d.run(&args)
}

/// Unpacks `archive` with the system's tar into `dir`.
fn untar(archive: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let ok = Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn a_signed_archive_is_built_verified_trusted_installed_and_shows_its_signer() {
    let d = Drover::new();
    let (_src, archive) = built(&d);
    let key = d.new_key("ci-team");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the private key is the owner's only");
    // Keys are never overwritten.
    let again = d.expect(
        2,
        &[
            "key",
            "new",
            "--name",
            "ci-team",
            "--dir",
            key.parent().unwrap().to_str().unwrap(),
        ],
    );
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    // Unsigned, verify says so; signed, it names the key's fingerprint.
    let out = d.expect(0, &["pack", "verify", archive.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("pack events@0.1.0"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("signer: unsigned"),
        "{}",
        stdout(&out)
    );
    d.sign(&archive, &key);
    let out = d.expect(0, &["pack", "verify", archive.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(text.contains("  OK  components/core_noop.wasm"), "{text}");
    assert!(text.contains("  OK  pack.yaml"), "{text}");
    assert!(text.contains("  OK  rules/echo_ping.yaml"), "{text}");
    assert!(
        text.contains("signed by SHA256:") && text.contains("NOT TRUSTED"),
        "{text}"
    );

    // OpenSSH checks the signature on its own: the manifest is the signed
    // message, the signature entry an SSHSIG in namespace drover-pack.
    let unpacked = d.dir.path().join("unpacked");
    untar(&archive, &unpacked);
    let public = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
    let allowed = d.dir.path().join("allowed_signers");
    std::fs::write(
        &allowed,
        format!("ci-team namespaces=\"drover-pack\" {}", public.trim()),
    )
    .unwrap();
    let manifest = std::fs::File::open(unpacked.join("drover-archive.json")).unwrap();
    let ssh = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(&allowed)
        .args(["-I", "ci-team", "-n", "drover-pack", "-s"])
        .arg(unpacked.join("drover-archive.json.sig"))
        .stdin(manifest)
        .output()
        .unwrap();
    assert!(
        ssh.status.success(),
        "ssh-keygen -Y verify: {}{}",
        stdout(&ssh),
        stderr(&ssh)
    );
    assert!(stdout(&ssh).contains("Good \"drover-pack\" signature for ci-team"));

    // Not trusted yet: refused, saying what to do.
    let out = install_archive(&d, &archive, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("which this drover does not trust")
            && stderr(&out).contains("drover trust add"),
        "{}",
        stderr(&out)
    );

    trust(&d, &key, "ci-team", "ev*,other");
    let keys = d.json(0, &["trust", "list"]);
    assert_eq!(keys[0]["name"], "ci-team");
    assert_eq!(keys[0]["packs"], serde_json::json!(["ev*", "other"]));
    let fingerprint = keys[0]["fingerprint"].as_str().unwrap().to_owned();
    assert!(fingerprint.starts_with("SHA256:"));
    let out = d.expect(0, &["pack", "verify", archive.to_str().unwrap()]);
    assert!(
        stdout(&out).contains(&format!(
            "signer: signed by ci-team ({fingerprint}), trusted for this pack"
        )),
        "{}",
        stdout(&out)
    );

    let out = install_archive(&d, &archive, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("installed events@0.1.0 in shadow mode"),
        "{text}"
    );
    assert!(
        text.contains(&format!("signer: ci-team {fingerprint}")),
        "{text}"
    );

    let packs = d.json(0, &["pack", "list"]);
    let events = packs
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "events")
        .unwrap();
    assert_eq!(events["signer"], format!("ci-team {fingerprint}"));
    assert_eq!(events["shadow"], true);
    assert!(
        events["source_dir"]
            .as_str()
            .unwrap()
            .ends_with("events-0.1.0.dpk"),
        "the archive is the source: {events}"
    );
    let show = stdout(&d.expect(0, &["pack", "show", "events"]));
    assert!(
        show.contains(&format!("signer: ci-team {fingerprint}")),
        "{show}"
    );
    let shown = d.json(0, &["pack", "show", "events"]);
    assert_eq!(shown["pack"]["signer"], format!("ci-team {fingerprint}"));

    // The change log: the trust, and the install with its signer.
    let changes = d.json(0, &["changes", "list"]);
    let all = changes.to_string();
    assert!(all.contains("trust.add"), "{all}");
    assert!(
        all.contains(&format!(
            "installed events@0.1.0 signed by ci-team {fingerprint} in shadow mode"
        )),
        "{all}"
    );
    assert!(all.contains("CHG-77"), "{all}");
}

#[test]
fn a_changed_component_is_refused_naming_it() {
    let d = Drover::new();
    let (_src, archive) = built(&d);
    let key = d.new_key("ci-team");
    d.sign(&archive, &key);
    trust(&d, &key, "ci-team", "*");
    // Unpack, change one byte of the component, pack again in order.
    let dir = d.dir.path().join("tamper");
    untar(&archive, &dir);
    let wasm = dir.join("components/core_noop.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&wasm, bytes).unwrap();
    let tampered = d.dir.path().join("events-0.1.0.dpk");
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(&tampered)
        .arg("-C")
        .arg(&dir)
        .args([
            "drover-archive.json",
            "drover-archive.json.sig",
            "pack.yaml",
            "components",
            "rules",
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    for args in [
        vec!["pack", "verify", tampered.to_str().unwrap()],
        vec!["pack", "install", tampered.to_str().unwrap()],
        vec![
            "pack",
            "install",
            tampered.to_str().unwrap(),
            "--allow-unsigned",
        ],
    ] {
        let out = d.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        // GNU tar adds directory entries: pack again without them.
        assert!(
            err.contains("components/core_noop.wasm differs from the manifest")
                || err.contains("a directory entry"),
            "{args:?}: {err}"
        );
    }
    // Without directory entries (only files, as drover writes them).
    let files = Command::new("tar")
        .arg("-czf")
        .arg(&tampered)
        .arg("-C")
        .arg(&dir)
        .arg("--no-recursion")
        .args([
            "drover-archive.json",
            "drover-archive.json.sig",
            "pack.yaml",
            "components/core_noop.wasm",
            "rules/bad_param.yaml",
            "rules/echo_ping.yaml",
            "rules/three_strikes.yaml",
        ])
        .status()
        .unwrap();
    assert!(files.success());
    let out = install_archive(&d, &tampered, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("components/core_noop.wasm differs from the manifest")
            && err.contains("the archive was changed after it was built/signed"),
        "{err}"
    );
    let packs = d.json(0, &["pack", "list"]);
    assert_eq!(packs, serde_json::json!([]), "nothing was installed");
}

#[test]
fn an_unsigned_archive_is_refused_then_installed_shadowed_when_allowed() {
    let d = Drover::new();
    let (_src, archive) = built(&d);
    let out = install_archive(&d, &archive, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the archive is unsigned")
            && stderr(&out).contains("--allow-unsigned"),
        "{}",
        stderr(&out)
    );
    // --allow-unsigned never trusts.
    let out = install_archive(&d, &archive, &["--allow-unsigned", "--trusted"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = install_archive(&d, &archive, &["--allow-unsigned"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("in shadow mode"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("signer: unsigned"),
        "{}",
        stdout(&out)
    );
    let packs = d.json(0, &["pack", "list"]);
    assert_eq!(packs[0]["signer"], "unsigned");
    assert_eq!(packs[0]["shadow"], true);
}

#[test]
fn a_key_trusted_for_other_packs_or_no_longer_trusted_is_refused() {
    let d = Drover::new();
    let (_src, archive) = built(&d);
    let key = d.new_key("ci-team");
    d.sign(&archive, &key);
    trust(&d, &key, "ci-team", "other*");
    let out = install_archive(&d, &archive, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("trusted only for packs 'other*', not for events"),
        "{}",
        stderr(&out)
    );

    d.expect(0, &["trust", "remove", "ci-team", "--reason", "rotated"]);
    trust(&d, &key, "ci-team", "events");
    let out = install_archive(&d, &archive, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = d.expect(0, &["trust", "remove", "ci-team", "--reason", "team left"]);
    assert!(stdout(&out).contains("no longer trusting key ci-team"));
    let out = install_archive(&d, &archive, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("which this drover does not trust"),
        "{}",
        stderr(&out)
    );
    let changes = d.json(0, &["changes", "list", "--kind", "trust"]);
    let kinds: Vec<&str> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["trust.remove", "trust.add", "trust.remove", "trust.add"]
    );
    let out = d.run(&["trust", "remove", "ci-team"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no trusted key is named \"ci-team\""));
}

#[test]
fn hostile_keys_and_patterns_are_refused_naming_them() {
    let d = Drover::new();
    let bad = d.dir.path().join("bad.pub");
    std::fs::write(&bad, "ssh-ed25519 AAAAnot-a-key\n").unwrap();
    let out = d.run(&["trust", "add", bad.to_str().unwrap(), "--name", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.pub: not an OpenSSH public key"),
        "{}",
        stderr(&out)
    );
    let key = d.new_key("ok");
    let public = format!("{}.pub", key.display());
    let out = d.run(&[
        "trust",
        "add",
        &public,
        "--name",
        "x",
        "--packs",
        "batch*,ops-*",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--packs pattern \"ops-*\""),
        "{}",
        stderr(&out)
    );
    let out = d.run(&["trust", "add", &public, "--name", "../up"]);
    assert!(
        stderr(&out).contains("key name \"../up\""),
        "{}",
        stderr(&out)
    );
    // A private key others can read is not used.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_src, archive) = built(&d);
    let out = d.run(&[
        "pack",
        "sign",
        archive.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
}

#[test]
fn build_runs_the_install_checks_first() {
    let d = Drover::new();
    let src = d.dir.path().join("greedy");
    copy_dir(&pack_dir("tests/packs/greedy"), &src);
    let out = d.run(&["pack", "build", src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("imports") && err.contains("but pack.yaml declares only"),
        "{err}"
    );
    assert!(!src.join("dist").exists(), "no archive of a refused pack");
}

/// A bad file inside an archive is named inside the archive
/// (`flows-0.1.0.dpk:workflows/greet.yaml:8:13`), not in the temporary
/// directory it was extracted to (gone by the time the operator looks).
#[test]
fn a_bad_file_of_an_archive_is_named_inside_it() {
    let d = Drover::new();
    let src = d.dir.path().join("src/flows");
    copy_dir(&pack_dir("tests/packs/flows"), &src);
    d.expect(0, &["pack", "build", src.to_str().unwrap(), "--skip-tests"]);
    let archive = src.join("dist/flows-0.1.0.dpk");
    // core, which its workflows call, is not installed here.
    let out = install_archive(&d, &archive, &["--allow-unsigned"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out);
    assert!(
        text.contains(&format!(
            "{}:workflows/greet.yaml:8:13: tasks.first.action: action `core.echo` does not exist",
            archive.display()
        )),
        "{text}"
    );
    assert!(!text.contains("drover-pack-"), "{text}");
}
