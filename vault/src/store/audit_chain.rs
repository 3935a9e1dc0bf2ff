//! The audit hash chain: strict, one chain per workspace.
//!
//! Every record carries `hash = SHA-256(prev_hash || canonical record)`, where `prev_hash` is the
//! hash of the previous record *of the same chain* (`ws:<workspace id>`, or `-` for records
//! without a workspace). Appends lock the chain's head row (`audit_chain_heads`), so concurrent
//! writers — in one process or many — never fork a chain; within a process the records waiting
//! on a chain are appended together, one transaction per batch ([`super::audit_batch`]). [`Store::verify_audit_chain`] walks a
//! chain and reports the first record whose content, link or position does not hold: an edited
//! field changes the hash, a deleted record breaks the next record's link, and a deleted newest
//! record no longer matches the head.
//!
//! Records written before the chain existed are not part of any chain: their `chain` is the
//! empty string since migration 0030 (NULL before it).

use super::audit::AuditEvent;
use super::audit_prune::AnchorState;
use super::{Store, StoreError};
use sha2::{Digest, Sha256};
use sqlx::Row;

/// Rows read per query while verifying.
const VERIFY_PAGE: i64 = 1000;

/// Who acted and for whom, beyond the principal label: the identity columns of a record.
#[derive(Debug, Clone, Default)]
pub struct AuditIdentity<'a> {
    pub agent_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub user_subject: Option<&'a str>,
}

pub use nexus_protocol::admin::ChainVerdict;

/// The chain a record of this workspace belongs to.
pub fn chain_of(workspace_id: Option<&str>) -> String {
    match workspace_id {
        Some(ws) => format!("ws:{ws}"),
        None => "-".to_owned(),
    }
}

/// Label of the audit chain's HMAC key, derived from a master key of the keyring
/// ([`crate::crypto::Keyring::derive_key_from`]). Each record names the master key it used
/// (`mac_key`), so records written before `keys rotate` still verify after it.
pub(super) const CHAIN_KEY_LABEL: &str = "nexus audit chain v1";

/// Longest client `X-Request-Id` kept, in bytes.
pub const CLIENT_REQUEST_ID_MAX: usize = 128;

/// A client's request id as stored: printable ASCII only, at most [`CLIENT_REQUEST_ID_MAX`]
/// bytes; nothing when nothing printable is left.
pub fn sanitize_client_request_id(raw: Option<&str>) -> Option<String> {
    let kept: String = raw?
        .chars()
        .filter(char::is_ascii_graphic)
        .take(CLIENT_REQUEST_ID_MAX)
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// Server request ids (time first: see the module).
#[path = "audit_request_id.rs"]
mod request_id;
pub(super) use request_id::server_request_id;

/// What a record's link covers besides the event: its chain, time and the two request ids.
pub(super) struct Stamp<'a> {
    pub(super) chain: &'a str,
    pub(super) at: i64,
    pub(super) request_id: Option<&'a str>,
    pub(super) client_request_id: Option<&'a str>,
}

/// How a record is linked: keyed (HMAC-SHA256 under a key derived from master key `key_id`),
/// or the plain SHA-256 of records written before the chain was keyed.
pub(super) enum Link<'a> {
    Keyed { key_id: &'a str, key: [u8; 32] },
    Plain,
}

/// The link of one record to `prev_hash`: everything but its id and its own hash.
///
/// The canonical form is a compact JSON array, serialized straight into the digest: the same
/// bytes as building a `serde_json::json!` array and hashing its `to_string()` (a tuple of the
/// same values serializes identically), without copying every field into a `Value` and the text
/// into a `String` per record (see `canonical_bytes_are_those_of_the_json_array`).
pub(super) fn record_hash(
    prev_hash: &str,
    stamp: &Stamp<'_>,
    e: &AuditEvent<'_>,
    identity: &AuditIdentity<'_>,
    link: &Link<'_>,
) -> String {
    match link {
        Link::Plain => {
            // The pre-keying canonical form: the client's request id sat in `request_id`.
            let canonical = (
                stamp.at,
                e.workspace_id,
                e.action,
                e.target,
                e.principal,
                e.outcome,
                stamp.client_request_id,
                e.detail,
                identity.agent_id,
                identity.session_id,
                identity.user_subject,
            );
            let mut h = Sha256::new();
            h.update(prev_hash.as_bytes());
            serialize_into(&canonical, |bytes| h.update(bytes));
            hex::encode(h.finalize())
        }
        Link::Keyed { key_id, key } => {
            use hmac::{Hmac, Mac};
            let canonical = (
                "v1",
                stamp.chain,
                stamp.at,
                e.workspace_id,
                e.action,
                e.target,
                e.principal,
                e.outcome,
                stamp.request_id,
                stamp.client_request_id,
                e.detail,
                identity.agent_id,
                identity.session_id,
                identity.user_subject,
                *key_id,
            );
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
            mac.update(prev_hash.as_bytes());
            serialize_into(&canonical, |bytes| mac.update(bytes));
            hex::encode(mac.finalize().into_bytes())
        }
    }
}

