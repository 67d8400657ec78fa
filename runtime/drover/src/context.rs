//! Where drover keeps its state and who is asking: the database path, the
//! component cache beside it, the acting user, and opening the application.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use drover_app::App;
use drover_store::Store;

/// The database path: `--db`/`DROVER_DB`, else `drover.db` in the user's
/// data directory (e.g. `~/.local/share/drover/drover.db`).
pub fn db_path(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        check_not_a_url(p)?;
        return Ok(p.to_owned());
    }
    let dirs = directories::ProjectDirs::from("", "", "drover").context(
        "cannot find a home directory for drover's data; pass --db PATH or set DROVER_DB",
    )?;
    Ok(dirs.data_dir().join("drover.db"))
}

/// `--db` takes a SQLite file's path. A URL is refused rather than taken
/// for a directory name (`postgres://db1/drover` would make a SQLite file
/// under `./postgres:/db1/`).
fn check_not_a_url(p: &Path) -> Result<()> {
    let text = p.to_string_lossy();
    let Some((scheme, _)) = text.split_once("://") else {
        return Ok(());
    };
    if matches!(scheme, "postgres" | "postgresql") {
        anyhow::bail!(
            "--db {text:?}: PostgreSQL is not supported yet; --db takes the path of a SQLite \
             file (one `drover serve` per file)"
        );
    }
    anyhow::bail!(
        "--db {text:?}: unknown database URL scheme {scheme:?}; --db takes the path of a \
         SQLite file"
    )
}

/// The one `drover serve` (or `drover fleet run`) of a SQLite database: an
/// exclusive lock on `DB.serve.lock` beside it, released when the process
/// ends (however it ends), naming its holder. Two servers on one file
/// would each claim the same triggers and run an action twice; two fleet
/// controllers would each call the driver for the same request.
pub struct ServeLock {
    _file: std::fs::File,
}

/// Takes `db`'s serve lock for `command` (`drover serve`, `drover fleet
/// run`), or says who holds it.
pub fn lock_for_serving(db: &Path, command: &str) -> Result<ServeLock> {
    use std::io::{Read, Seek, Write};
    let path = PathBuf::from(format!("{}.serve.lock", db.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            anyhow::bail!(
                "the database {} is already served by {}; one SQLite database has one \
                 `drover serve` or `drover fleet run` at a time (stop that one first, or give \
                 this one its own --db)",
                db.display(),
                if holder.is_empty() {
                    "another drover serve"
                } else {
                    holder
                }
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "this host".to_owned());
    let who = format!(
        "{command} (pid {} on {host}, since {})",
        std::process::id(),
        drover_core::fmt_time(drover_core::now_ms())
    );
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(who.as_bytes())?;
    Ok(ServeLock { _file: file })
}

pub fn open_store(db: &Path) -> Result<Store> {
    Store::open(db).with_context(|| format!("cannot open the database {}", db.display()))
}

/// The application over the database `db`: its store, fleet and plugin
/// runtime (compiled components cached in `cache/` beside it, ssh files
/// in `ssh/`).
pub fn open_app(db: &Path) -> Result<App> {
    let store = open_store(db)?;
    let data = db.parent().unwrap_or(Path::new("."));
    let ssh = drover_host::ssh::SshSettings::in_dir(data.join("ssh"));
    Ok(App::new(store, &data.join("cache"), ssh)?)
}

/// Who is acting, for audit records: `user:NAME`, from `$USER`, else the
/// account of this process's uid, else `uid:N`.
pub fn actor() -> String {
    if let Ok(name) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"))
        && !name.is_empty()
    {
        return format!("user:{name}");
    }
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return "user:unknown".into();
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == uid.to_string())
        .map(|f| format!("user:{}", f[0]))
        .unwrap_or_else(|| format!("uid:{uid}"))
}
