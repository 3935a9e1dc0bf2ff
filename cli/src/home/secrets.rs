//! Secrets the dev home keeps in its own files (service tokens, the dev API key): created once
//! with mode 0600, never replaced behind the operator's back.

use super::DevHome;
use super::private_files::{
    SECRET_FILE_MODE, warn_if_readable_by_others, write_atomically, write_error,
};
use crate::error::{CliError, CliResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_protocol::SecretString;
use rand::RngCore;
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;

impl DevHome {
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
}

/// `bytes` random bytes as URL-safe base64 (no padding): safe in URLs, headers and env files.
pub fn random_token(prefix: &str, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

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
