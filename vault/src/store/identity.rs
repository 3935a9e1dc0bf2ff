//! Agents, sessions and trusted identity providers in the database.
//!
//! An agent credential is `nxa_<16 hex>_<secret>`; the agent id is `agt_<same 16 hex>`, so the
//! row is found without scanning, and only the SHA-256 of the credential is stored (256-bit
//! random secrets need no password stretching).

use crate::store::{Store, StoreError, now_ms, rfc3339, stored_id};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_protocol::SecretString;
use nexus_protocol::admin;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

const CREDENTIAL_PREFIX: &str = "nxa_";
const AGENT_ID_PREFIX: &str = "agt_";

/// An agent row: never the credential, never its hash. The admin API answers with
/// [`admin::Agent`] ([`Agent::to_wire`]).
#[derive(Debug, Clone)]
pub struct Agent {
    pub agent_id: String,
    pub workspace_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub max_session_ttl_seconds: u64,
    pub disabled: bool,
    pub created_at: String,
    /// Bumped by every credential rotation and every disable; sessions minted under an older
    /// generation are dead. Never shown.
    pub credential_generation: i64,
}

/// A session row: what makes a signed token usable (or not any more).
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub workspace_id: String,
    pub agent_id: String,
    pub subject: String,
    pub user_subject: Option<String>,
    pub scopes: Vec<String>,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The agent's `credential_generation` when the session was minted.
    pub agent_generation: i64,
    pub created_at: i64,
}

/// A trusted issuer of user tokens for On-Behalf-Of.
pub use nexus_protocol::admin::IdentityProvider;

fn hash_credential(credential: &str) -> String {
    hex::encode(Sha256::digest(credential.as_bytes()))
}

/// The agent id inside a presented credential, if it has the right shape.
pub fn agent_id_of(credential: &str) -> Option<String> {
    let rest = credential.strip_prefix(CREDENTIAL_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then(|| format!("{AGENT_ID_PREFIX}{id}"))
}

fn new_credential(hex_id: &str) -> SecretString {
    let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    SecretString::new(format!("{CREDENTIAL_PREFIX}{hex_id}_{secret}"))
}

fn scopes_json(scopes: &[String]) -> String {
    serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into())
}

fn scopes_from(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt("scopes column".into()))
}

impl Agent {
    /// The agent as the admin API shows it.
    pub fn to_wire(&self) -> Result<admin::Agent, StoreError> {
        Ok(admin::Agent {
            agent_id: stored_id(self.agent_id.clone())?,
            workspace_id: stored_id(self.workspace_id.clone())?,
            name: self.name.clone(),
            scopes: self
                .scopes
                .iter()
                .map(|s| stored_id(s.clone()))
                .collect::<Result<_, _>>()?,
            max_session_ttl_seconds: self.max_session_ttl_seconds,
            disabled: self.disabled,
            created_at: self.created_at.clone(),
        })
    }
}

/// The columns [`session_from_row`] reads (a macro so queries stay static strings).
macro_rules! session_columns {
    () => {
        "id, workspace_id, agent_id, subject, user_subject, scopes, expires_at, revoked_at, agent_generation, created_at"
    };
}

fn session_from_row(r: &sqlx::any::AnyRow) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        agent_id: r.try_get("agent_id")?,
        subject: r.try_get("subject")?,
        user_subject: r.try_get("user_subject")?,
        scopes: scopes_from(&r.try_get::<String, _>("scopes")?)?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
        agent_generation: r.try_get("agent_generation")?,
        created_at: r.try_get("created_at")?,
    })
}

fn agent_from_row(r: &sqlx::any::AnyRow) -> Result<Agent, StoreError> {
    let ttl: i64 = r.try_get("max_session_ttl_seconds")?;
    Ok(Agent {
        agent_id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        name: r.try_get("name")?,
        scopes: scopes_from(&r.try_get::<String, _>("scopes")?)?,
        max_session_ttl_seconds: u64::try_from(ttl).unwrap_or(0),
        disabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
        created_at: rfc3339(r.try_get("created_at")?),
        credential_generation: r.try_get("credential_generation")?,
    })
}

