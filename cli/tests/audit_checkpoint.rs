//! `nexus audit checkpoint` and `nexus audit verify --checkpoint` as real processes against a
//! real broker (`nexus dev` on SQLite, `nexus serve broker` on PostgreSQL), with the log
//! tampered with directly in the database, as someone with write access to it would: an
//! edited record, a re-chained chain, the newest records truncated (and the chain grown back),
//! a chain deleted with its head, the table emptied. Each must exit 5 against a checkpoint
//! taken before; the three deletions also show that `verify` alone still says ok.

mod common;
mod postgres;
#[path = "audit_checkpoint/prune.rs"]
mod prune;

use common::{DevStack, assert_ok, nexus, run, stderr, stdout, wait_for_listeners};
use postgres::{MASTER_KEY, TempDatabase, database_server_url};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const ADMIN_TOKEN: &str = "checkpoint-admin-token-0123456789abcdefghij";
const INTERNAL_TOKEN: &str = "checkpoint-internal-token-0123456789abcdefgh";

/// A running broker on one backend, and how to reach its database.
struct Stack {
    dir: tempfile::TempDir,
    db_url: String,
    dev: Option<DevStack>,
    serve: Option<(Child, String)>,
    _db: Option<TempDatabase>,
}

impl Stack {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let dev = DevStack::start(&home);
        Self {
            db_url: format!("sqlite://{}", home.join("nexus.db").display()),
            dir,
            dev: Some(dev),
            serve: None,
            _db: None,
        }
    }

    /// `None` when no PostgreSQL is configured (and it is not required).
    fn postgres() -> Option<Self> {
        let db = TempDatabase::create(&database_server_url()?);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = nexus(dir.path())
            .args(["serve", "broker", "--broker-addr", "127.0.0.1:0"])
            .env("NEXUS_DATABASE_URL", db.url())
            .env("NEXUS_MASTER_KEY", MASTER_KEY)
            .env("NEXUS_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("NEXUS_INTERNAL_TOKEN", INTERNAL_TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nexus serve broker");
        let url = wait_for_listeners(&mut child, &["broker"]).remove(0);
        Some(Self {
            db_url: db.url(),
            dir,
            dev: None,
            serve: Some((child, url)),
            _db: Some(db),
        })
    }

    fn nexus(&self, args: &[&str]) -> Command {
        let mut cmd = match (&self.dev, &self.serve) {
            (Some(dev), _) => dev.nexus(),
            (None, Some((_, url))) => {
                let mut cmd = nexus(self.dir.path());
                cmd.env("NEXUS_BROKER_URL", url)
                    .env("NEXUS_ADMIN_TOKEN", ADMIN_TOKEN);
                cmd
            }
            (None, None) => unreachable!("a stack is dev or serve"),
        };
        cmd.args(args);
        cmd
    }

    fn ok(&self, args: &[&str]) -> Output {
        let out = run(self.nexus(args));
        assert_ok(&out, &args.join(" "));
        out
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Run SQL statements on the broker's database, as the attacker does.
    fn sql(&self, statements: &[String]) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            sqlx::any::install_default_drivers();
            let db = sqlx::AnyPool::connect(&self.db_url).await.expect("open db");
            for statement in statements {
                sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&db)
                    .await
                    .unwrap_or_else(|e| panic!("{statement}: {e}"));
            }
        });
    }

    /// `(id, hash)` of the records of `chain`, oldest first.
    fn chain(&self, chain: &str) -> Vec<(i64, String)> {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            sqlx::any::install_default_drivers();
            let db = sqlx::AnyPool::connect(&self.db_url).await.expect("open db");
            sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(format!(
                "SELECT id, hash FROM audit_events WHERE chain = '{chain}' ORDER BY id"
            )))
            .fetch_all(&db)
            .await
            .expect("read chain")
        })
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some((child, _)) = &mut self.serve {
            common::terminate(child);
        }
    }
}

