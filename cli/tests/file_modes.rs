//! Issue 14 item 11: the store and the home of `nexus dev` are private to their user.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn assert_private(home: &Path) {
    assert_eq!(mode(home), 0o700, "{}", home.display());
    for file in [
        "nexus.db",
        "nexus.db-wal",
        "nexus.db-shm",
        "master.key",
        "admin.token",
        "dev.env",
    ] {
        assert_eq!(mode(&home.join(file)), 0o600, "{file}");
    }
}

fn start(home: &Path) -> DevStack {
    DevStack::start_with(
        home,
        &[
            "--gateway-addr",
            "127.0.0.1:0",
            "--broker-addr",
            "127.0.0.1:0",
        ],
    )
}

#[test]
fn a_new_home_and_its_store_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    // DevStack creates the directory with the usual umask (0755): exactly the case to fix.
    let stack = start(&home);
    assert_private(&home);
    drop(stack);
}

#[test]
fn an_existing_open_home_is_restricted_loudly() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A database left world-readable by an earlier version.
    {
        let stack = start(&home);
        drop(stack);
    }
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        home.join("nexus.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let stack = start(&home);
    assert_private(&home);
    let log = stack.log_text();
    assert!(log.contains("changed it to 700"), "{log}");
    assert!(log.contains("nexus.db was open to other users"), "{log}");
}
