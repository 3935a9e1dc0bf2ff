//! `nexus dev` for the end-to-end tests: started in a temporary home when the run asks for it
//! (`NEXUS_REQUIRE_STACK=1`, or `NEXUS_BIN` set), killed on drop.

use serde_json::Value;
use std::time::{Duration, Instant};

/// `nexus dev` in a temporary home, killed on drop.
pub struct DevStack {
    child: std::process::Child,
    pub env: std::collections::HashMap<String, String>,
    _home: tempfile::TempDir,
}

impl Drop for DevStack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stack, when this run asks for it (`NEXUS_REQUIRE_STACK=1`, or `NEXUS_BIN` set).
pub fn dev_stack() -> Option<DevStack> {
    let required = std::env::var("NEXUS_REQUIRE_STACK").as_deref() == Ok("1");
    let explicit = std::env::var("NEXUS_BIN").ok();
    if !required && explicit.is_none() {
        eprintln!("note: stack test skipped (set NEXUS_REQUIRE_STACK=1 or NEXUS_BIN)");
        return None;
    }
    let bin = explicit.map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/nexus")
    });
    assert!(bin.is_file(), "no nexus binary at {}", bin.display());
    let home = tempfile::tempdir().expect("temp home");
    let child = std::process::Command::new(&bin)
        .args(["dev", "--home"])
        .arg(home.path())
        .args([
            "--gateway-addr",
            "127.0.0.1:0",
            "--broker-addr",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nexus dev starts");
    let mut stack = DevStack {
        child,
        env: Default::default(),
        _home: home,
    };
    let dev_env = stack._home.path().join("dev.env");
    let deadline = Instant::now() + Duration::from_secs(60);
    // dev.env is written atomically once both servers listen: poll for it with a deadline.
    let text = loop {
        if let Ok(text) = std::fs::read_to_string(&dev_env) {
            break text;
        }
        assert!(
            stack.child.try_wait().ok().flatten().is_none(),
            "nexus dev exited"
        );
        assert!(Instant::now() < deadline, "nexus dev wrote no dev.env");
        std::thread::sleep(Duration::from_millis(50));
    };
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=')
            && !k.trim_start().starts_with('#')
        {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            stack.env.insert(k.trim().to_owned(), v.to_owned());
        }
    }
    Some(stack)
}

pub async fn admin_post(stack: &DevStack, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", stack.env["NEXUS_BROKER_URL"]))
        .bearer_auth(&stack.env["NEXUS_ADMIN_TOKEN"])
        .json(&body)
        .send()
        .await
        .expect("admin call");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}
