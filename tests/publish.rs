//! The publishing path a team walks, end to end through the real binary,
//! for a Python pack and a JavaScript pack, as README and
//! docs/pack-authoring.md tell it: `pack new` → the author adds an action
//! that needs a grant → `pack build` (components, checks, the pack's own
//! tests, the archive) → `key new` → `pack sign` → `pack push` to a real
//! OCI registry (Debian's `docker-registry` on 127.0.0.1) → on a fresh
//! database: `trust add` → `pack install oci://…` (shadowed) → dry runs
//! (the ungranted read refused) → `grant add` → `pack promote` → real
//! runs. And what an attacker who can write to the registry gets: an
//! archive with a changed component, and the same pack unsigned, are both
//! refused with messages that say why and what to do.
//!
//! Needs componentize-py and componentize-js (`cargo xtask test` installs
//! them); each language builds two components and compiles them at
//! install, a few minutes in all.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::registry::Registry;
use support::server::agent;
use support::{Drover, stderr, stdout};

/// One language's scaffold and the action the author adds to it.
struct Lang {
    flag: &'static str,
    file: &'static str,
    /// The new action: pings `host` and logs what it saw.
    source: &'static str,
    /// The runtime's own imports, inert in drover's sandbox.
    wasi: &'static str,
}

const PYTHON: Lang = Lang {
    flag: "python",
    file: "actions/reach.py",
    source: r#""""Whether a host answers ping."""

from drover import action, log, probe


@action
def run(params, ctx):
    answer = probe.ping(params["host"], 2000)
    log.info(f"ping {params['host']}: {answer['reachable']}")
    return {"reachable": answer["reachable"], "dry_run": ctx.dry_run}
"#,
    wasi: "wasi:filesystem, wasi:sockets",
};

const JS: Lang = Lang {
    flag: "js",
    file: "actions/reach.js",
    source: r#"// Whether a host answers ping.
import { action, log, probe } from "drover";

action((params, ctx) => {
  const answer = probe.ping(params.host, 2000);
  log.info(`ping ${params.host}: ${answer.reachable}`);
  return { reachable: answer.reachable, dry_run: ctx.dryRun };
});
"#,
    wasi: "wasi:filesystem",
};

