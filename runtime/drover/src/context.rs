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
        return Ok(p.to_owned());
    }
    let dirs = directories::ProjectDirs::from("", "", "drover").context(
        "cannot find a home directory for drover's data; pass --db PATH or set DROVER_DB",
    )?;
    Ok(dirs.data_dir().join("drover.db"))
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
