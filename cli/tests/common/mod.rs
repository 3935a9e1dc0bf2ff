//! Drives the real `nexus` binary: start a `nexus dev` stack in a temp home on free ports, wait
//! for its `dev.env`, run commands against it, stop it with a signal.

#![allow(dead_code)] // each test file uses a different part of this harness

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a stack may take to write dev.env (a debug build on a busy 2-core machine).
const START_DEADLINE: Duration = Duration::from_secs(120);
const STOP_DEADLINE: Duration = Duration::from_secs(30);

pub fn nexus_bin() -> &'static str {
    env!("CARGO_BIN_EXE_nexus")
}

/// A `nexus` command with no NEXUS_* variable inherited from the developer's shell.
pub fn nexus(home: &Path) -> Command {
    let mut cmd = Command::new(nexus_bin());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("NEXUS_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("NEXUS_HOME", home).env_remove("RUST_LOG");
    cmd
}

/// Run a command with `stdin` as its input and collect everything.
pub fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn nexus");
    let mut pipe = child.stdin.take().expect("stdin pipe");
    pipe.write_all(stdin.as_bytes()).expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("wait for nexus")
}

pub fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run nexus")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Assert success, showing stdout and stderr when it is not.
pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// A running `nexus dev`.
pub struct DevStack {
    pub home: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    pub env: BTreeMap<String, String>,
}

impl DevStack {
    /// Start `nexus dev --home HOME` on free ports and wait for its dev.env.
    pub fn start(home: &Path) -> Self {
        Self::start_with(
            home,
            &[
                "--gateway-addr",
                "127.0.0.1:0",
                "--broker-addr",
                "127.0.0.1:0",
            ],
        )
    }

    pub fn start_with(home: &Path, addr_args: &[&str]) -> Self {
        Self::start_with_env(home, addr_args, &[])
    }

    pub fn start_with_env(home: &Path, addr_args: &[&str], vars: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(home).expect("create home");
        // A dev.env left by a killed stack must not be mistaken for this one's.
        let _ = std::fs::remove_file(home.join("dev.env"));
        let log = home.with_extension("log");
        let log_file = std::fs::File::create(&log).expect("create log");
        let child = nexus(home)
            .arg("dev")
            .args(addr_args)
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn nexus dev");
        let mut stack = Self {
            home: home.to_path_buf(),
            child: Some(child),
            log,
            env: BTreeMap::new(),
        };
        stack.env = stack.wait_for_dev_env();
        stack
    }

    /// Poll for dev.env with a deadline; fail at once (with the log) if the process exits.
    fn wait_for_dev_env(&mut self) -> BTreeMap<String, String> {
        let path = self.home.join("dev.env");
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                return parse_env(&text);
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "nexus dev exited with {status} before writing dev.env:\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no dev.env after {START_DEADLINE:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("dev.env has no {key}"))
    }

    /// `GET /v1/resolve` of `provider` in workspace `dev` through this stack's gateway, with its
    /// dev API key: (status, JSON body).
    pub fn resolve(&self, provider: &str) -> (u16, serde_json::Value) {
        resolve_http(
            self.get("NEXUS_GATEWAY_URL"),
            self.get("NEXUS_API_KEY"),
            "dev",
            provider,
        )
    }

    /// A `nexus` command aimed at this stack through its home (dev.env), like a user would run it.
    pub fn nexus(&self) -> Command {
        nexus(&self.home)
    }

    /// Send `signal` ("TERM", "INT") and wait for the exit status.
    pub fn stop_with(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("stack already stopped");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!(
                    "nexus dev did not stop within {STOP_DEADLINE:?} of SIG{signal}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for DevStack {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// A providers file with one static API-key provider named `name`.
pub fn write_api_key_provider(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}-providers.yaml"));
    let yaml = format!(
        "providers:\n  - name: {name}\n    auth_type: api_key\n    api_base_url: https://api.example.com\n    strategy:\n      type: header\n      config:\n        header_name: X-API-Key\n"
    );
    std::fs::write(&path, yaml).expect("write providers file");
    path
}

/// `GET {gateway}/v1/resolve` with `api_key`: (status, JSON body).
pub fn resolve_http(
    gateway_url: &str,
    api_key: &str,
    workspace: &str,
    provider: &str,
) -> (u16, serde_json::Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(format!("{gateway_url}/v1/resolve"))
            .query(&[("workspace_id", workspace), ("provider_name", provider)])
            .bearer_auth(api_key)
            .send()
            .await
            .expect("gateway answers");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    })
}

/// Import `secret` as the API key of `provider` in workspace `dev` (through stdin).
pub fn import_api_key(stack: &DevStack, provider: &str, secret: &str) -> Output {
    let mut cmd = stack.nexus();
    cmd.args([
        "connections",
        "import",
        "--workspace",
        "dev",
        "--provider",
        provider,
        "--kind",
        "api_key",
    ]);
    run_with_stdin(cmd, secret)
}

/// Read a `nexus serve` child's stderr until each of `services` has announced
/// `nexus: SERVICE listening on ADDR`; returns their URLs in the same order.
pub fn wait_for_listeners(child: &mut Child, services: &[&str]) -> Vec<String> {
    let stderr = child.stderr.take().expect("stderr pipe");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + START_DEADLINE;
    let mut urls: Vec<Option<String>> = vec![None; services.len()];
    let mut seen = Vec::new();
    while urls.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("listeners not announced:\n{}", seen.join("\n")));
        for (service, url) in services.iter().zip(urls.iter_mut()) {
            if let Some(addr) = line.strip_prefix(&format!("nexus: {service} listening on ")) {
                *url = Some(format!("http://{}", addr.trim()));
            }
        }
        seen.push(line);
    }
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in rx {});
    urls.into_iter().flatten().collect()
}

/// SIGTERM `child` and wait (with a deadline) for its exit status.
pub fn terminate(child: &mut Child) -> ExitStatus {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed");
    let deadline = Instant::now() + STOP_DEADLINE;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the process did not stop within {STOP_DEADLINE:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run `nexus --json ARGS` against the stack; its stdout as JSON (fails the test otherwise).
pub fn nexus_json(stack: &DevStack, args: &[&str]) -> serde_json::Value {
    let mut cmd = stack.nexus();
    cmd.arg("--json").args(args);
    let out = run(cmd);
    assert_ok(&out, &args.join(" "));
    serde_json::from_str(&stdout(&out)).expect("JSON on stdout")
}