/// `drover pack new NAME --lang …`, then the author's second action.
fn scaffold(d: &Drover, name: &str, lang: &Lang) -> PathBuf {
    let dir = d.dir.path().join(name);
    d.expect(
        0,
        &[
            "pack",
            "new",
            name,
            "--lang",
            lang.flag,
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    std::fs::write(dir.join(lang.file), lang.source).unwrap();
    let manifest = dir.join("pack.yaml");
    let mut yaml = std::fs::read_to_string(&manifest).unwrap();
    yaml.push_str(&format!(
        "  reach:\n    kind: action\n    description: Whether a host answers ping.\n    \
         source: {}\n    component: components/reach.wasm\n    idempotent: true\n    \
         parameters:\n      host: {{type: string, required: true, description: Host to ping.}}\n    \
         capabilities: [log, probe, {}]\n",
        lang.file, lang.wasi
    ));
    std::fs::write(&manifest, yaml).unwrap();
    dir
}

/// The archive's files, repacked (manifest first, files only, as drover
/// writes them) after `change` edited the unpacked copy.
fn repack(archive: &Path, out: &Path, change: impl FnOnce(&Path)) {
    let dir = out.with_extension("d");
    std::fs::create_dir_all(&dir).unwrap();
    let ok = Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(ok.success());
    let listed = Command::new("tar")
        .arg("-tzf")
        .arg(archive)
        .output()
        .unwrap();
    let names: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    change(&dir);
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(out)
        .arg("-C")
        .arg(&dir)
        .arg("--no-recursion")
        .args(&names)
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Through the registry's own API (no drover involved): uploads `layer`
/// and tags under `to` the manifest of `from` with that layer instead.
fn retag_with_layer(reg: &Registry, repo: &str, from: &str, to: &str, layer: &[u8]) {
    use sha2::Digest;
    let http = agent(Duration::from_secs(30));
    let base = format!("http://{}/v2/{repo}", reg.addr);
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(layer)));
    let started = http
        .post(&format!("{base}/blobs/uploads/"))
        .send_empty()
        .unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let upload = if location.starts_with("http") {
        location
    } else {
        format!("http://{}{location}", reg.addr)
    };
    let sep = if upload.contains('?') { '&' } else { '?' };
    let put = http
        .put(&format!("{upload}{sep}digest={digest}"))
        .header("content-type", "application/octet-stream")
        .send(layer)
        .unwrap();
    assert_eq!(put.status(), 201);
    let media = "application/vnd.oci.image.manifest.v1+json";
    let mut got = http
        .get(&format!("{base}/manifests/{from}"))
        .header("accept", media)
        .call()
        .unwrap();
    assert_eq!(got.status(), 200);
    let mut manifest: Value =
        serde_json::from_slice(&got.body_mut().read_to_vec().unwrap()).unwrap();
    manifest["layers"][0]["digest"] = json!(digest);
    manifest["layers"][0]["size"] = json!(layer.len());
    let put = http
        .put(&format!("{base}/manifests/{to}"))
        .header("content-type", media)
        .send(manifest.to_string())
        .unwrap();
    assert_eq!(put.status(), 201);
}

fn walk(lang: &Lang, name: &str) {
    let reg = Registry::start();
    let publisher = Drover::new();
    let dir = scaffold(&publisher, name, lang);

    // One build: components, the install checks, the pack's tests, the archive.
    let out = publisher
        .cmd()
        .current_dir(&dir)
        .args(["pack", "build"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pack build: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let archive = dir.join(format!("dist/{name}-0.1.0.dpk"));
    assert!(archive.is_file(), "{}", stdout(&out));
    let tested = publisher
        .cmd()
        .current_dir(&dir)
        .args(["pack", "test"])
        .output()
        .unwrap();
    assert!(
        tested.status.success(),
        "{}{}",
        stdout(&tested),
        stderr(&tested)
    );

    // Sign and push; the unsigned copy goes to another tag.
    let unsigned = publisher.dir.path().join(format!("{name}-unsigned.dpk"));
    std::fs::copy(&archive, &unsigned).unwrap();
    let key = publisher.new_key("net-team");
    publisher.sign(&archive, &key);
    let reference = reg.reference(&format!("packs/{name}:0.1.0"));
    publisher.expect(0, &["pack", "push", archive.to_str().unwrap(), &reference]);
    let unsigned_ref = reg.reference(&format!("packs/{name}:unsigned"));
    let out = publisher.expect(
        0,
        &["pack", "push", unsigned.to_str().unwrap(), &unsigned_ref],
    );
    assert!(stderr(&out).contains("unsigned"), "{}", stderr(&out));
    // Someone with write access to the registry swaps a component.
    let evil = publisher.dir.path().join(format!("{name}-evil.dpk"));
    repack(&archive, &evil, |d| {
        std::fs::copy(
            d.join("components/reach.wasm"),
            d.join("components/hello.wasm"),
        )
        .unwrap();
    });
    // `drover pack push` checks what it publishes, so the attacker writes
    // the registry directly: the same artifact, its layer swapped.
    let evil_ref = reg.reference(&format!("packs/{name}:evil"));
    retag_with_layer(
        &reg,
        &format!("packs/{name}"),
        "0.1.0",
        "evil",
        &std::fs::read(&evil).unwrap(),
    );

    // The drover host: a fresh database that trusts the team's key.
    let host = Drover::new();
    let public = format!("{}.pub", key.display());
    host.expect(
        0,
        &[
            "trust", "add", &public, "--name", "net-team", "--packs", name, "--reason", "CHG-5",
        ],
    );
    let out = host.expect(2, &["pack", "install", &evil_ref]);
    assert!(
        stderr(&out).contains("components/hello.wasm differs from the manifest"),
        "{}",
        stderr(&out)
    );
    let out = host.expect(2, &["pack", "install", &unsigned_ref]);
    assert!(
        stderr(&out).contains("unsigned") && stderr(&out).contains("--allow-unsigned"),
        "{}",
        stderr(&out)
    );
    assert_eq!(host.json(0, &["pack", "list"]), json!([]));

    let out = host.expect(0, &["pack", "install", &reference]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("installed {name}@0.1.0 in shadow mode")),
        "{text}"
    );
    assert!(text.contains("signer: net-team SHA256:"), "{text}");

    // Shadowed: every run is dry, and the probe is not granted yet.
    let hello = format!("{name}.hello");
    let reach = format!("{name}.reach");
    let exec = host.json(0, &["run", &hello, "name=world"]);
    assert_eq!(exec["result"]["dry_run"], true, "{exec}");
    let exec = host.json(1, &["run", &reach, "host=127.0.0.1"]);
    assert_eq!(exec["status"], "denied", "{exec}");

    host.grant(&format!("{name}@0.1.0"), "probe", "127.0.0.1");
    let exec = host.json(0, &["run", &reach, "host=127.0.0.1"]);
    assert_eq!(
        exec["result"],
        json!({"reachable": true, "dry_run": true}),
        "{exec}"
    );

    host.expect(
        0,
        &[
            "pack",
            "promote",
            name,
            "--reason",
            "CHG-6: reviewed the dry runs",
        ],
    );
    let exec = host.json(0, &["run", &hello, "name=world"]);
    assert_eq!(exec["result"]["dry_run"], false, "{exec}");
    assert_eq!(exec["result"]["greeting"], "hello, world", "{exec}");
    let exec = host.json(0, &["run", &reach, "host=127.0.0.1"]);
    assert_eq!(
        exec["result"],
        json!({"reachable": true, "dry_run": false}),
        "{exec}"
    );
    let logged = exec["logs"][0]["message"].as_str().unwrap_or_default();
    assert!(
        ["ping 127.0.0.1: True", "ping 127.0.0.1: true"].contains(&logged),
        "{exec}"
    );
}

#[test]
fn a_python_pack_is_published_through_a_registry_and_runs_once_granted_and_promoted() {
    walk(&PYTHON, "netcheck_py");
}

#[test]
fn a_js_pack_is_published_through_a_registry_and_runs_once_granted_and_promoted() {
    walk(&JS, "netcheck_js");
}
