//! Packs from git: `git+https://HOST/REPO.git@REF[#subdir=PATH]` (also
//! `git+http`, `git+ssh` and `git+file`). The system `git` fetches one ref,
//! shallow, into a temporary directory; drover never builds anything in
//! it (a build script would be the repository's code running here), so
//! the components must be committed.
//!
//! What reaches `git` is checked first: only those four schemes, a ref of
//! plain ref characters not starting with `-`, the URL after `--`; and
//! `git` runs with `GIT_ALLOW_PROTOCOL` limited to them (no `ext::`), no
//! prompt, no hooks, no submodules, no system or global configuration,
//! and a timeout. The checkout is then turned into an archive by
//! [`drover_pack::archive::archive_checkout`] and verified like one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long one `git` command may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(300);

/// A parsed `git+…` source.
#[derive(Debug, PartialEq, Eq)]
pub struct GitSource {
    /// What `git` fetches from (without `git+`).
    pub url: String,
    /// A tag, branch or commit.
    pub reference: String,
    /// The pack's directory inside the repository.
    pub subdir: Option<String>,
}

impl GitSource {
    pub fn parse(text: &str) -> Result<GitSource> {
        let usage = "a git source looks like git+https://host/repo.git@v0.1.0 (optionally \
                     #subdir=PATH)";
        let Some(rest) = text.strip_prefix("git+") else {
            bail!("{text:?}: not a git+ source; {usage}");
        };
        let (rest, subdir) = match rest.split_once('#') {
            Some((r, frag)) => {
                let Some(sub) = frag.strip_prefix("subdir=") else {
                    bail!("{text:?}: the only fragment is #subdir=PATH");
                };
                check_subdir(sub).with_context(|| format!("{text:?}: #subdir"))?;
                (r, Some(sub.to_owned()))
            }
            None => (rest, None),
        };
        let scheme_ok = ["https://", "http://", "ssh://", "file://"]
            .iter()
            .any(|s| rest.starts_with(s));
        if !scheme_ok {
            bail!("{text:?}: git sources are fetched over https, http, ssh or file only; {usage}");
        }
        let Some((url, reference)) = rest.rsplit_once('@') else {
            bail!("{text:?}: no @REF (a tag, branch or commit); {usage}");
        };
        let after_scheme = url.split_once("://").map_or("", |(_, r)| r);
        if !after_scheme.contains('/') {
            bail!("{text:?}: no @REF (a tag, branch or commit); {usage}");
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            bail!("{text:?}: the URL has whitespace or control characters");
        }
        check_ref(reference).with_context(|| format!("{text:?}"))?;
        Ok(GitSource {
            url: url.to_owned(),
            reference: reference.to_owned(),
            subdir,
        })
    }

    /// Fetches the ref into `dest` (a new directory) and returns the
    /// pack's directory in it.
    pub fn fetch(&self, dest: &Path) -> Result<PathBuf> {
        git(&["init", "--quiet", "--template="], Some(dest), None)?;
        git(
            &[
                "fetch",
                "--quiet",
                "--depth=1",
                "--no-tags",
                "--no-recurse-submodules",
                "--",
                &self.url,
                &self.reference,
            ],
            None,
            Some(dest),
        )
        .with_context(|| {
            format!(
                "cannot fetch {} from {} (is it a tag, branch or commit of that repository?)",
                self.reference, self.url
            )
        })?;
        git(
            &["checkout", "--quiet", "--detach", "FETCH_HEAD"],
            None,
            Some(dest),
        )?;
        let Some(sub) = &self.subdir else {
            return Ok(dest.to_owned());
        };
        // Each part must be a real directory, not a link out of the checkout.
        let mut dir = dest.to_owned();
        for part in sub.split('/') {
            dir.push(part);
            let meta = std::fs::symlink_metadata(&dir);
            if !meta.is_ok_and(|m| m.is_dir()) {
                bail!(
                    "#subdir={sub}: {part} is not a directory of {}@{}",
                    self.url,
                    self.reference
                );
            }
        }
        Ok(dir)
    }
}

