//! `nexus audit prune` (issue 20, retention) as a real process against a real broker: refused
//! without an export that reaches the checkpoint (nothing deleted), then the records up to the
//! checkpoint are gone, `verify` and `verify --checkpoint` pass, and an edited remaining record
//! still fails `verify`.

use super::{Stack, checkpointed, plain_verify_code, verify_against};
use crate::common::{assert_ok, run, stderr};

fn prune_flow(stack: &Stack) {
    let (checkpoint, public) = checkpointed(stack);
    let before = stack.chain("ws:acme");
    let cp = checkpoint.to_str().unwrap();
    let key = public.to_str().unwrap();

    // No export named: a usage error.
    let out = run(stack.nexus(&["audit", "prune", "--checkpoint", cp, "--key", key]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // An export that does not reach the checkpoint's heads: refused, nothing deleted.
    let empty = stack.path("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = run(stack.nexus(&[
        "audit",
        "prune",
        "--checkpoint",
        cp,
        "--key",
        key,
        "--export",
        empty.to_str().unwrap(),
    ]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("nothing was pruned"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stack.chain("ws:acme"), before);

    let export = stack.path("export.jsonl");
    stack.ok(&["audit", "export", "--out", export.to_str().unwrap()]);
    stack.ok(&[
        "audit",
        "prune",
        "--checkpoint",
        cp,
        "--key",
        key,
        "--export",
        export.to_str().unwrap(),
    ]);
    let after = stack.chain("ws:acme");
    assert_eq!(
        after.len(),
        1,
        "only the record written after the checkpoint is left"
    );
    assert_eq!(after[0], *before.last().unwrap());
    assert_eq!(plain_verify_code(stack), Some(0));
    assert_ok(
        &verify_against(stack, &checkpoint, &public),
        "verify --checkpoint after a prune",
    );

    stack.sql(&[format!(
        "UPDATE audit_events SET target = 'someone-else' WHERE id = {}",
        after[0].0
    )]);
    assert_eq!(
        plain_verify_code(stack),
        Some(5),
        "an edit after a prune must fail verify"
    );
}

#[test]
fn prune_keeps_the_rest_verifiable_on_sqlite() {
    prune_flow(&Stack::sqlite());
}

#[test]
fn prune_keeps_the_rest_verifiable_on_postgres() {
    if let Some(stack) = Stack::postgres() {
        prune_flow(&stack);
    }
}
