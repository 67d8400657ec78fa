//! Packs through a real OCI registry (Debian's `docker-registry` on
//! 127.0.0.1, started per test) and through git (`git+file://` bare
//! repositories made by the tests), end to end through the real binary:
//! `pack push` → `pack install oci://…` on a fresh database (verified
//! against trusted keys, shadowed) → `pack pull` → offline install of the
//! pulled file; `pack sign DIR` → commit → tag → `pack install
//! git+file://…@TAG`. And the refusals: a tampered layer, an unsigned
//! artifact, a missing tag, a layer larger than an archive may be, an
//! unsigned checkout, a changed or unlisted or linked file in a checkout,
//! and hostile git URLs and refs (nothing runs). A registry behind a login
//! takes it from standard input or the environment and never shows it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use support::registry::Registry;
use support::server::agent;
use support::*;

/// `tests/packs/events` copied and built into an archive: (dir, archive).
fn built(d: &Drover) -> (PathBuf, PathBuf) {
    let src = d.dir.path().join("src/events");
    copy_dir(&pack_dir("tests/packs/events"), &src);
    d.expect(0, &["pack", "build", src.to_str().unwrap(), "--skip-tests"]);
    (src.clone(), src.join("dist/events-0.1.0.dpk"))
}

/// `drover trust add KEY.pub` for packs `events` in `d`'s database.
fn trust(d: &Drover, key: &Path) {
    let public = format!("{}.pub", key.display());
    d.expect(
        0,
        &[
            "trust", "add", &public, "--name", "ci", "--packs", "events", "--reason", "CHG-1",
        ],
    );
}

/// A signed archive, and a fresh drover that trusts its key.
fn signed_archive() -> (Drover, PathBuf, Drover) {
    let publisher = Drover::new();
    let (_, archive) = built(&publisher);
    let key = publisher.new_key("ci");
    publisher.sign(&archive, &key);
    let operator = Drover::new();
    trust(&operator, &key);
    (publisher, archive, operator)
}

fn push(d: &Drover, archive: &Path, reference: &str) -> std::process::Output {
    d.expect(0, &["pack", "push", archive.to_str().unwrap(), reference])
}

/// The artifact's manifest, straight from the registry.
fn manifest(reg: &Registry, repo: &str, tag: &str) -> Value {
    let url = format!("http://{}/v2/{repo}/manifests/{tag}", reg.addr);
    let mut resp = agent(Duration::from_secs(10))
        .get(&url)
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    serde_json::from_slice(&resp.body_mut().read_to_vec().unwrap()).unwrap()
}

