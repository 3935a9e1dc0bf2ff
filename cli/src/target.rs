//! Where the admin and resolve commands send their requests, and with which credential.
//!
//! Each setting comes from its environment variable; when that is unset, from the dev home's
//! `dev.env` (so `nexus providers list` just works next to a running `nexus dev`).

use crate::error::{CliError, CliResult};
use crate::home::{DevHome, ENV_ADMIN_TOKEN, ENV_API_KEY, ENV_BROKER_URL, ENV_GATEWAY_URL};
use nexus_protocol::SecretString;
use std::collections::BTreeMap;

/// The broker admin API: base URL and admin token.
#[derive(Debug, Clone)]
pub struct AdminTarget {
    pub broker_url: String,
    pub admin_token: SecretString,
}

/// The gateway: base URL and a workspace API key.
#[derive(Debug, Clone)]
pub struct GatewayTarget {
    pub gateway_url: String,
    pub api_key: SecretString,
}

/// Where environment variables come from (the process, or a map in tests).
type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

/// Reads settings from the environment first, then from `dev.env`.
pub struct Settings {
    home: DevHome,
    dev_env: Option<BTreeMap<String, String>>,
    from_env: EnvLookup,
}

impl Settings {
    /// Settings from the process environment and `home`'s `dev.env`.
    pub fn load(home: DevHome) -> CliResult<Self> {
        Self::with_env(home, |key| std::env::var(key).ok())
    }

    /// Settings from `lookup` (instead of the process environment) and `home`'s `dev.env`.
    pub fn with_env(
        home: DevHome,
        lookup: impl Fn(&str) -> Option<String> + 'static,
    ) -> CliResult<Self> {
        let dev_env = home.read_dev_env()?;
        Ok(Self {
            home,
            dev_env,
            from_env: Box::new(lookup),
        })
    }

    fn get(&self, key: &str) -> Option<String> {
        (self.from_env)(key)
            .filter(|v| !v.trim().is_empty())
            .or_else(|| self.dev_env.as_ref()?.get(key).cloned())
            .filter(|v| !v.trim().is_empty())
    }

    fn require(&self, key: &str, what: &str) -> CliResult<String> {
        self.get(key).ok_or_else(|| {
            CliError::config(format!(
                "no {what}: set {key}, or start `nexus dev` (which writes {})",
                self.home.dev_env_path().display()
            ))
        })
    }

    pub fn admin(&self) -> CliResult<AdminTarget> {
        let broker_url = self.require(ENV_BROKER_URL, "broker URL")?;
        let admin_token = self.require(ENV_ADMIN_TOKEN, "admin token")?;
        Ok(AdminTarget {
            broker_url: normalize_url(&broker_url)?,
            admin_token: admin_token.into(),
        })
    }

    pub fn gateway(&self) -> CliResult<GatewayTarget> {
        let gateway_url = self.require(ENV_GATEWAY_URL, "gateway URL")?;
        let api_key = self.require(ENV_API_KEY, "API key")?;
        Ok(GatewayTarget {
            gateway_url: normalize_url(&gateway_url)?,
            api_key: api_key.into(),
        })
    }
}

/// Check that `raw` is an http(s) URL and drop a trailing slash, so paths can be appended.
fn normalize_url(raw: &str) -> CliResult<String> {
    let parsed = url::Url::parse(raw)
        .map_err(|e| CliError::config(format!("`{raw}` is not a valid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(CliError::config(format!(
            "`{raw}` must be an http:// or https:// URL"
        )));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::DevEnv;

    fn home_with_dev_env() -> (tempfile::TempDir, DevHome) {
        let tmp = tempfile::tempdir().unwrap();
        let home = DevHome::create(tmp.path()).unwrap();
        home.write_dev_env(&DevEnv {
            gateway_url: "http://127.0.0.1:1".into(),
            broker_url: "http://127.0.0.1:2/".into(),
            admin_token: "from-file".into(),
            api_key: "key-from-file".into(),
            workspace_id: "dev".into(),
            dev_login_password: None,
        })
        .unwrap();
        (tmp, home)
    }

    #[test]
    fn environment_wins_over_dev_env() {
        let (_tmp, home) = home_with_dev_env();
        let settings = Settings::with_env(home, |k| {
            (k == ENV_ADMIN_TOKEN).then(|| "from-env".to_owned())
        })
        .unwrap();
        let admin = settings.admin().unwrap();
        assert_eq!(admin.admin_token.expose(), "from-env");
        assert_eq!(admin.broker_url, "http://127.0.0.1:2");
    }

    #[test]
    fn missing_settings_are_config_errors_that_name_the_variable() {
        let tmp = tempfile::tempdir().unwrap();
        let settings = Settings::with_env(DevHome::existing(tmp.path()), |_| None).unwrap();
        let err = settings.admin().unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("NEXUS_BROKER_URL"), "{err}");
        let settings = Settings::with_env(DevHome::existing(tmp.path()), |k| {
            (k == ENV_BROKER_URL).then(|| "http://127.0.0.1:9".to_owned())
        })
        .unwrap();
        let err = settings.admin().unwrap_err();
        assert!(err.to_string().contains("NEXUS_ADMIN_TOKEN"), "{err}");
    }

    #[test]
    fn bad_urls_are_config_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let settings = Settings::with_env(DevHome::existing(tmp.path()), |k| match k {
            ENV_GATEWAY_URL => Some("ftp://x".into()),
            ENV_API_KEY => Some("k".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(settings.gateway().unwrap_err().exit_code(), 2);
    }
}