/// A ref as git accepts one and as nothing mistakes for an option.
fn check_ref(reference: &str) -> Result<()> {
    let ok = !reference.is_empty()
        && reference.len() <= 255
        && !reference.starts_with(['-', '/', '.'])
        && !reference.ends_with(['/', '.'])
        && !reference.contains("..")
        && !reference.contains("//")
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
    if !ok {
        bail!(
            "{reference:?} is not a ref: a tag, branch or commit of letters, digits, `.`, `_`, \
             `/`, `-`, not starting with `-`"
        );
    }
    Ok(())
}

/// A relative path of plain names.
fn check_subdir(sub: &str) -> Result<()> {
    let ok = !sub.is_empty()
        && !sub.starts_with('/')
        && sub
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".." && !p.starts_with('-'))
        && !sub.chars().any(|c| c == '\\' || c.is_control());
    if !ok {
        bail!("{sub:?} is not a relative path of plain names (no `..`, no leading `/`)");
    }
    Ok(())
}

/// Runs `git ARGS` (with `init_dir` appended, or in `cwd`), locked down,
/// with a timeout; its stderr becomes the error.
fn git(args: &[&str], init_dir: Option<&Path>, cwd: Option<&Path>) -> Result<()> {
    let mut cmd = Command::new("git");
    cmd.args([
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "protocol.allow=never",
        "-c",
        "protocol.https.allow=always",
        "-c",
        "protocol.http.allow=always",
        "-c",
        "protocol.ssh.allow=always",
        "-c",
        "protocol.file.allow=always",
        "-c",
        "submodule.recurse=false",
        "-c",
        "core.symlinks=true",
        "-c",
        "advice.detachedHead=false",
    ])
    .args(args);
    if let Some(d) = init_dir {
        cmd.arg("--").arg(d);
    }
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    cmd.env("GIT_ALLOW_PROTOCOL", "https:http:ssh:file")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_ASKPASS", "true")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_EXEC_PATH")
        .env_remove("GIT_PROXY_COMMAND")
        .env_remove("GIT_SSH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .context("cannot run `git` (is git installed?)")?;
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(
            &mut std::io::Read::take(&mut stderr, 64 * 1024),
            &mut text,
        );
        text
    });
    let deadline = Instant::now() + GIT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("`git {}` took more than {GIT_TIMEOUT:?}; stopped", args[0]);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = reader.join().unwrap_or_default();
    if !status.success() {
        bail!("`git {}` failed: {}", args[0], text.trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_hostile_ones_are_refused() {
        let s = GitSource::parse("git+https://example.org/p/netcheck.git@v0.1.0").unwrap();
        assert_eq!(s.url, "https://example.org/p/netcheck.git");
        assert_eq!(s.reference, "v0.1.0");
        assert_eq!(s.subdir, None);
        let s = GitSource::parse("git+ssh://git@example.org/p.git@release/1.0#subdir=packs/nc")
            .unwrap();
        assert_eq!(s.url, "ssh://git@example.org/p.git");
        assert_eq!(s.reference, "release/1.0");
        assert_eq!(s.subdir.as_deref(), Some("packs/nc"));
        for bad in [
            "git+ext::sh -c touch% /tmp/pwned@v1",
            "git+--upload-pack=touch /tmp/pwned@v1",
            "git+https://example.org/p.git@--upload-pack=x",
            "git+https://example.org/p.git@-b",
            "git+https://example.org/p.git",
            "git+ssh://git@example.org",
            "git+https://example.org/p.git@v1#subdir=../x",
            "git+https://example.org/p.git@v1#subdir=/etc",
            "git+https://example.org/p.git@v1#other=x",
            "git+fd::3@v1",
            "git+https://example.org/p q.git@v1",
            "https://example.org/p.git@v1",
        ] {
            assert!(GitSource::parse(bad).is_err(), "{bad}");
        }
    }
}
