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

use crate::error::{CliError, CliResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_protocol::SecretString;
use rand::RngCore;
use std::collections::BTreeMap;
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Only the owner may read or write a file that holds a secret.
const SECRET_FILE_MODE: u32 = 0o600;
const HOME_DIR_MODE: u32 = 0o700;

pub const DEV_ENV_FILE: &str = "dev.env";
const DATABASE_FILE: &str = "nexus.db";

/// Keys of `dev.env`, in the order they are written.
pub const ENV_GATEWAY_URL: &str = "NEXUS_GATEWAY_URL";
pub const ENV_BROKER_URL: &str = "NEXUS_BROKER_URL";
pub const ENV_ADMIN_TOKEN: &str = "NEXUS_ADMIN_TOKEN";
pub const ENV_API_KEY: &str = "NEXUS_API_KEY";
pub const ENV_WORKSPACE_ID: &str = "NEXUS_WORKSPACE_ID";
/// The password of the authorization server's development login (issue 17).
pub const ENV_DEV_LOGIN_PASSWORD: &str = "NEXUS_DEV_LOGIN_PASSWORD";

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

    pub fn dev_env_path(&self) -> PathBuf {
        self.path(DEV_ENV_FILE)
    }

    /// The secret stored in `file`, or a new one from `generate`, written with mode 0600.
    ///
    /// The file is created with `O_EXCL`, so two processes racing on a fresh home cannot both
    /// write one: the loser reads the winner's value.
    pub fn load_or_create_secret(
        &self,
        file: &str,
        generate: impl FnOnce() -> String,
    ) -> CliResult<SecretString> {
        let path = self.path(file);
        if let Some(existing) = self.load_secret(file)? {
            return Ok(existing);
        }
        let value = generate();
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(SECRET_FILE_MODE)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(value.as_bytes())
                    .and_then(|()| f.write_all(b"\n"))
                    .and_then(|()| f.sync_all())
                    .map_err(|e| write_error(&path, e))?;
                Ok(SecretString::new(value))
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => self
                .load_secret(file)?
                .ok_or_else(|| CliError::config(format!("{} is empty", path.display()))),
            Err(e) => Err(write_error(&path, e)),
        }
    }

    /// The secret stored in `file`, `None` when the file does not exist.
    pub fn load_secret(&self, file: &str) -> CliResult<Option<SecretString>> {
        let path = self.path(file);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let value = text.trim();
                if value.is_empty() {
                    return Err(CliError::config(format!(
                        "{} is empty; delete it to have a new one generated",
                        path.display()
                    )));
                }
                warn_if_readable_by_others(&path);
                Ok(Some(SecretString::new(value)))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CliError::config(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Replace the secret in `file` (atomically, mode 0600).
    pub fn store_secret(&self, file: &str, value: &SecretString) -> CliResult<()> {
        write_atomically(&self.path(file), &format!("{}\n", value.expose()))
    }

    /// Write `dev.env` atomically (temp file + rename), so a reader never sees half of it.
    pub fn write_dev_env(&self, env: &DevEnv) -> CliResult<()> {
        write_atomically(&self.dev_env_path(), &env.render())
    }

    /// Remove a stale `dev.env` (its ports may be from an earlier run).
    pub fn remove_dev_env(&self) -> CliResult<()> {
        match fs::remove_file(self.dev_env_path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(write_error(&self.dev_env_path(), e)),
        }
    }

    /// The `KEY=value` pairs of `dev.env`, `None` when it does not exist.
    pub fn read_dev_env(&self) -> CliResult<Option<BTreeMap<String, String>>> {
        let path = self.dev_env_path();
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(parse_env_file(&text))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CliError::config(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }
}

/// What `dev.env` holds: everything a client or an admin command needs to reach the dev stack.
#[derive(Debug, Clone)]
pub struct DevEnv {
    pub gateway_url: String,
    pub broker_url: String,
    pub admin_token: SecretString,
    pub api_key: SecretString,
    pub workspace_id: String,
    /// The development login's password (only when the broker listens on loopback).
    pub dev_login_password: Option<SecretString>,
}

impl DevEnv {
    /// Shell-compatible `KEY=value` lines (`set -a; . .nexus/dev.env; set +a` exports them).
    /// Every value is URL-safe, so no quoting is needed.
    pub fn render(&self) -> String {
        let lines = [
            (ENV_GATEWAY_URL, self.gateway_url.as_str()),
            (ENV_BROKER_URL, self.broker_url.as_str()),
            (ENV_ADMIN_TOKEN, self.admin_token.expose()),
            (ENV_API_KEY, self.api_key.expose()),
            (ENV_WORKSPACE_ID, self.workspace_id.as_str()),
        ];
        let login = self
            .dev_login_password
            .as_ref()
            .map(|p| (ENV_DEV_LOGIN_PASSWORD, p.expose()));
        lines
            .iter()
            .chain(login.iter())
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }
}

/// Parse `KEY=value` lines; blank lines, `#` comments and an optional `export ` are skipped,
/// surrounding single or double quotes are removed.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (key, value) = line.split_once('=')?;
            let value = value.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            Some((key.trim().to_owned(), unquoted.to_owned()))
        })
        .collect()
}

