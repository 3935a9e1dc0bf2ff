//! The README quickstart is executed, so it cannot rot: every ```` ```sh quickstart ```` block
//! runs, in order, in one bash script (`set -euo pipefail`) against a fresh `nexus dev`.
//!
//! The stack itself is started here (the README's `cargo run -p nexus-cli -- dev` block is not
//! marked: it runs until Ctrl-C). The Python and TypeScript snippets are not executed here; they
//! need the built SDK packages.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// The bodies of the fenced blocks whose info string is exactly `sh quickstart`.
fn quickstart_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match current.as_mut() {
            None if line.trim() == "```sh quickstart" => current = Some(String::new()),
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
        "an unterminated quickstart block in README.md"
    );
    blocks
}

#[test]
fn block_extraction_finds_only_marked_blocks() {
    let text = "```sh\nno\n```\n```sh quickstart\na\nb\n```\ntext\n```sh quickstart\nc\n```\n";
    assert_eq!(
        quickstart_blocks(text),
        vec!["a\nb\n".to_owned(), "c\n".to_owned()]
    );
}

#[test]
fn the_readme_quickstart_runs() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let blocks = quickstart_blocks(&readme);
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
    let mut bash = std::process::Command::new("bash");
    bash.arg("-c")
        .arg(&script)
        .current_dir(tmp.path())
        .env("PATH", path);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("NEXUS_") {
            bash.env_remove(&key);
        }
    }
    let out = bash.output().expect("run bash");
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
}
