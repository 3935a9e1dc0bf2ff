//! stdout belongs to an MCP server's JSON-RPC: the SDK must never write to it. This guards the
//! sources against the ways Rust code writes to stdout (logging goes through `tracing` only).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn sdk_sources_never_write_to_stdout() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() >= 5, "found the sources");
    let forbidden = [
        "println!",
        "print!(",
        "stdout()",
        "dbg!(",
        "eprintln!",
        "eprint!(",
    ];
    let mut offences = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for pattern in forbidden {
                if line.contains(pattern) {
                    offences.push(format!(
                        "{}:{}: {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "the SDK must log through `tracing` only:\n{}",
        offences.join("\n")
    );
}
