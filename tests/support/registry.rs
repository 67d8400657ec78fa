//! A real OCI registry for the tests: Debian's `docker-registry`
//! (distribution 2.8) on 127.0.0.1 at a free port, with a generated config
//! and filesystem storage in a temporary directory, open or behind a login
//! (htpasswd: Basic auth); stopped on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::server::{agent, free_port, wait_for};

pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The storage root (`docker/registry/v2/…` under it).
    pub storage: PathBuf,
    dir: tempfile::TempDir,
}

impl Registry {
    /// An open registry: anyone may push and pull.
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    /// A registry that answers only `user` with `password` (401 with a
    /// Basic challenge otherwise).
    pub fn with_login(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user, password)))
    }

    fn start_with(login: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("config.yml");
        let mut text = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: \
             {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        if let Some((user, password)) = login {
            // The lowest cost bcrypt allows: the registry checks every request.
            let hash = bcrypt::hash(password, 4).unwrap();
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: drover-tests\n    path: {}\n",
                htpasswd.display()
            ));
        }
        std::fs::write(&config, text).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect(
                "run docker-registry (Debian package docker-registry; `cargo xtask test` \
                 installs it)",
            );
        let registry = Registry {
            child,
            addr,
            storage,
            dir,
        };
        let http = agent(Duration::from_secs(2));
        let url = format!("http://{}/v2/", registry.addr);
        // 401 is an answer too (the login registry's, without credentials).
        let ready = if login.is_some() { 401 } else { 200 };
        wait_for("docker-registry to answer", Duration::from_secs(20), || {
            http.get(&url)
                .call()
                .ok()
                .filter(|r| r.status() == ready)
                .map(|_| ())
        });
        registry
    }

    /// `oci://127.0.0.1:PORT/REPO:TAG`.
    pub fn reference(&self, repo_tag: &str) -> String {
        format!("oci://{}/{repo_tag}", self.addr)
    }

    /// The stored bytes of blob `sha256:HEX`.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
