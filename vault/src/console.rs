//! The operators' console (design 18 §4): the connection list's filters and its opaque keyset
//! cursor. A cursor is bound to the filters it was made under (an 8-byte hash of them), so a
//! cursor pasted under other filters is refused rather than silently skipping rows.

use crate::error::VaultError;
use crate::store::Store;
use crate::store::connections::ConnectionRow;
pub use crate::store::console::ConsoleFilter;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nexus_protocol::ConnectionStatus;
use nexus_protocol::webhooks::ConnectionHealth;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Rows per page unless asked otherwise, and the most a page may hold.
pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;

/// How far back the console looks for who used a connection.
pub const USED_BY_WINDOW_MS: i64 = 7 * 24 * 3_600_000;

/// One page of connections and the cursor of the next (if any).
pub struct ConsolePage {
    pub rows: Vec<ConnectionRow>,
    pub next_cursor: Option<String>,
    /// Per connection of the page: the principals that resolved it in the last
    /// [`USED_BY_WINDOW_MS`], most recent first, with when.
    pub used_by: HashMap<String, Vec<(String, i64)>>,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    v: u8,
    k: (i64, String),
    f: String,
}

fn filter_hash(f: &ConsoleFilter) -> String {
    let text = serde_json::to_string(&(
        &f.workspace_id,
        &f.provider_name,
        &f.status,
        &f.user_id,
        &f.health,
    ))
    .unwrap_or_default();
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// Check filters typed into the console's form: a status must be one of the statuses; other
/// values are bounded. Empty strings mean "no filter".
pub fn clean_filter(raw: ConsoleFilter) -> Result<ConsoleFilter, VaultError> {
    let clean = |v: Option<String>| -> Result<Option<String>, VaultError> {
        match v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
            Some(s) if s.len() > 256 || s.chars().any(char::is_control) => Err(
                VaultError::invalid("a filter value is too long or not printable"),
            ),
            other => Ok(other),
        }
    };
    let status = clean(raw.status)?;
    if let Some(s) = &status
        && ConnectionStatus::parse(s).is_none()
    {
        return Err(VaultError::invalid(
            "status must be pending, active, needs_reauth, revoked or failed",
        ));
    }
    let health = clean(raw.health)?;
    if let Some(h) = &health
        && ConnectionHealth::parse(h).is_none()
    {
        return Err(VaultError::invalid(
            "health must be ok, failing or needs_reauth",
        ));
    }
    Ok(ConsoleFilter {
        workspace_id: clean(raw.workspace_id)?,
        provider_name: clean(raw.provider_name)?,
        status,
        user_id: clean(raw.user_id)?,
        health,
    })
}

/// One page of the connection list.
pub async fn connections_page(
    store: &Store,
    filter: &ConsoleFilter,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<ConsolePage, VaultError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(VaultError::invalid(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    let hash = filter_hash(filter);
    let after = match cursor.filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => {
            let invalid = || {
                VaultError::invalid("invalid_cursor: this page link is not valid for these filters")
            };
            let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
            let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
            if c.v != 1 || c.f != hash {
                return Err(invalid());
            }
            Some(c.k)
        }
    };
    let mut rows = store
        .console_connections(
            filter,
            after.as_ref().map(|(t, id)| (*t, id.as_str())),
            limit + 1,
        )
        .await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|last| {
            let c = Cursor {
                v: 1,
                k: (last.updated_at, last.id.clone()),
                f: hash.clone(),
            };
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap_or_default())
        })
    } else {
        None
    };
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let used_by = store
        .recent_usage(&ids, crate::store::now_ms() - USED_BY_WINDOW_MS)
        .await?;
    Ok(ConsolePage {
        rows,
        next_cursor,
        used_by,
    })
}