impl Store {
    /// Create an agent; returns it and its credential (shown once).
    pub async fn create_agent(
        &self,
        workspace_id: &str,
        name: &str,
        scopes: &[String],
        max_session_ttl_seconds: u64,
    ) -> Result<(Agent, SecretString), StoreError> {
        self.require_workspace(workspace_id).await?;
        let hex_id = hex::encode(rand::random::<[u8; 8]>());
        let id = format!("{AGENT_ID_PREFIX}{hex_id}");
        let credential = new_credential(&hex_id);
        let now = now_ms();
        let ttl = i64::try_from(max_session_ttl_seconds).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO agents (id, workspace_id, name, scopes, max_session_ttl_seconds, credential_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&id)
        .bind(workspace_id)
        .bind(name)
        .bind(scopes_json(scopes))
        .bind(ttl)
        .bind(hash_credential(credential.expose()))
        .bind(now)
        .execute(&self.pool)
        .await?;
        let agent = Agent {
            agent_id: id,
            workspace_id: workspace_id.to_owned(),
            name: name.to_owned(),
            scopes: scopes.to_vec(),
            max_session_ttl_seconds,
            disabled: false,
            created_at: rfc3339(now),
            credential_generation: 0,
        };
        Ok((agent, credential))
    }

    pub async fn list_agents(&self, workspace_id: &str) -> Result<Vec<Agent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, workspace_id, name, scopes, max_session_ttl_seconds, disabled_at, created_at, credential_generation FROM agents WHERE workspace_id = $1 ORDER BY created_at, id",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(agent_from_row).collect()
    }

    pub async fn get_agent(
        &self,
        workspace_id: &str,
        agent_id: &str,
    ) -> Result<Option<Agent>, StoreError> {
        sqlx::query(
            "SELECT id, workspace_id, name, scopes, max_session_ttl_seconds, disabled_at, created_at, credential_generation FROM agents WHERE workspace_id = $1 AND id = $2",
        )
        .bind(workspace_id)
        .bind(agent_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(agent_from_row)
        .transpose()
    }

    /// Disable (`true`) or enable an agent. `NotFound` for an unknown agent.
    pub async fn set_agent_disabled(
        &self,
        workspace_id: &str,
        agent_id: &str,
        disabled: bool,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE agents SET disabled_at = CASE WHEN $1 = 1 THEN COALESCE(disabled_at, $2) ELSE NULL END, updated_at = $2, \
             credential_generation = credential_generation + $1 WHERE workspace_id = $3 AND id = $4",
        )
        .bind(i64::from(disabled))
        .bind(now)
        .bind(workspace_id)
        .bind(agent_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("agent `{agent_id}`")));
        }
        Ok(())
    }

    /// A new credential; the old one stops working with this update.
    pub async fn rotate_agent_credential(
        &self,
        workspace_id: &str,
        agent_id: &str,
    ) -> Result<SecretString, StoreError> {
        let hex_id = agent_id
            .strip_prefix(AGENT_ID_PREFIX)
            .ok_or_else(|| StoreError::NotFound(format!("agent `{agent_id}`")))?;
        let credential = new_credential(hex_id);
        let done = sqlx::query(
            "UPDATE agents SET credential_hash = $1, updated_at = $2, credential_generation = credential_generation + 1 \
             WHERE workspace_id = $3 AND id = $4",
        )
        .bind(hash_credential(credential.expose()))
        .bind(now_ms())
        .bind(workspace_id)
        .bind(agent_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("agent `{agent_id}`")));
        }
        Ok(credential)
    }

    /// The agent a credential belongs to, if the credential is current (disabled agents are
    /// returned too: the caller decides, and audits, the refusal). The credential names the
    /// agent's id but not its workspace, so this reads by `id` alone (index `agents_id`); on a
    /// sharded database it fans out (docs/operators/scaling.md).
    pub async fn agent_by_credential(
        &self,
        credential: &SecretString,
    ) -> Result<Option<Agent>, StoreError> {
        let Some(agent_id) = agent_id_of(credential.expose()) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT id, workspace_id, name, scopes, max_session_ttl_seconds, disabled_at, created_at, credential_generation, credential_hash FROM agents WHERE id = $1",
        )
        .bind(&agent_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.try_get("credential_hash")?;
        let presented = hash_credential(credential.expose());
        if bool::from(stored.as_bytes().ct_eq(presented.as_bytes())) {
            Ok(Some(agent_from_row(&row)?))
        } else {
            Ok(None)
        }
    }

    /// The agent by its key, (workspace_id, id) (for a session's agent).
    pub async fn agent_by_id(
        &self,
        workspace_id: &str,
        agent_id: &str,
    ) -> Result<Option<Agent>, StoreError> {
        sqlx::query(
            "SELECT id, workspace_id, name, scopes, max_session_ttl_seconds, disabled_at, created_at, credential_generation FROM agents WHERE workspace_id = $1 AND id = $2",
        )
            .bind(workspace_id)
            .bind(agent_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(agent_from_row)
            .transpose()
    }

    // ---- sessions ------------------------------------------------------------------------

    pub async fn insert_session(
        &self,
        s: &SessionRow,
        user_issuer: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO agent_sessions (id, workspace_id, agent_id, subject, user_subject, user_issuer, scopes, expires_at, created_at, agent_generation) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&s.id)
        .bind(&s.workspace_id)
        .bind(&s.agent_id)
        .bind(&s.subject)
        .bind(s.user_subject.as_deref())
        .bind(user_issuer)
        .bind(scopes_json(&s.scopes))
        .bind(s.expires_at)
        .bind(s.created_at)
        .bind(s.agent_generation)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A session by its key, (workspace_id, id): the workspace comes from the session token's
    /// signed claims or the admin path, so the lookup stays on one shard (issue 20).
    pub async fn get_session(
        &self,
        workspace_id: &str,
        session_id: &str,
    ) -> Result<Option<SessionRow>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM agent_sessions WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(workspace_id)
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// The sessions of an agent that have not expired, newest first (at most `limit`).
    pub async fn list_agent_sessions(
        &self,
        workspace_id: &str,
        agent_id: &str,
        limit: i64,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM agent_sessions WHERE workspace_id = $1 AND agent_id = $2 AND expires_at > $3 \
             ORDER BY created_at DESC, id LIMIT $4"
        ))
        .bind(workspace_id)
        .bind(agent_id)
        .bind(now_ms())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Revoke the live sessions of an agent (`session_id`: only that one). Returns how many
    /// this call revoked (sessions already revoked, expired or ended by a rotation are not
    /// counted).
    pub async fn revoke_agent_sessions(
        &self,
        workspace_id: &str,
        agent_id: &str,
        session_id: Option<&str>,
    ) -> Result<u64, StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE agent_sessions SET revoked_at = $1 \
             WHERE workspace_id = $2 AND agent_id = $3 AND revoked_at IS NULL AND expires_at > $1 \
             AND ($4 = '' OR id = $4) \
             AND agent_generation = (SELECT credential_generation FROM agents WHERE workspace_id = $2 AND id = $3)",
        )
        .bind(now)
        .bind(workspace_id)
        .bind(agent_id)
        .bind(session_id.unwrap_or(""))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Revoke; idempotent. Keyed by (workspace_id, id) like the table (issue 20).
    pub async fn revoke_session(
        &self,
        workspace_id: &str,
        session_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE agent_sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE workspace_id = $2 AND id = $3",
        )
        .bind(now_ms())
        .bind(workspace_id)
        .bind(session_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_id_is_read_from_well_formed_credentials_only() {
        assert_eq!(
            agent_id_of("nxa_0123456789abcdef_secret").as_deref(),
            Some("agt_0123456789abcdef")
        );
        assert_eq!(agent_id_of("nxa_0123456789abcdef_"), None);
        assert_eq!(agent_id_of("nxk_0123456789abcdef_x"), None);
        assert_eq!(agent_id_of("nxa_short_x"), None);
    }
}