/// Records in workspace `acme`'s chain, a checkpoint key, a checkpoint, and a check that
/// the untouched log (and a log that only grew since) matches it: `(checkpoint, public key)`.
fn checkpointed(stack: &Stack) -> (PathBuf, PathBuf) {
    stack.ok(&["workspaces", "create", "acme"]);
    for _ in 0..3 {
        stack.ok(&["api-keys", "create", "--workspace", "acme"]);
    }
    let key = stack.path("checkpoint.key");
    stack.ok(&["audit", "checkpoint-key", "--out", key.to_str().unwrap()]);
    let public = stack.path("checkpoint.key.pub");
    let checkpoint = stack.path("checkpoint.json");
    stack.ok(&[
        "audit",
        "checkpoint",
        "--key",
        key.to_str().unwrap(),
        "--out",
        checkpoint.to_str().unwrap(),
    ]);
    stack.ok(&["api-keys", "create", "--workspace", "acme"]);
    let out = verify_against(stack, &checkpoint, &public);
    assert_ok(&out, "verify --checkpoint of an untouched log");
    assert!(stdout(&out).starts_with("ok"), "{}", stdout(&out));
    (checkpoint, public)
}

fn verify_against(stack: &Stack, checkpoint: &Path, public: &Path) -> Output {
    run(stack.nexus(&[
        "audit",
        "verify",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--key",
        public.to_str().unwrap(),
    ]))
}

/// Exit code 5 with `expect` in the message.
fn assert_checkpoint_fails(stack: &Stack, checkpoint: &Path, public: &Path, expect: &str) {
    let out = verify_against(stack, checkpoint, public);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains(expect), "{expect}: {}", stderr(&out));
}

/// What `verify` without a checkpoint says: the gap the checkpoint closes.
fn plain_verify_code(stack: &Stack) -> Option<i32> {
    run(stack.nexus(&["audit", "verify"])).status.code()
}

fn edited(stack: &Stack) {
    let (checkpoint, public) = checkpointed(stack);
    let first = stack.chain("ws:acme")[0].0;
    stack.sql(&[format!(
        "UPDATE audit_events SET target = 'someone-else' WHERE id = {first}"
    )]);
    assert_checkpoint_fails(stack, &checkpoint, &public, "does not verify");
}

/// Edit the first record and re-link the whole chain after it with a key of the attacker's
/// own (the links are consistent with each other; they are not the keyring's).
fn rechained(stack: &Stack) {
    let (checkpoint, public) = checkpointed(stack);
    let chain = stack.chain("ws:acme");
    let mut prev = String::new();
    let mut statements = vec![format!(
        "UPDATE audit_events SET target = 'someone-else' WHERE id = {}",
        chain[0].0
    )];
    for (id, _) in &chain {
        let hash = hex::encode(Sha256::digest(format!("attacker:{prev}:{id}")));
        statements.push(format!(
            "UPDATE audit_events SET prev_hash = '{prev}', hash = '{hash}' WHERE id = {id}"
        ));
        prev = hash;
    }
    statements.push(format!(
        "UPDATE audit_chain_heads SET last_hash = '{prev}' WHERE chain = 'ws:acme'"
    ));
    stack.sql(&statements);
    assert_checkpoint_fails(stack, &checkpoint, &public, "ws:acme");
}

/// Delete the newest records, move the head back, and let the chain grow back to its length.
fn truncated(stack: &Stack) {
    let (checkpoint, public) = checkpointed(stack);
    let chain = stack.chain("ws:acme");
    let keep = &chain[..chain.len() - 2];
    let (last_id, last_hash) = keep.last().expect("records left");
    stack.sql(&[
        format!("DELETE FROM audit_events WHERE chain = 'ws:acme' AND id > {last_id}"),
        format!(
            "UPDATE audit_chain_heads SET last_id = {last_id}, last_hash = '{last_hash}' WHERE chain = 'ws:acme'"
        ),
    ]);
    assert_eq!(
        plain_verify_code(stack),
        Some(0),
        "a shorter chain verifies"
    );
    assert_checkpoint_fails(stack, &checkpoint, &public, "gone (truncated)");
    stack.ok(&["api-keys", "create", "--workspace", "acme"]);
    stack.ok(&["api-keys", "create", "--workspace", "acme"]);
    assert_eq!(stack.chain("ws:acme").len(), chain.len());
    assert_checkpoint_fails(stack, &checkpoint, &public, "gone (truncated)");
}

fn chain_deleted(stack: &Stack) {
    let (checkpoint, public) = checkpointed(stack);
    stack.sql(&[
        "DELETE FROM audit_events WHERE chain = 'ws:acme'".into(),
        "DELETE FROM audit_chain_heads WHERE chain = 'ws:acme'".into(),
    ]);
    assert_eq!(plain_verify_code(stack), Some(0), "the other chains verify");
    assert_checkpoint_fails(stack, &checkpoint, &public, "ws:acme: the chain is gone");
}

