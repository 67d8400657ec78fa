//! A port of `batchops.ping` to another language (examples/batchops_py,
//! examples/batchops_js) installed beside the Rust original, and the checks
//! that it answers as the original does.

use std::path::PathBuf;

use serde_json::Value;

use super::*;

/// `batchops` (Rust) and its port `pack` built from `examples/<pack>`,
/// installed side by side in a fresh drover.
pub struct Port {
    pub d: Drover,
    /// The port's built directory.
    pub dir: PathBuf,
    pub pack: &'static str,
}

impl Port {
    pub fn build(pack: &'static str) -> Port {
        let d = Drover::new();
        let dir = d.dir.path().join(pack);
        copy_dir(&repo().join("examples").join(pack), &dir);
        let _ = std::fs::remove_dir_all(dir.join("components"));
        d.expect(0, &["pack", "build", dir.to_str().unwrap()]);
        d.install(&["packs/core", "packs/batchops"]);
        d.expect(0, &["pack", "install", "--trusted", dir.to_str().unwrap()]);
        Port { d, dir, pack }
    }

    /// `drover run batchops.ping ARGS` and the same of the port, each
    /// exiting `code`: (Rust, port).
    pub fn run_both(&self, code: i32, args: &[&str]) -> (Value, Value) {
        let port = format!("{}.ping", self.pack);
        let mut rust = vec!["run", "batchops.ping"];
        rust.extend(args);
        let mut other = vec!["run", port.as_str()];
        other.extend(args);
        (self.d.json(code, &rust), self.d.json(code, &other))
    }

    /// Not granted: both fail with the host's refusal, the same way, each
    /// naming its own pack.
    pub fn denied_alike(&self) {
        let (rust, port) = self.run_both(1, &["node=b1", "host=127.0.0.1"]);
        assert_eq!(rust["status"], "denied", "{rust}");
        assert_eq!(port["status"], rust["status"], "{port}");
        assert_eq!(
            port["error"]
                .as_str()
                .unwrap()
                .replace(&format!("{}@", self.pack), "batchops@"),
            rust["error"].as_str().unwrap()
        );
    }

    /// Grants both `probe` of loopback (reachable only when named by
    /// address) and `nothing.invalid` (never resolves).
    pub fn grant_both(&self) {
        for pack in ["batchops", self.pack] {
            self.d.grant(
                &format!("{pack}@0.1.0"),
                "probe",
                "127.0.0.1, nothing.invalid",
            );
        }
    }

    /// Reachable: the same result but for the measured latency and its
    /// detail. Returns both executions (those two fields removed).
    pub fn reachable_alike(&self) -> (Value, Value) {
        let (mut rust, mut port) = self.run_both(0, &["node=b1", "host=127.0.0.1"]);
        assert_eq!(rust["result"]["reachable"], true, "{rust}");
        for r in [&mut rust, &mut port] {
            let result = r["result"].as_object_mut().unwrap();
            assert!(result.remove("latency_ms").unwrap().is_u64(), "{result:?}");
            result.remove("detail");
        }
        assert_eq!(port["result"], rust["result"]);
        (rust, port)
    }

    /// Unreachable: the very same result (latency_ms a JSON null in both).
    pub fn unreachable_alike(&self) {
        let (rust, port) = self.run_both(0, &["node=b1", "host=nothing.invalid", "timeout_ms=300"]);
        assert_eq!(rust["result"]["reachable"], false, "{rust}");
        assert_eq!(port["status"], "succeeded", "{port}");
        assert_eq!(port["result"], rust["result"]);
    }

    /// The component as built imports exactly what it declares: a manifest
    /// that stops declaring `probe` is refused at install, naming it.
    pub fn imports_only_what_it_declares(&self) {
        let edited = self.d.dir.path().join("edited");
        copy_dir(&self.dir, &edited);
        edit_manifest(&edited, "version: 0.1.0", "version: 0.1.1");
        edit_manifest(
            &edited,
            "capabilities: [log, probe, nodes.health,",
            "capabilities: [log, nodes.health,",
        );
        let out = self
            .d
            .expect(2, &["pack", "install", edited.to_str().unwrap()]);
        let err = stderr(&out);
        assert!(err.contains("imports drover:plugin/probe"), "{err}");
        assert!(err.contains("plugins.ping.capabilities"), "{err}");
    }
}
