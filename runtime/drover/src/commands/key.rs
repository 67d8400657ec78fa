//! `drover key new`: a publisher's ed25519 signing key, as OpenSSH files
//! (`NAME`, mode 0600, and `NAME.pub`) in the keys directory, and finding
//! a key by name or path for `drover pack sign`.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// Make an ed25519 signing key: the private key `NAME` (mode 0600,
    /// OpenSSH format, unencrypted: keep it safe) and the public key
    /// `NAME.pub` to give to the drover hosts that will trust it (`drover
    /// trust add NAME.pub --name NAME`). Refuses to overwrite.
    New {
        /// The key's name (letters, digits, `-`, `_`, `.`), e.g. batch-team.
        #[arg(long)]
        name: String,
        /// Where to write it (default: $XDG_CONFIG_HOME/drover/keys, else
        /// ~/.config/drover/keys).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

pub fn run(cmd: KeyCmd) -> Result<ExitCode> {
    match cmd {
        KeyCmd::New { name, dir } => {
            let dir = match dir {
                Some(d) => d,
                None => keys_dir()?,
            };
            new_key(&name, &dir)
        }
    }
}

/// `$XDG_CONFIG_HOME/drover/keys`, else `~/.config/drover/keys`.
pub fn keys_dir() -> Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| Path::new(x).is_absolute()) {
        return Ok(PathBuf::from(x).join("drover/keys"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("neither XDG_CONFIG_HOME nor HOME is set; pass --dir DIR")?;
    Ok(PathBuf::from(home).join(".config/drover/keys"))
}

fn new_key(name: &str, dir: &Path) -> Result<ExitCode> {
    drover_app::trust::check_key_name(name)?;
    let private = dir.join(name);
    let public = dir.join(format!("{name}.pub"));
    for p in [&private, &public] {
        if p.symlink_metadata().is_ok() {
            bail!(
                "{} already exists; drover does not overwrite keys (pick another --name, or \
                 remove it if you really mean to replace that key)",
                p.display()
            );
        }
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let key = drover_pack::signing::new_key(name)?;
    write_new(&private, key.private_openssh.as_bytes(), 0o600)?;
    write_new(&public, key.public_openssh.as_bytes(), 0o644)?;
    println!("made key {name} ({})", key.fingerprint);
    println!("  private {} (0600: keep it secret)", private.display());
    println!("  public  {}", public.display());
    println!(
        "sign with `drover pack sign FILE.dpk --key {name}`; on a drover host, trust it with \
         `drover trust add {} --name {name} --packs 'PATTERN'`",
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Creates `path` (never replacing a file) with `mode`, and writes `bytes`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let newline: &[u8] = if bytes.ends_with(b"\n") { b"" } else { b"\n" };
    f.write_all(bytes)
        .and_then(|()| f.write_all(newline))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The private key file `--key NAME|PATH` means: a path when it names a
/// file or has a `/`, else `NAME` in the keys directory.
pub fn find_private_key(key: &str) -> Result<PathBuf> {
    let as_path = Path::new(key);
    if key.contains('/') || as_path.is_file() {
        return Ok(as_path.to_owned());
    }
    drover_app::trust::check_key_name(key)?;
    let dir = keys_dir()?;
    let path = dir.join(key);
    if !path.is_file() {
        bail!(
            "no key {key:?} in {} (make one with `drover key new --name {key}`, or pass the path \
             of an OpenSSH ed25519 private key)",
            dir.display()
        );
    }
    Ok(path)
}
