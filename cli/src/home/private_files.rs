//! Files of the dev home are private to their owner: written atomically with mode 0600, and
//! existing ones that others can read are restricted (loudly) before use.

use crate::error::{CliError, CliResult};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Only the owner may read or write a file that holds a secret.
pub(super) const SECRET_FILE_MODE: u32 = 0o600;
pub(super) const HOME_DIR_MODE: u32 = 0o700;

/// Write `contents` to `path` through a temp file in the same directory and a rename, mode 0600.
pub(super) fn write_atomically(path: &Path, contents: &str) -> CliResult<()> {
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{file_name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(SECRET_FILE_MODE)
            .open(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        write_error(path, e)
    })
}

/// Files created by this process from now on are private to its user: SQLite's database, `-wal`
/// and `-shm` files and the keyring the broker rewrites on rotation would otherwise follow the
/// usual umask (0644).
pub fn restrict_umask() {
    // SAFETY: umask(2) only sets the process's file mode creation mask; it cannot fail.
    unsafe { libc::umask(0o077) };
}

/// Restrict `db` and its `-wal` / `-shm` files to mode 0600 when others can read them.
pub fn restrict_sqlite_files(db: &Path) -> CliResult<()> {
    let name = db
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("nexus.db");
    for file in [
        db.to_path_buf(),
        db.with_file_name(format!("{name}-wal")),
        db.with_file_name(format!("{name}-shm")),
    ] {
        if file.exists() {
            restrict_mode(&file, SECRET_FILE_MODE)?;
        }
    }
    Ok(())
}

/// Set `path` to `mode` if group or others have any access, saying so on stderr; refuse when the
/// mode cannot be changed (a directory of another user, say).
pub(super) fn restrict_mode(path: &Path, mode: u32) -> CliResult<()> {
    let current = fs::metadata(path)
        .map_err(|e| CliError::config(format!("cannot use {}: {e}", path.display())))?
        .permissions()
        .mode()
        & 0o777;
    if current & 0o077 == 0 {
        return Ok(());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| {
        CliError::config(format!(
            "{} is open to other users (mode {current:o}) and cannot be restricted: {e}; run `chmod {mode:o} {}` or use another --home",
            path.display(),
            path.display()
        ))
    })?;
    eprintln!(
        "nexus: {} was open to other users (mode {current:o}); changed it to {mode:o}",
        path.display()
    );
    Ok(())
}

/// Open `path` for writing without truncating it, creating it with mode 0600 when missing.
pub(super) fn open_private(path: &Path) -> CliResult<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(SECRET_FILE_MODE)
        .open(path)
        .map_err(|e| write_error(path, e))
}

pub(super) fn write_error(path: &Path, e: std::io::Error) -> CliError {
    CliError::config(format!("cannot write {}: {e}", path.display()))
}

pub(super) fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "{} is readable by other users; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
}
