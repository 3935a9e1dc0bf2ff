//! Failed API-key authentication at the gateway is recorded in the audit log (issue 14 item 5d)
//! against the client's address, without the key (its public id at most), at most 10 records
//! per address and minute; and `NEXUS_TRUSTED_PROXIES` (item 9) decides whether
//! `X-Forwarded-For` names that address. Real `nexus serve all` processes on SQLite.

mod common;
mod postgres;

use common::{assert_ok, nexus, run, stdout, terminate, wait_for_listeners};
use postgres::MASTER_KEY;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

const ADMIN_TOKEN: &str = "failures-admin-token-0123456789abcdefghijk";
const INTERNAL_TOKEN: &str = "failures-internal-token-0123456789abcdefgh";

struct Serve {
    dir: tempfile::TempDir,
    child: Child,
    broker: String,
    gateway: String,
}

impl Serve {
    fn start(trusted_proxies: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("nexus.db").display()
        );
        let mut cmd = nexus(dir.path());
        cmd.args([
            "serve",
            "all",
            "--gateway-addr",
            "127.0.0.1:0",
            "--broker-addr",
            "127.0.0.1:0",
        ])
        .env("NEXUS_DATABASE_URL", db)
        .env("NEXUS_MASTER_KEY", MASTER_KEY)
        .env("NEXUS_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("NEXUS_INTERNAL_TOKEN", INTERNAL_TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if let Some(list) = trusted_proxies {
            cmd.env("NEXUS_TRUSTED_PROXIES", list);
        }
        let mut child = cmd.spawn().expect("spawn nexus serve all");
        let urls = wait_for_listeners(&mut child, &["broker", "gateway"]);
        Self {
            dir,
            child,
            broker: urls[0].clone(),
            gateway: urls[1].clone(),
        }
    }

    fn admin(&self, args: &[&str]) -> Command {
        let mut cmd = nexus(self.dir.path());
        cmd.args(args)
            .env("NEXUS_BROKER_URL", &self.broker)
            .env("NEXUS_ADMIN_TOKEN", ADMIN_TOKEN);
        cmd
    }

    /// `GET /v1/resolve` with `key` and an `X-Forwarded-For` header: the status code.
    fn resolve_with(&self, key: &str, forwarded_for: &str) -> u16 {
        let addr = self.gateway.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).expect("connect to the gateway");
        write!(
            stream,
            "GET /v1/resolve?workspace_id=acme&provider_name=x HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {key}\r\nX-Forwarded-For: {forwarded_for}\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line")
    }

    /// The `detail` of every `auth.failed` record of the gateway's API keys.
    fn key_failures(&self) -> Vec<String> {
        let out = run(self.admin(&["--json", "audit", "--limit", "1000"]));
        assert_ok(&out, "audit");
        let records: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
        records
            .as_array()
            .expect("records")
            .iter()
            .filter(|r| r["action"] == "auth.failed" && r["target"] == "gateway_api_key")
            .map(|r| r["detail"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

#[test]
fn refused_keys_are_recorded_without_the_key_and_a_spoofed_header_is_ignored() {
    let serve = Serve::start(None);
    for i in 0..15 {
        let key = format!("nxk_0123456789abcdef_wrong-secret-{i}");
        assert_eq!(serve.resolve_with(&key, "203.0.113.7"), 401);
    }
    assert_eq!(serve.resolve_with("not-a-key", "203.0.113.7"), 401);
    let details = serve.key_failures();
    // 10 per address and minute: the flood of 16 wrote 10.
    assert_eq!(details.len(), 10, "{details:?}");
    for detail in &details {
        // The peer (an untrusted one sent the header), the key's public id, never the secret.
        assert_eq!(detail, "source=127.0.0.1 key_id=0123456789abcdef");
        assert!(!detail.contains("wrong-secret"));
    }
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_client_is_recorded() {
    let serve = Serve::start(Some("127.0.0.1/32"));
    // The client put 6.6.6.6 in front; the proxy (127.0.0.1, trusted) appended what it saw.
    assert_eq!(
        serve.resolve_with("nxk_0123456789abcdef_wrong", "6.6.6.6, 203.0.113.7"),
        401
    );
    assert_eq!(serve.resolve_with("garbage", "198.51.100.2"), 401);
    let details = serve.key_failures();
    assert_eq!(
        details,
        vec![
            "source=203.0.113.7 key_id=0123456789abcdef".to_owned(),
            "source=198.51.100.2 key=malformed".to_owned()
        ]
        .into_iter()
        .rev()
        .collect::<Vec<_>>(),
        "newest first"
    );
}
