//! Hole 15: drover's files on disk, as another local user would find
//! them. The database (executions, kv, password hashes, sealed secrets)
//! and its `-wal` and `-shm` files are created 0600 whatever the umask,
//! the compiled-component cache is 0700, and a secrets key file that
//! others may read is refused, with the command that fixes it.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::support::server::Server;
use crate::support::{Drover, pack_dir, stderr, stdout};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `drover ARGS` under `umask 000`, the most permissive a caller may run
/// it with.
fn under_open_umask(d: &Drover, args: &[&str]) -> std::process::Output {
    let cmd = d.cmd();
    let drover = cmd.get_program().to_owned();
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(drover)
        .args(args)
        .env("DROVER_DB", d.db())
        .env("USER", "tester")
        .current_dir(crate::support::repo());
    sh.output().unwrap()
}

#[test]
fn the_database_its_wal_and_shm_and_the_cache_are_private() {
    let d = Drover::new();
    let core = pack_dir("packs/core");
    let out = under_open_umask(&d, &["pack", "install", core.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let db = d.db();
    assert_eq!(mode(&db), 0o600, "{}", db.display());
    let key = d.dir.path().join("drover.db.key");
    assert_eq!(mode(&key), 0o600, "{}", key.display());
    let cache = d.dir.path().join("cache");
    assert!(cache.is_dir(), "no cache at {}", cache.display());
    assert_eq!(mode(&cache), 0o700, "{}", cache.display());

    // While serve runs, the WAL and shared-memory files exist: 0600 too.
    let server = Server::start(&d);
    for suffix in ["-wal", "-shm"] {
        let path = d.dir.path().join(format!("drover.db{suffix}"));
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    drop(server);
}

#[test]
fn a_secrets_key_file_others_can_read_is_refused_with_the_fix() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    let key = d.dir.path().join("drover.db.key");
    assert_eq!(mode(&key), 0o600);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();

    let mut child = d
        .cmd()
        .args(["secret", "set", "core.token"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hunter2").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "accepted: {}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("chmod 600 {}", key.display())) && err.contains("644"),
        "the message says how to fix it: {err}"
    );
    // Nothing was stored, and once fixed drover works again.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = d.expect(0, &["secret", "list"]);
    assert!(!stdout(&out).contains("core.token"), "{}", stdout(&out));
}