/// `bytes` random bytes as URL-safe base64 (no padding): safe in URLs, headers and env files.
pub fn random_token(prefix: &str, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&buf))
}

/// Write `contents` to `path` through a temp file in the same directory and a rename, mode 0600.
fn write_atomically(path: &Path, contents: &str) -> CliResult<()> {
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
fn restrict_mode(path: &Path, mode: u32) -> CliResult<()> {
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
fn open_private(path: &Path) -> CliResult<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(SECRET_FILE_MODE)
        .open(path)
        .map_err(|e| write_error(path, e))
}

fn write_error(path: &Path, e: std::io::Error) -> CliError {
    CliError::config(format!("cannot write {}: {e}", path.display()))
}

fn warn_if_readable_by_others(path: &Path) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_created_once_with_mode_0600() {
        let tmp = tempfile::tempdir().unwrap();
        let home = DevHome::create(&tmp.path().join("home")).unwrap();
        let first = home
            .load_or_create_secret("admin.token", || "one".into())
            .unwrap();
        let second = home
            .load_or_create_secret("admin.token", || "two".into())
            .unwrap();
        assert_eq!(first.expose(), "one");
        assert_eq!(
            second.expose(),
            "one",
            "an existing secret is never replaced"
        );
        let mode = fs::metadata(home.path("admin.token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(home.dir()).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }

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

    #[test]
    fn an_empty_secret_file_is_a_config_error() {
        let tmp = tempfile::tempdir().unwrap();
        let home = DevHome::create(tmp.path()).unwrap();
        fs::write(home.path("admin.token"), "\n").unwrap();
        let err = home
            .load_or_create_secret("admin.token", || "x".into())
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn dev_env_round_trips_and_is_private() {
        let tmp = tempfile::tempdir().unwrap();
        let home = DevHome::create(tmp.path()).unwrap();
        let env = DevEnv {
            gateway_url: "http://127.0.0.1:1234".into(),
            broker_url: "http://127.0.0.1:1235".into(),
            admin_token: "adm".into(),
            api_key: "key".into(),
            workspace_id: "dev".into(),
            dev_login_password: None,
        };
        home.write_dev_env(&env).unwrap();
        let read = home.read_dev_env().unwrap().unwrap();
        assert_eq!(read[ENV_GATEWAY_URL], "http://127.0.0.1:1234");
        assert_eq!(read[ENV_API_KEY], "key");
        assert_eq!(read[ENV_WORKSPACE_ID], "dev");
        let mode = fs::metadata(home.dev_env_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // No temp file is left behind.
        let names: Vec<_> = fs::read_dir(home.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("dev.env")]);
        home.remove_dev_env().unwrap();
        assert!(home.read_dev_env().unwrap().is_none());
    }

    #[test]
    fn env_file_parsing_handles_comments_export_and_quotes() {
        let parsed = parse_env_file("# c\n\nexport A=1\nB=\"two\"\nC='3'\nnot a pair\n");
        assert_eq!(parsed.get("A").map(String::as_str), Some("1"));
        assert_eq!(parsed.get("B").map(String::as_str), Some("two"));
        assert_eq!(parsed.get("C").map(String::as_str), Some("3"));
        assert_eq!(parsed.len(), 3);
    }

    #[test]
    fn random_tokens_differ_and_are_url_safe() {
        let a = random_token("nx_", 32);
        let b = random_token("nx_", 32);
        assert_ne!(a, b);
        assert!(a.starts_with("nx_"));
        assert!(
            a[3..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(a.len(), 3 + 43);
    }
}
