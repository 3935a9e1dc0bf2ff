//! The grants of the token endpoint: authorization code (with PKCE), refresh (rotation and reuse
//! detection) and client credentials.

use super::*;

impl Provider {
    /// Remember an approved authorization request and return its one-time code.
    pub(crate) fn issue_code(
        &mut self,
        redirect_uri: String,
        code_challenge: String,
        scopes: Vec<String>,
        nonce: Option<String>,
    ) -> String {
        let code = random_token("code_");
        let grant_id = self.new_grant_id();
        let pending = PendingCode {
            redirect_uri,
            code_challenge,
            scopes,
            nonce,
            issued_at: SystemTime::now(),
            grant_id,
            redeemed: false,
        };
        self.codes.insert(code.clone(), pending);
        code
    }

    /// `grant_type=authorization_code`, after client authentication.
    pub(crate) fn redeem_code(
        &mut self,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        with_refresh_token: bool,
    ) -> Result<Issued, GrantError> {
        let Some(pending) = self.codes.get_mut(code) else {
            return Err(GrantError::new(
                "invalid_grant",
                "unknown authorization code",
            ));
        };
        if pending.redeemed {
            // RFC 6749 §4.1.2: a reused code should revoke what it produced.
            let grant_id = pending.grant_id;
            self.revoke_grant(grant_id);
            return Err(GrantError::new(
                "invalid_grant",
                "authorization code already used",
            ));
        }
        let expired = pending
            .issued_at
            .elapsed()
            .map(|age| age > CODE_LIFETIME)
            .unwrap_or(false);
        if expired {
            return Err(GrantError::new(
                "invalid_grant",
                "authorization code expired",
            ));
        }
        if redirect_uri != Some(pending.redirect_uri.as_str()) {
            return Err(GrantError::new(
                "invalid_grant",
                "redirect_uri does not match the authorization request",
            ));
        }
        let Some(verifier) = code_verifier else {
            return Err(GrantError::new(
                "invalid_grant",
                "code_verifier is required (PKCE)",
            ));
        };
        if !verifier_syntax_ok(verifier) {
            return Err(GrantError::new(
                "invalid_grant",
                "code_verifier must be 43-128 unreserved characters",
            ));
        }
        if pkce_s256(verifier) != pending.code_challenge {
            return Err(GrantError::new(
                "invalid_grant",
                "code_verifier does not match code_challenge",
            ));
        }
        // Only a successful redemption uses the code up, so a client can retry after its own
        // mistake; a second successful redemption is the reuse handled above.
        pending.redeemed = true;
        let (scopes, nonce, grant_id) = (
            pending.scopes.clone(),
            pending.nonce.clone(),
            pending.grant_id,
        );
        let mut issued = self.issue(grant_id, scopes, with_refresh_token);
        issued.nonce = nonce;
        Ok(issued)
    }

    /// `grant_type=refresh_token`, after client authentication. `rotate` is false only when an
    /// injected failure simulates a provider that keeps the same refresh token.
    pub(crate) fn refresh(
        &mut self,
        refresh_token: &str,
        requested_scope: Option<&str>,
        rotate: bool,
    ) -> Result<Issued, GrantError> {
        let client_id = self.settings.client_id.clone();
        let Some(stored) = self.refresh_tokens.get_mut(refresh_token) else {
            return Err(GrantError::new("invalid_grant", "unknown refresh token"));
        };
        match stored.state {
            RefreshState::Active => {}
            RefreshState::Rotated => {
                let grant_id = stored.grant_id;
                if self.settings.reuse_revokes_grant {
                    self.revoke_grant(grant_id);
                }
                return Err(GrantError {
                    reuse_detected: true,
                    ..GrantError::new("invalid_grant", "refresh token was already used (rotated)")
                });
            }
            RefreshState::Revoked => {
                return Err(GrantError::new(
                    "invalid_grant",
                    "refresh token was revoked",
                ));
            }
        }
        if stored.client_id != client_id {
            return Err(GrantError::new(
                "invalid_grant",
                "refresh token was issued to another client",
            ));
        }
        let granted = stored.scopes.clone();
        let scopes = narrowed_scopes(&granted, requested_scope)?;
        let grant_id = stored.grant_id;
        if rotate {
            stored.state = RefreshState::Rotated;
        }
        let mut issued = self.issue_access(grant_id, scopes);
        if rotate {
            issued.refresh_token = Some(self.issue_refresh(grant_id, granted));
        }
        Ok(issued)
    }

    /// `grant_type=client_credentials`: an access token only, for the requested scopes.
    pub(crate) fn client_credentials(&mut self, requested_scope: Option<&str>) -> Issued {
        let scopes = self.grantable(requested_scope.map(parse_scopes).unwrap_or_default());
        let grant_id = self.new_grant_id();
        self.issue(grant_id, scopes, false)
    }

    /// Seed a connection without the browser dance (test helper).
    pub(crate) fn issue_directly(&mut self, scopes: Vec<String>) -> Issued {
        let grant_id = self.new_grant_id();
        self.issue(grant_id, scopes, true)
    }
}
