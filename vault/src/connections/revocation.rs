//! RFC 7009 token revocation at the provider, used by disconnect.
//!
//! One `POST` of `token=…&token_type_hint=…` to the provider's revocation endpoint with the
//! same client authentication as its token endpoint; a 503 with a short `Retry-After` is tried
//! once more. The outcome is a typed value the page can describe; no response body is kept
//! beyond a sanitized OAuth `error` code (a body may echo the token).

use crate::oauth::{ClientAuthentication, OAuthClient, describe, safe_code};
use crate::providers::Provider;
use nexus_protocol::SecretString;
use std::time::Duration;

/// Longest `Retry-After` honoured before the single retry.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// What the provider said about a revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// The endpoint answered 200: the grant is gone at the provider.
    Revoked,
    /// The provider declares no revocation endpoint (or the credential is static).
    Unsupported,
    /// The endpoint could not be reached or refused: `status` (if any) and OAuth `error` code.
    Failed {
        status: Option<u16>,
        error: Option<String>,
    },
}

/// Which token is sent (`token_type_hint`).
#[derive(Debug, Clone, Copy)]
pub enum TokenKind {
    Refresh,
    Access,
}

impl TokenKind {
    fn hint(self) -> &'static str {
        match self {
            Self::Refresh => "refresh_token",
            Self::Access => "access_token",
        }
    }
}

impl OAuthClient {
    /// Revoke `token` at `endpoint` (RFC 7009 §2.1).
    pub async fn revoke(
        &self,
        p: &Provider,
        secret: Option<&SecretString>,
        endpoint: &str,
        token: &SecretString,
        kind: TokenKind,
    ) -> Revocation {
        let mut form = vec![
            ("token", token.expose().to_owned()),
            ("token_type_hint", kind.hint().to_owned()),
        ];
        let client = ClientAuthentication::new(p, secret, &mut form);
        let mut retried = false;
        loop {
            let req = client.apply(self.http.post(endpoint).form(&form));
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(provider = %p.name, error = %describe(&e), "revocation failed");
                    return Revocation::Failed {
                        status: None,
                        error: None,
                    };
                }
            };
            let status = resp.status().as_u16();
            if status == 200 {
                return Revocation::Revoked;
            }
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .filter(|d| *d <= MAX_RETRY_AFTER);
            if status == 503
                && !retried
                && let Some(wait) = retry_after
            {
                retried = true;
                tokio::time::sleep(wait).await;
                continue;
            }
            let error = resp
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v.get("error")?.as_str().map(safe_code));
            return Revocation::Failed {
                status: Some(status),
                error,
            };
        }
    }
}