fn table_emptied(stack: &Stack) {
    let (checkpoint, public) = checkpointed(stack);
    stack.sql(&[
        "DELETE FROM audit_events".into(),
        "DELETE FROM audit_chain_heads".into(),
    ]);
    assert_eq!(plain_verify_code(stack), Some(0), "an empty log verifies");
    assert_checkpoint_fails(stack, &checkpoint, &public, "the chain is gone");
}

#[test]
fn an_edited_record_fails_the_checkpoint_on_sqlite() {
    edited(&Stack::sqlite());
}

#[test]
fn an_edited_record_fails_the_checkpoint_on_postgres() {
    if let Some(stack) = Stack::postgres() {
        edited(&stack);
    }
}

#[test]
fn a_rechained_chain_fails_the_checkpoint_on_sqlite() {
    rechained(&Stack::sqlite());
}

#[test]
fn a_rechained_chain_fails_the_checkpoint_on_postgres() {
    if let Some(stack) = Stack::postgres() {
        rechained(&stack);
    }
}

#[test]
fn a_truncated_chain_fails_the_checkpoint_on_sqlite() {
    truncated(&Stack::sqlite());
}

#[test]
fn a_truncated_chain_fails_the_checkpoint_on_postgres() {
    if let Some(stack) = Stack::postgres() {
        truncated(&stack);
    }
}

#[test]
fn a_deleted_chain_fails_the_checkpoint_on_sqlite() {
    chain_deleted(&Stack::sqlite());
}

#[test]
fn a_deleted_chain_fails_the_checkpoint_on_postgres() {
    if let Some(stack) = Stack::postgres() {
        chain_deleted(&stack);
    }
}

#[test]
fn an_emptied_table_fails_the_checkpoint_on_sqlite() {
    table_emptied(&Stack::sqlite());
}

#[test]
fn an_emptied_table_fails_the_checkpoint_on_postgres() {
    if let Some(stack) = Stack::postgres() {
        table_emptied(&stack);
    }
}

/// A checkpoint whose statement was edited, or checked with another key, is refused (exit 5);
/// a missing key is a usage error (exit 2); the private key file is created 0600.
#[test]
fn the_checkpoint_itself_is_authenticated() {
    use std::os::unix::fs::PermissionsExt;
    let stack = Stack::sqlite();
    let (checkpoint, public) = checkpointed(&stack);
    let mode = std::fs::metadata(stack.path("checkpoint.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let text = std::fs::read_to_string(&checkpoint).unwrap();
    let forged = stack.path("forged.json");
    std::fs::write(&forged, lower_acme_record_count(&text)).unwrap();
    assert_checkpoint_fails(&stack, &forged, &public, "signature does not verify");

    let other = stack.path("other.key");
    stack.ok(&["audit", "checkpoint-key", "--out", other.to_str().unwrap()]);
    let other_public = stack.path("other.key.pub");
    assert_checkpoint_fails(
        &stack,
        &checkpoint,
        &other_public,
        "signature does not verify",
    );

    let out = run(stack.nexus(&[
        "audit",
        "verify",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// The checkpoint with the `ws:acme` chain's record count lowered by one (what someone who
/// truncated the log would want the checkpoint to say).
fn lower_acme_record_count(text: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(text).expect("checkpoint is JSON");
    let chains = value["statement"]["chains"].as_array_mut().expect("chains");
    let acme = chains
        .iter_mut()
        .find(|c| c["chain"] == "ws:acme")
        .expect("ws:acme in the checkpoint");
    let records = acme["records"].as_u64().expect("records");
    acme["records"] = (records - 1).into();
    value.to_string()
}

/// `nexus audit export --format jsonl` streams every record, oldest first, one JSON object per
/// line, to stdout or a file, for one workspace or all.
#[test]
fn the_export_writes_json_lines() {
    let stack = Stack::sqlite();
    stack.ok(&["workspaces", "create", "acme"]);
    stack.ok(&["api-keys", "create", "--workspace", "acme"]);
    let out = stack.ok(&["audit", "export", "--format", "jsonl"]);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let ids: Vec<i64> = lines.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let acme_records = stack.chain("ws:acme").len();
    assert!(acme_records >= 2 && lines.len() > acme_records);

    let file = stack.path("acme.jsonl");
    stack.ok(&[
        "audit",
        "export",
        "--workspace",
        "acme",
        "--out",
        file.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), acme_records);
    assert!(
        text.lines()
            .all(|l| l.contains("\"workspace_id\":\"acme\""))
    );
}
