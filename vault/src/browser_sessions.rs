//! Browser sessions (design 18 §3): what a connect-page or console cookie stands for.
//!
//! A cookie value is 32 random bytes (b64url); the database keeps its SHA-256 only. Sessions
//! end after an idle period or an absolute lifetime, whichever comes first: connect 30 min idle /
//! 2 h absolute, console 30 min idle / 8 h absolute. The CSRF key is derived from the master key
//! (label `nexus:csrf:v1`), so every broker replica computes the same form tokens.

use crate::connections::links::ConnectLinkClaims;
use crate::error::VaultError;
use crate::oauth::random_token;
use crate::store::Store;
use crate::store::browser_sessions::BrowserSessionRow;
use nexus_protocol::SecretString;
use sha2::{Digest, Sha256};

const MINUTE_MS: i64 = 60 * 1000;

/// The two kinds of browser session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Connect,
    Console,
}

impl SessionKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Console => "console",
        }
    }

    fn idle_ms(self) -> i64 {
        30 * MINUTE_MS
    }

    fn absolute_ms(self) -> i64 {
        match self {
            Self::Connect => 120 * MINUTE_MS,
            Self::Console => 480 * MINUTE_MS,
        }
    }
}

/// A live session, as handlers see it.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    /// SHA-256 (hex) of the cookie value: binds CSRF tokens, names the row.
    pub id_hash: String,
    pub kind: SessionKind,
    pub workspace_id: Option<String>,
    pub user_id: Option<String>,
    pub providers: Vec<String>,
    pub subject: Option<String>,
}

impl BrowserSession {
    /// May this session connect `provider`?
    pub fn allows(&self, provider: &str) -> bool {
        self.providers.is_empty() || self.providers.iter().any(|p| p == provider)
    }
}

/// Creates and looks up browser sessions.
#[derive(Clone)]
pub struct BrowserSessions {
    store: Store,
}

fn hash(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

impl BrowserSessions {
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }

    /// A connect session for a redeemed link. Returns the cookie value (shown to the browser
    /// once) and the session.
    pub async fn start_connect(
        &self,
        claims: &ConnectLinkClaims,
        now: i64,
    ) -> Result<(SecretString, BrowserSession), VaultError> {
        self.start(
            SessionKind::Connect,
            Some(claims.w.clone()),
            claims.u.clone(),
            claims.p.clone(),
            None,
            now,
        )
        .await
    }

    /// A console session for an operator (`subject` names how they signed in).
    pub async fn start_console(
        &self,
        subject: &str,
        now: i64,
    ) -> Result<(SecretString, BrowserSession), VaultError> {
        self.start(
            SessionKind::Console,
            None,
            None,
            Vec::new(),
            Some(subject.to_owned()),
            now,
        )
        .await
    }

    async fn start(
        &self,
        kind: SessionKind,
        workspace_id: Option<String>,
        user_id: Option<String>,
        providers: Vec<String>,
        subject: Option<String>,
        now: i64,
    ) -> Result<(SecretString, BrowserSession), VaultError> {
        let cookie = SecretString::new(random_token(32));
        let row = BrowserSessionRow {
            id_hash: hash(cookie.expose()),
            kind: kind.as_str().to_owned(),
            workspace_id,
            user_id,
            providers,
            subject,
            created_at: now,
            last_seen_at: now,
            expires_at: now + kind.absolute_ms(),
        };
        self.store.insert_browser_session(&row).await?;
        Ok((cookie, session_of(row, kind)))
    }

    /// The live session of `kind` behind a cookie value, if any (idle timer restarted).
    pub async fn lookup(
        &self,
        kind: SessionKind,
        cookie: &str,
        now: i64,
    ) -> Result<Option<BrowserSession>, VaultError> {
        if cookie.is_empty() || cookie.len() > 128 {
            return Ok(None);
        }
        Ok(self
            .store
            .touch_browser_session(&hash(cookie), kind.as_str(), now, kind.idle_ms())
            .await?
            .map(|row| session_of(row, kind)))
    }

    /// Sign out: the row goes, the cookie stops working everywhere.
    pub async fn end(&self, session: &BrowserSession) -> Result<(), VaultError> {
        Ok(self.store.delete_browser_session(&session.id_hash).await?)
    }

    /// The key CSRF tokens are computed with (derived from the active master key).
    pub fn csrf_key(&self) -> [u8; 32] {
        self.store.sealer().derive_key("nexus:csrf:v1")
    }
}

fn session_of(row: BrowserSessionRow, kind: SessionKind) -> BrowserSession {
    BrowserSession {
        id_hash: row.id_hash,
        kind,
        workspace_id: row.workspace_id,
        user_id: row.user_id,
        providers: row.providers,
        subject: row.subject,
    }
}