/// Compact JSON of `value`, handed to `sink` piece by piece.
fn serialize_into(value: &impl serde::Serialize, sink: impl FnMut(&[u8])) {
    struct Sink<F>(F);
    impl<F: FnMut(&[u8])> std::io::Write for Sink<F> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            (self.0)(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // Strings, integers and nulls only: serializing them cannot fail, and the sink never does.
    serde_json::to_writer(Sink(sink), value)
        .unwrap_or_else(|_| unreachable!("a tuple of strings and integers always serializes"));
}

impl Store {
    /// Verify one workspace's chain, or every chain.
    pub async fn verify_audit_chain(
        &self,
        workspace_id: Option<&str>,
    ) -> Result<ChainVerdict, StoreError> {
        let chains: Vec<String> = match workspace_id {
            Some(ws) => vec![chain_of(Some(ws))],
            None => self.audit_chains().await?,
        };
        let mut verdict = ChainVerdict {
            ok: true,
            checked: 0,
            first_broken_id: None,
        };
        for chain in chains {
            let (checked, broken) = self.verify_one_chain(&chain).await?;
            verdict.checked += checked;
            if let Some(id) = broken {
                verdict.ok = false;
                verdict.first_broken_id = Some(verdict.first_broken_id.map_or(id, |b| b.min(id)));
            }
        }
        Ok(verdict)
    }

    /// Every chain that has a head row, an anchor or a record, sorted. Records older than the
    /// chains (migration 0002) sit in the empty chain '' (migration 0030) and are no chain.
    pub(super) async fn audit_chains(&self) -> Result<Vec<String>, StoreError> {
        let mut chains = sqlx::query(
            "SELECT chain FROM audit_chain_heads UNION SELECT chain FROM audit_chain_anchors \
             UNION SELECT DISTINCT chain FROM audit_events WHERE chain <> ''",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("chain"))
        .collect::<Result<Vec<_>, _>>()?;
        chains.sort();
        Ok(chains)
    }

    /// `(records checked, first broken id)`.
    async fn verify_one_chain(&self, chain: &str) -> Result<(u64, Option<i64>), StoreError> {
        let walk = self.walk_chain(chain).await?;
        Ok((walk.checked, walk.first_broken_id))
    }

    /// Walk one chain from its first record, verifying every link, then compare the end of the
    /// walk with the chain's head row.
    pub(super) async fn walk_chain(&self, chain: &str) -> Result<ChainWalk, StoreError> {
        // A pruned chain starts at its anchor (the newest pruned record, see `audit_prune`):
        // the first remaining record must link to it, exactly as it linked before the prune.
        let (mut expected_prev, mut after, pruned) = match self.chain_anchor(chain).await? {
            AnchorState::None => (String::new(), 0i64, 0u64),
            AnchorState::Valid(anchor) => (anchor.hash, anchor.id, anchor.pruned),
            AnchorState::Forged { id } => return Ok(ChainWalk::broken(0, id)),
        };
        let (anchor_id, anchor_hash) = (after, expected_prev.clone());
        let mut checked = 0u64;
        let mut last_id = (pruned > 0).then_some(after);
        loop {
            let rows = sqlx::query(
                "SELECT id, at, workspace_id, action, target, principal, outcome, request_id, detail, prev_hash, hash, agent_id, session_id, user_subject, client_request_id, mac_key \
                 FROM audit_events WHERE chain = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(chain)
            .bind(after)
            .bind(VERIFY_PAGE)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let id: i64 = r.try_get("id")?;
                checked += 1;
                let Some(recomputed) = self.relink(r, chain, &expected_prev)? else {
                    return Ok(ChainWalk::broken(checked, id));
                };
                expected_prev = recomputed;
                after = id;
                last_id = Some(id);
            }
        }
        let head = sqlx::query("SELECT last_id, last_hash FROM audit_chain_heads WHERE chain = $1")
            .bind(chain)
            .fetch_optional(&self.pool)
            .await?;
        let head_holds = match &head {
            Some(h) => {
                let head_hash: String = h.try_get("last_hash")?;
                let head_id: i64 = h.try_get("last_id")?;
                head_hash == expected_prev && (last_id.is_none() || last_id == Some(head_id))
            }
            None => last_id.is_none(),
        };
        if head_holds {
            Ok(ChainWalk {
                checked,
                pruned,
                anchor_id,
                anchor_hash,
                first_broken_id: None,
                last_id: last_id.unwrap_or(0),
                last_hash: expected_prev,
            })
        } else {
            let broken = match head {
                Some(h) => h.try_get::<i64, _>("last_id")?,
                None => last_id.unwrap_or(0),
            };
            Ok(ChainWalk::broken(checked, broken))
        }
    }
}

/// The result of walking one chain: how many records were read, the first that does not hold,
/// and (when it holds) its newest record's id and link.
pub(super) struct ChainWalk {
    /// Records read (the ones still stored).
    pub(super) checked: u64,
    /// Records pruned before the walk's start (the anchor's count): a record's position in
    /// its chain is `pruned` + its rank among the stored ones.
    pub(super) pruned: u64,
    /// The anchor the walk started from (0 and empty when the chain was never pruned).
    pub(super) anchor_id: i64,
    pub(super) anchor_hash: String,
    pub(super) first_broken_id: Option<i64>,
    pub(super) last_id: i64,
    pub(super) last_hash: String,
}

impl ChainWalk {
    fn broken(checked: u64, id: i64) -> Self {
        Self {
            checked,
            pruned: 0,
            anchor_id: 0,
            anchor_hash: String::new(),
            first_broken_id: Some(id),
            last_id: 0,
            last_hash: String::new(),
        }
    }
}

/// A stored record's linked fields, owned.
pub(super) struct StoredRecord {
    workspace_id: Option<String>,
    action: String,
    target: Option<String>,
    principal: String,
    outcome: String,
    request_id: Option<String>,
    client_request_id: Option<String>,
    detail: Option<String>,
    agent_id: Option<String>,
    session_id: Option<String>,
    user_subject: Option<String>,
    at: i64,
    pub(super) mac_key: Option<String>,
    pub(super) prev_hash: Option<String>,
    pub(super) hash: Option<String>,
}

impl StoredRecord {
    pub(super) fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, StoreError> {
        let text = |c: &str| r.try_get::<Option<String>, _>(c);
        Ok(Self {
            workspace_id: text("workspace_id")?,
            action: r.try_get("action")?,
            target: text("target")?,
            principal: r.try_get("principal")?,
            outcome: r.try_get("outcome")?,
            request_id: text("request_id")?,
            client_request_id: text("client_request_id")?,
            detail: text("detail")?,
            agent_id: text("agent_id")?,
            session_id: text("session_id")?,
            user_subject: text("user_subject")?,
            at: r.try_get("at")?,
            mac_key: text("mac_key")?,
            prev_hash: text("prev_hash")?,
            hash: text("hash")?,
        })
    }

    /// Whether the record belongs to `chain` and links to `prev` as stored.
    pub(super) fn links_to(&self, chain: &str, prev: &str, recomputed: &str) -> bool {
        chain_of(self.workspace_id.as_deref()) == chain
            && self.prev_hash.as_deref().unwrap_or("") == prev
            && self.hash.as_deref() == Some(recomputed)
    }

    /// The link of this record after `prev` in `chain`.
    fn hash_with(&self, chain: &str, prev: &str, link: &Link<'_>) -> String {
        let event = AuditEvent {
            workspace_id: self.workspace_id.as_deref(),
            action: &self.action,
            target: self.target.as_deref(),
            principal: &self.principal,
            outcome: &self.outcome,
            request_id: self.client_request_id.as_deref(),
            detail: self.detail.as_deref(),
        };
        let identity = AuditIdentity {
            agent_id: self.agent_id.as_deref(),
            session_id: self.session_id.as_deref(),
            user_subject: self.user_subject.as_deref(),
        };
        let stamp = Stamp {
            chain,
            at: self.at,
            request_id: self.request_id.as_deref(),
            client_request_id: self.client_request_id.as_deref(),
        };
        record_hash(prev, &stamp, &event, &identity, link)
    }

    /// The plain SHA-256 link records had before the chain was keyed (migration only).
    pub(super) fn plain_hash(&self, chain: &str, prev: &str) -> String {
        self.hash_with(chain, prev, &Link::Plain)
    }
}

impl Store {
    /// The keyed link of `rec` after `prev`, under the active master key: `(key id, hash)`.
    pub(super) fn keyed_hash(
        &self,
        rec: &StoredRecord,
        chain: &str,
        prev: &str,
    ) -> (String, String) {
        let (key_id, key) = self.sealer.derive_active_key(CHAIN_KEY_LABEL);
        let hash = rec.hash_with(
            chain,
            prev,
            &Link::Keyed {
                key_id: &key_id,
                key,
            },
        );
        (key_id, hash)
    }

    /// Recompute one stored record's keyed link from `expected_prev`: `Some(hash)` when the
    /// record holds (content, link, chain and key), `None` when it does not. A record without
    /// a key (`mac_key` NULL) never holds: plain links were re-keyed when the chain was keyed
    /// (`audit_rekey`), so one now is a forgery by someone who lacks the key.
    fn relink(
        &self,
        r: &sqlx::any::AnyRow,
        chain: &str,
        expected_prev: &str,
    ) -> Result<Option<String>, StoreError> {
        let rec = StoredRecord::from_row(r)?;
        let Some(key_id) = rec.mac_key.as_deref() else {
            return Ok(None);
        };
        let Some(key) = self.sealer.derive_key_from(key_id, CHAIN_KEY_LABEL) else {
            tracing::warn!(key_id, "audit record names a master key the keyring lacks");
            return Ok(None);
        };
        let recomputed = rec.hash_with(chain, expected_prev, &Link::Keyed { key_id, key });
        Ok(rec
            .links_to(chain, expected_prev, &recomputed)
            .then_some(recomputed))
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    /// The links of records already stored were computed from `json!([...]).to_string()`: the
    /// streamed form must hash the very same bytes, escapes, non-ASCII and nulls included.
    #[test]
    fn canonical_bytes_are_those_of_the_json_array() {
        use hmac::{Hmac, Mac};
        let detail = "{\"host\":\"api.example\",\"path\":\"/a\\\\b\"}\n\t\u{1}é😀\"";
        let events = [
            AuditEvent {
                workspace_id: Some("ws_1"),
                action: "proxy.request",
                target: Some("crm"),
                principal: "api_key:k_1",
                outcome: "ok",
                request_id: Some("client-1"),
                detail: Some(detail),
            },
            AuditEvent {
                workspace_id: None,
                action: "auth.failed",
                target: None,
                principal: "unauthenticated",
                outcome: "denied",
                request_id: None,
                detail: None,
            },
        ];
        let identity = AuditIdentity {
            agent_id: Some("agt_1"),
            session_id: None,
            user_subject: Some("user\u{7f}"),
        };
        let key = [7u8; 32];
        for e in &events {
            let stamp = Stamp {
                chain: "ws:ws_1",
                at: -1_733_456_789_012,
                request_id: Some("req_ab"),
                client_request_id: e.request_id,
            };
            let keyed = serde_json::json!([
                "v1",
                stamp.chain,
                stamp.at,
                e.workspace_id,
                e.action,
                e.target,
                e.principal,
                e.outcome,
                stamp.request_id,
                stamp.client_request_id,
                e.detail,
                identity.agent_id,
                identity.session_id,
                identity.user_subject,
                "k1"
            ]);
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
            mac.update(b"prev");
            mac.update(keyed.to_string().as_bytes());
            let link = Link::Keyed { key_id: "k1", key };
            assert_eq!(
                record_hash("prev", &stamp, e, &identity, &link),
                hex::encode(mac.finalize().into_bytes())
            );
            let plain = serde_json::json!([
                stamp.at,
                e.workspace_id,
                e.action,
                e.target,
                e.principal,
                e.outcome,
                stamp.client_request_id,
                e.detail,
                identity.agent_id,
                identity.session_id,
                identity.user_subject
            ]);
            let mut h = Sha256::new();
            h.update(b"prev");
            h.update(plain.to_string().as_bytes());
            assert_eq!(
                record_hash("prev", &stamp, e, &identity, &Link::Plain),
                hex::encode(h.finalize())
            );
        }
    }
}