#[test]
fn a_signed_pack_goes_through_the_registry_and_installs_shadowed_then_offline_from_a_pull() {
    let reg = Registry::start();
    let (publisher, archive, operator) = signed_archive();
    let reference = reg.reference("packs/events:0.1.0");
    let out = push(&publisher, &archive, &reference);
    assert!(
        stdout(&out).contains(&format!("pushed {}", archive.display())),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    // An OCI artifact of drover's own types; the layer is the archive.
    let m = manifest(&reg, "packs/events", "0.1.0");
    assert_eq!(m["artifactType"], "application/vnd.drover.pack.v1+json");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.drover.pack.v1+json"
    );
    let layer = &m["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.drover.pack.layer.v1.tar+gzip"
    );
    assert_eq!(
        std::fs::read(reg.blob_path(layer["digest"].as_str().unwrap())).unwrap(),
        std::fs::read(&archive).unwrap()
    );

    // A fresh database that trusts the key: installed, shadowed (from
    // outside this drover), the signer and the source recorded.
    let out = operator.expect(0, &["pack", "install", &reference]);
    let text = stdout(&out);
    assert!(
        text.contains("installed events@0.1.0 in shadow mode"),
        "{text}"
    );
    assert!(text.contains("signer: ci SHA256:"), "{text}");
    let packs = operator.json(0, &["pack", "list"]);
    assert_eq!(packs[0]["shadow"], true, "{packs}");
    assert_eq!(packs[0]["source_dir"], reference.as_str(), "{packs}");

    // Pull to a file, then install it offline on another fresh database.
    let pulled = operator.dir.path().join("pulled");
    let out = operator.expect(
        0,
        &[
            "pack",
            "pull",
            &reference,
            "--out",
            pulled.to_str().unwrap(),
        ],
    );
    let file = pulled.join("events-0.1.0.dpk");
    assert!(stdout(&out).contains("pulled "), "{}", stdout(&out));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&archive).unwrap()
    );
    let names: Vec<_> = std::fs::read_dir(&pulled)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no partial download left: {names:?}");
    let offline = Drover::new();
    let key = publisher.dir.path().join("keys/ci");
    trust(&offline, &key);
    let out = offline.expect(0, &["pack", "install", file.to_str().unwrap()]);
    assert!(
        stdout(&out).contains("installed events@0.1.0"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_registry_refuses_tampered_unsigned_missing_and_oversized_artifacts() {
    let reg = Registry::start();
    let (publisher, archive, operator) = signed_archive();

    // A missing tag names what is missing.
    let out = operator.expect(
        2,
        &["pack", "install", &reg.reference("packs/events:9.9.9")],
    );
    assert!(
        stderr(&out).contains("no such artifact") && stderr(&out).contains("9.9.9"),
        "{}",
        stderr(&out)
    );

    // The registry's copy of the layer changed (same size): refused, the
    // digests named, nothing installed.
    let reference = reg.reference("packs/events:0.1.0");
    push(&publisher, &archive, &reference);
    let m = manifest(&reg, "packs/events", "0.1.0");
    let digest = m["layers"][0]["digest"].as_str().unwrap().to_owned();
    let blob = reg.blob_path(&digest);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let out = operator.expect(2, &["pack", "install", &reference]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("its manifest says {digest}")) && err.contains("was changed"),
        "{err}"
    );
    let packs = operator.json(0, &["pack", "list"]);
    assert_eq!(packs, json!([]), "nothing installed");

    // An unsigned archive is pushed (with a warning) but not installed
    // without --allow-unsigned; with it, shadowed.
    let unsigned_pub = Drover::new();
    let (_, unsigned) = built(&unsigned_pub);
    let reference = reg.reference("packs/events:unsigned");
    let out = push(&unsigned_pub, &unsigned, &reference);
    assert!(stderr(&out).contains("unsigned"), "{}", stderr(&out));
    let out = operator.expect(2, &["pack", "install", &reference]);
    assert!(
        stderr(&out).contains("the archive is unsigned"),
        "{}",
        stderr(&out)
    );
    let out = operator.expect(0, &["pack", "install", &reference, "--allow-unsigned"]);
    assert!(stdout(&out).contains("in shadow mode"), "{}", stdout(&out));

    // A manifest that claims a layer of 5 GiB: refused before a byte of it
    // is downloaded.
    let m = manifest(&reg, "packs/events", "unsigned");
    let mut huge = m.clone();
    huge["layers"][0]["size"] = json!(5u64 << 30);
    let url = format!("http://{}/v2/packs/events/manifests/huge", reg.addr);
    let resp = agent(Duration::from_secs(10))
        .put(&url)
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send(serde_json::to_vec(&huge).unwrap())
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", reg.log());
    let out = operator.expect(
        2,
        &[
            "pack",
            "pull",
            &reg.reference("packs/events:huge"),
            "--out",
            "/tmp",
        ],
    );
    assert!(
        stderr(&out).contains("5368709120 bytes, more than the 1073741824")
            && stderr(&out).contains("not downloaded"),
        "{}",
        stderr(&out)
    );

    // Not drover's artifact type.
    let mut other = m.clone();
    other["config"]["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    other.as_object_mut().unwrap().remove("artifactType");
    let url = format!("http://{}/v2/packs/events/manifests/other", reg.addr);
    let resp = agent(Duration::from_secs(10))
        .put(&url)
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send(serde_json::to_vec(&other).unwrap())
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", reg.log());
    let out = operator.expect(
        2,
        &["pack", "install", &reg.reference("packs/events:other")],
    );
    assert!(
        stderr(&out).contains("not a drover pack"),
        "{}",
        stderr(&out)
    );

    // Not a reference at all.
    let out = operator.expect(
        2,
        &["pack", "push", archive.to_str().unwrap(), "oci://x/Bad:1"],
    );
    assert!(
        stderr(&out).contains("not a repository name"),
        "{}",
        stderr(&out)
    );
}

/// `git …` in `dir`, failing the test on failure.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A work tree at `root/work` holding `pack` under `packs/events`, and a
/// bare repository `root/events.git` it pushes to; returns (work, bare).
fn repo_with(root: &Path, pack: &Path) -> (PathBuf, PathBuf) {
    let work = root.join("work");
    std::fs::create_dir_all(work.join("packs")).unwrap();
    copy_dir(pack, &work.join("packs/events"));
    let _ = std::fs::remove_dir_all(work.join("packs/events/dist"));
    std::fs::write(work.join("README.md"), "the events pack\n").unwrap();
    let bare = root.join("events.git");
    git(root, &["init", "--quiet", "--bare", bare.to_str().unwrap()]);
    git(&work, &["init", "--quiet"]);
    (work, bare)
}

fn commit_tag_push(work: &Path, bare: &Path, tag: &str) {
    git(work, &["add", "-A"]);
    git(work, &["commit", "--quiet", "-m", tag]);
    git(work, &["tag", tag]);
    git(
        work,
        &["push", "--quiet", bare.to_str().unwrap(), "HEAD:main", tag],
    );
}

fn git_source(bare: &Path, tag: &str) -> String {
    format!("git+file://{}@{tag}#subdir=packs/events", bare.display())
}

#[test]
fn a_signed_pack_directory_installs_from_git_and_changed_ones_are_refused() {
    let publisher = Drover::new();
    let (src, _) = built(&publisher);
    let _ = std::fs::remove_dir_all(src.join("dist"));
    let key = publisher.new_key("ci");
    let out = publisher.expect(
        0,
        &[
            "pack",
            "sign",
            src.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        stdout(&out).contains("commit drover-archive.json and drover-archive.json.sig"),
        "{}",
        stdout(&out)
    );
    let root = publisher.dir.path().join("git");
    let (work, bare) = repo_with(&root, &src);
    commit_tag_push(&work, &bare, "v0.1.0");

    let operator = Drover::new();
    trust(&operator, &key);
    let out = operator.expect(0, &["pack", "install", &git_source(&bare, "v0.1.0")]);
    let text = stdout(&out);
    assert!(
        text.contains("installed events@0.1.0 in shadow mode"),
        "{text}"
    );
    assert!(text.contains("signer: ci SHA256:"), "{text}");

    // A changed file after signing: refused, naming it.
    let rule = work.join("packs/events/rules/echo_ping.yaml");
    let mut text = std::fs::read_to_string(&rule).unwrap();
    text.push_str("# changed\n");
    std::fs::write(&rule, text).unwrap();
    commit_tag_push(&work, &bare, "v0.1.1-changed");
    let fresh = Drover::new();
    trust(&fresh, &key);
    let out = fresh.expect(
        2,
        &["pack", "install", &git_source(&bare, "v0.1.1-changed")],
    );
    assert!(
        stderr(&out).contains("rules/echo_ping.yaml differs from the manifest"),
        "{}",
        stderr(&out)
    );
    git(
        &work,
        &["checkout", "--quiet", "v0.1.0", "--", "packs/events/rules"],
    );

    // A file the manifest does not list: refused, naming it.
    std::fs::write(work.join("packs/events/rules/extra.yaml"), "x: 1\n").unwrap();
    commit_tag_push(&work, &bare, "v0.1.2-extra");
    let out = fresh.expect(2, &["pack", "install", &git_source(&bare, "v0.1.2-extra")]);
    assert!(
        stderr(&out).contains("\"rules/extra.yaml\": not listed in the manifest"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(work.join("packs/events/rules/extra.yaml")).unwrap();

    // A symbolic link (to a file of the installing machine): refused.
    std::os::unix::fs::symlink("/etc/passwd", work.join("packs/events/rules/passwd")).unwrap();
    commit_tag_push(&work, &bare, "v0.1.3-link");
    let out = fresh.expect(2, &["pack", "install", &git_source(&bare, "v0.1.3-link")]);
    assert!(
        stderr(&out).contains("\"rules/passwd\": a symbolic link"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fresh.json(0, &["pack", "list"]), json!([]));

    // A ref that does not exist.
    let out = fresh.expect(2, &["pack", "install", &git_source(&bare, "v9")]);
    assert!(stderr(&out).contains("cannot fetch v9"), "{}", stderr(&out));
}

#[test]
fn an_unsigned_checkout_is_refused_unless_allowed_and_hostile_git_sources_run_nothing() {
    let d = Drover::new();
    let root = d.dir.path().join("git");
    let (work, bare) = repo_with(&root, &pack_dir("tests/packs/events"));
    commit_tag_push(&work, &bare, "v0.1.0");
    let source = git_source(&bare, "v0.1.0");
    let out = d.expect(2, &["pack", "install", &source]);
    assert!(
        stderr(&out).contains("the archive is unsigned"),
        "{}",
        stderr(&out)
    );
    let out = d.expect(0, &["pack", "install", &source, "--allow-unsigned"]);
    assert!(
        stdout(&out).contains("installed events@0.1.0 in shadow mode"),
        "{}",
        stdout(&out)
    );

    // Hostile sources: refused before git runs, so the marker never appears.
    let marker = d.dir.path().join("pwned");
    let m = marker.display();
    let bare_s = bare.display();
    for hostile in [
        format!("git+ext::sh -c touch% {m}@v1"),
        format!("git+ext::sh -c 'touch {m}'"),
        format!("git+--upload-pack=touch {m}@v1"),
        format!("git+file://{bare_s}@--upload-pack=touch {m}"),
        format!("git+file://--upload-pack=touch {m}@v1"),
        format!("git+file://{bare_s}@v0.1.0#subdir=../../.."),
        "git+fd::0@v1".to_owned(),
    ] {
        let out = d.run(&["pack", "install", &hostile]);
        assert_eq!(out.status.code(), Some(2), "{hostile}: {}", stdout(&out));
        assert!(!marker.exists(), "{hostile} ran a command");
    }
}

#[test]
fn a_registry_login_comes_from_stdin_or_the_environment_and_is_never_shown() {
    const USER: &str = "publisher";
    const PASSWORD: &str = "correct horse 7";
    let reg = Registry::with_login(USER, PASSWORD);
    let (publisher, archive, operator) = signed_archive();
    let reference = reg.reference("packs/events:0.1.0");
    let push = ["pack", "push", archive.to_str().unwrap(), &reference];
    let with_stdin = [&push[..], &["--username", USER, "--password-stdin"]].concat();
    let shown = |out: &Output| format!("{}{}", stdout(out), stderr(out));

    // No credentials: refused, naming both ways to give them.
    let out = publisher.run_with_input(&push, "", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        stderr(&out).contains(
            "the registry asks for credentials: set DROVER_REGISTRY_USERNAME and \
             DROVER_REGISTRY_PASSWORD, or pass --username NAME --password-stdin"
        ),
        "{}",
        stderr(&out)
    );
    // A wrong password: the registry's refusal, and what to check.
    let out = publisher.run_with_input(&with_stdin, "not it\n", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        stderr(&out).contains("401") && stderr(&out).contains("refused the credentials"),
        "{}",
        stderr(&out)
    );
    assert!(!shown(&out).contains("not it"), "{}", shown(&out));
    // A password without a user name is a usage mistake, said before
    // anything is sent.
    let env_password = [("DROVER_REGISTRY_PASSWORD", PASSWORD)];
    let out = publisher.run_with_input(&push, "", &env_password);
    assert!(
        stderr(&out).contains("a registry password needs a user name"),
        "{}",
        stderr(&out)
    );

    // The right one on standard input (a trailing newline is not part of it).
    let out = publisher.run_with_input(&with_stdin, &format!("{PASSWORD}\n"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(!shown(&out).contains(PASSWORD), "{}", shown(&out));

    // The operator installs and pulls with the environment's login; without
    // it, nothing is installed.
    let out = operator.run_with_input(&["pack", "install", &reference], "", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert_eq!(operator.json(0, &["pack", "list"]), json!([]));
    let login = [
        ("DROVER_REGISTRY_USERNAME", USER),
        ("DROVER_REGISTRY_PASSWORD", PASSWORD),
    ];
    let out = operator.run_with_input(&["pack", "install", &reference], "", &login);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        stdout(&out).contains("installed events@0.1.0 in shadow mode"),
        "{}",
        stdout(&out)
    );
    let pulled = operator.dir.path().join("pulled");
    let out = operator.run_with_input(
        &[
            "pack",
            "pull",
            &reference,
            "--out",
            pulled.to_str().unwrap(),
        ],
        "",
        &login,
    );
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(
        std::fs::read(pulled.join("events-0.1.0.dpk")).unwrap(),
        std::fs::read(&archive).unwrap()
    );
    assert!(!shown(&out).contains(PASSWORD), "{}", shown(&out));
}
