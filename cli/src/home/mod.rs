//! The dev home directory (`--home`, default `./.nexus`): everything `nexus dev` must keep between
//! runs so that a restart finds the same data.
//!
//! | file | what | mode |
//! | ---- | ---- | ---- |
//! | `nexus.db` (+ `-wal`, `-shm`) | the SQLite database | 0600 |
//! | `master.key` | the master keyring the broker encrypts secrets with | 0600 |
//! | `admin.token`, `internal.token` | the two service tokens, generated once | 0600 |
//! | `dev-api-key` | the `dev` workspace's API key (the broker stores only its hash) | 0600 |
//! | `dev.env` | what clients need, written last, once both listeners accept connections | 0600 |
//!
//! The directory itself is 0700. An existing home that others can read or enter is restricted
//! (loudly) before anything is written to it, and so are store files left readable by an older
//! version.
//!
//! - `mod.rs`: [`DevHome`], the directory, its lock and the database file;
//! - `secrets.rs`: secrets kept in files of the home (created once, never replaced);
//! - `dev_env.rs`: `dev.env`, what clients read to reach the dev stack;
//! - `private_files.rs`: how files are written and restricted so only the owner reads them.

mod dev_env;
mod private_files;
mod secrets;

pub use dev_env::{DevEnv, ENV_ADMIN_TOKEN, ENV_API_KEY, ENV_BROKER_URL, ENV_GATEWAY_URL};
pub use private_files::{restrict_sqlite_files, restrict_umask};
pub use secrets::random_token;

use crate::error::{CliError, CliResult};
use private_files::{HOME_DIR_MODE, open_private, restrict_mode};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const DATABASE_FILE: &str = "nexus.db";

/// The dev home directory.
#[derive(Debug, Clone)]
pub struct DevHome {
    dir: PathBuf,
}

impl DevHome {
    /// Use `dir`, creating it (mode 0700) when missing.
    pub fn create(dir: &Path) -> CliResult<Self> {
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(|e| {
                CliError::config(format!(
                    "cannot create the home directory {}: {e}",
                    dir.display()
                ))
            })?;
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(HOME_DIR_MODE));
        } else if !dir.is_dir() {
            return Err(CliError::config(format!(
                "{} is not a directory",
                dir.display()
            )));
        } else {
            restrict_mode(dir, HOME_DIR_MODE)?;
        }
        // An absolute path keeps the SQLite URL and messages meaningful whatever the cwd.
        let dir = dir.canonicalize().map_err(|e| {
            CliError::config(format!(
                "cannot use the home directory {}: {e}",
                dir.display()
            ))
        })?;
        Ok(Self { dir })
    }

    /// Take the home for this process: one `nexus dev` per home, since two would share one
    /// SQLite file and overwrite each other's `dev.env`. The lock is released when the returned
    /// file is dropped, or by the kernel when the process dies, so a crash leaves no stale lock.
    pub fn lock(&self) -> CliResult<fs::File> {
        let path = self.path(".lock");
        let file = open_private(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(CliError::config(format!(
                "another `nexus dev` is already running on {}; stop it, or use another --home",
                self.dir.display()
            ))),
            Err(fs::TryLockError::Error(e)) => Err(CliError::config(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        }
    }

    /// Use `dir` as it is, without creating anything (admin commands only read dev.env).
    pub fn existing(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// `sqlite://…/nexus.db?mode=rwc`.
    pub fn database_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.path(DATABASE_FILE).display())
    }

    /// Create the SQLite file with mode 0600 before SQLite opens it (SQLite would create it
    /// 0644, and gives `-wal` and `-shm` the mode of the main file), and restrict existing store
    /// files that others can read.
    pub fn prepare_database_file(&self) -> CliResult<()> {
        let path = self.path(DATABASE_FILE);
        open_private(&path)?;
        restrict_sqlite_files(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_home_and_open_store_files_are_restricted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("home");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.join("nexus.db-wal"), "").unwrap();
        fs::set_permissions(dir.join("nexus.db-wal"), fs::Permissions::from_mode(0o644)).unwrap();
        let home = DevHome::create(&dir).unwrap();
        home.prepare_database_file().unwrap();
        for (path, want) in [
            (home.dir().to_path_buf(), 0o700),
            (home.path("nexus.db"), 0o600),
            (home.path("nexus.db-wal"), 0o600),
        ] {
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, want, "{}", path.display());
        }
    }

    #[test]
    fn one_process_at_a_time_holds_the_home() {
        let tmp = tempfile::tempdir().unwrap();
        let home = DevHome::create(tmp.path()).unwrap();
        let held = home.lock().unwrap();
        let err = home.lock().unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("already running"), "{err}");
        drop(held);
        home.lock().expect("free again once released");
    }
}
