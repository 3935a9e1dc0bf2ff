//! A PostgreSQL database per test on the server of `NEXUS_TEST_DATABASE_URL`
//! (`scripts/pg-start.sh`), and the master key the `nexus serve` tests run with.

#![allow(dead_code)] // each test file uses a different part of this harness

use std::process::Command;

pub const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub fn database_server_url() -> Option<String> {
    match std::env::var("NEXUS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("NEXUS_REQUIRE_PG").as_deref() != Ok("1"),
                "NEXUS_REQUIRE_PG=1 but NEXUS_TEST_DATABASE_URL is not set"
            );
            eprintln!("note: NEXUS_TEST_DATABASE_URL is not set; skipping the PostgreSQL test");
            None
        }
    }
}

/// A fresh database on the test server, dropped when this value is.
pub struct TempDatabase {
    server_url: String,
    name: String,
}

impl TempDatabase {
    pub fn create(server_url: &str) -> Self {
        let name = format!("nexus_cli_{}_{}", std::process::id(), unique_suffix());
        psql(server_url, &format!("CREATE DATABASE {name}"));
        Self {
            server_url: server_url.to_owned(),
            name,
        }
    }

    /// The server URL with its database path replaced by ours.
    pub fn url(&self) -> String {
        let mut url = url::Url::parse(&self.server_url).expect("NEXUS_TEST_DATABASE_URL is a URL");
        url.set_path(&self.name);
        url.to_string()
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.server_url)
            .args([
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

fn unique_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

pub fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .arg(url)
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
