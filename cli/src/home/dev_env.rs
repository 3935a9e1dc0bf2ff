//! `dev.env`: what a client or an admin command needs to reach the dev stack, as `KEY=value`
//! lines a shell can source.

use super::DevHome;
use super::private_files::{write_atomically, write_error};
use crate::error::{CliError, CliResult};
use nexus_protocol::SecretString;
use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

pub const DEV_ENV_FILE: &str = "dev.env";

/// Keys of `dev.env`, in the order they are written.
pub const ENV_GATEWAY_URL: &str = "NEXUS_GATEWAY_URL";
pub const ENV_BROKER_URL: &str = "NEXUS_BROKER_URL";
pub const ENV_ADMIN_TOKEN: &str = "NEXUS_ADMIN_TOKEN";
pub const ENV_API_KEY: &str = "NEXUS_API_KEY";
pub const ENV_WORKSPACE_ID: &str = "NEXUS_WORKSPACE_ID";
/// The password of the authorization server's development login (issue 17).
pub const ENV_DEV_LOGIN_PASSWORD: &str = "NEXUS_DEV_LOGIN_PASSWORD";

impl DevHome {
    pub fn dev_env_path(&self) -> PathBuf {
        self.path(DEV_ENV_FILE)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

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
}
