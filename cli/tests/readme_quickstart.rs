//! The README quickstart is executed, so it cannot rot: every ```` ```sh quickstart ```` block
//! runs, in order, in one bash script (`set -euo pipefail`) against a fresh `nexus dev`; then the
//! ```` ```python ```` and ```` ```ts ```` snippets run against the same stack.
//!
//! The stack itself is started here (the README's `cargo run -p nexus-cli -- dev` block is not
//! marked: it runs until Ctrl-C). The SDK snippets need the built SDKs (the Python package in
//! `.venv`, the Node package's `dist/` and native addon); when one is not built, its snippet is
//! skipped with a note on stderr, unless `NEXUS_REQUIRE_SDKS=1`.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// The bodies of the fenced blocks whose info string is exactly `info`.
fn fenced_blocks(readme: &str, info: &str) -> Vec<String> {
    let opening = format!("```{info}");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match current.as_mut() {
            None if line.trim() == opening => current = Some(String::new()),
            None => {}
            Some(_) if line.trim() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    assert!(
        current.is_none(),
        "an unterminated ```{info} block in README.md"
    );
    blocks
}

#[test]
fn block_extraction_finds_only_marked_blocks() {
    let text = "```sh\nno\n```\n```sh quickstart\na\nb\n```\ntext\n```sh quickstart\nc\n```\n";
    assert_eq!(
        fenced_blocks(text, "sh quickstart"),
        vec!["a\nb\n".to_owned(), "c\n".to_owned()]
    );
    assert_eq!(fenced_blocks(text, "sh"), vec!["no\n".to_owned()]);
}

/// A command that runs in `dir` with only the stack's settings from the environment
/// (NEXUS_* from the developer's shell removed).
fn command_in(program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("NEXUS_") {
            cmd.env_remove(&key);
        }
    }
    cmd
}

fn sdks_required() -> bool {
    std::env::var("NEXUS_REQUIRE_SDKS").as_deref() == Ok("1")
}

fn skip(what: &str) {
    assert!(!sdks_required(), "NEXUS_REQUIRE_SDKS=1 but {what}");
    eprintln!("note: {what}; its README snippet was not executed");
}

#[test]
fn the_readme_quickstart_runs() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let blocks = fenced_blocks(&readme, "sh quickstart");
    assert!(
        blocks.len() >= 4,
        "the quickstart lost its marked blocks ({} found)",
        blocks.len()
    );
    let script = format!("set -euo pipefail\n{}", blocks.join("\n"));

    // A fresh directory that looks like the repository root to the blocks: `.nexus` is the
    // stack's home and `examples/` the real example files.
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root.join("examples"), tmp.path().join("examples")).unwrap();
    let stack = DevStack::start(&tmp.path().join(".nexus"));

    let bin_dir = Path::new(nexus_bin()).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = command_in("bash", tmp.path())
        .arg("-c")
        .arg(&script)
        .env("PATH", path)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "the quickstart failed ({:?})\nscript:\n{script}\nstdout:\n{}\nstderr:\n{}\nstack log:\n{}",
        out.status,
        stdout(&out),
        stderr(&out),
        stack.log_text()
    );
    let text = stdout(&out);
    // curl printed the resolved credential and its strategy...
    assert!(
        text.contains("\"api_key\":\"sk_test_quickstart_0123456789\""),
        "{text}"
    );
    assert!(text.contains("X-API-Key"), "{text}");
    // ...and the CLI's resolve showed it masked.
    assert!(text.contains("sk_t…(29 chars)"), "{text}");

    // The SDK snippets resolve the same credential (the quickstart created it above).
    run_python_snippet(&root, &readme, &stack, tmp.path());
    run_typescript_snippet(&root, &readme, &stack, tmp.path());
}

fn run_python_snippet(root: &Path, readme: &str, stack: &DevStack, dir: &Path) {
    let python = root.join(".venv/bin/python");
    let importable = python.exists()
        && command_in(&python, dir)
            .args(["-c", "import nexus_sdk._native"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !importable {
        return skip("the Python SDK is not built (.venv with nexus_sdk._native)");
    }
    let snippet = fenced_blocks(readme, "python").join("\n");
    assert!(
        snippet.contains("resolve_token"),
        "the README lost its Python snippet"
    );
    let out = command_in(&python, dir)
        .args(["-c", &snippet])
        .env("NEXUS_GATEWAY_URL", stack.get("NEXUS_GATEWAY_URL"))
        .env("NEXUS_API_KEY", stack.get("NEXUS_API_KEY"))
        .output()
        .expect("run python");
    assert_ok(&out, "the README's Python snippet");
    assert!(stdout(&out).starts_with("header "), "{}", stdout(&out));
}

fn run_typescript_snippet(root: &Path, readme: &str, stack: &DevStack, dir: &Path) {
    let package = root.join("bindings-node");
    let built = package.join("dist/index.mjs").exists()
        && std::fs::read_dir(package.join("native"))
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.path().extension().is_some_and(|x| x == "node"))
            })
            .unwrap_or(false);
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !(built && node) {
        return skip(
            "the Node SDK is not built (bindings-node/dist and its native addon) or node is missing",
        );
    }
    let snippet = fenced_blocks(readme, "ts").join("\n");
    assert!(
        snippet.contains("resolveToken"),
        "the README lost its TypeScript snippet"
    );
    // The snippet is written to be valid JavaScript too, so Node runs it as an ES module; the
    // package is found the way an installed one would be, through node_modules.
    let scope = dir.join("node_modules/@dromos");
    std::fs::create_dir_all(&scope).unwrap();
    std::os::unix::fs::symlink(&package, scope.join("nexus-sdk")).unwrap();
    std::fs::write(dir.join("snippet.mjs"), snippet).unwrap();
    let out = command_in("node", dir)
        .arg("snippet.mjs")
        .env("NEXUS_GATEWAY_URL", stack.get("NEXUS_GATEWAY_URL"))
        .env("NEXUS_API_KEY", stack.get("NEXUS_API_KEY"))
        .output()
        .expect("run node");
    assert_ok(&out, "the README's TypeScript snippet");
    assert!(stdout(&out).starts_with("header "), "{}", stdout(&out));
}
