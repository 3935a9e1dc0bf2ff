//! What happens to issued tokens: introspection (RFC 7662), expiry on request, revocation
//! (RFC 7009) of one token, all access tokens, or everything.

use super::*;

impl Provider {
    pub(crate) fn introspect(&self, token: &str) -> Introspection {
        let sub = Some(self.settings.subject.clone());
        if let Some(access) = self.access_tokens.get(token) {
            return Introspection {
                active: !access.revoked && access.expires_at > SystemTime::now(),
                scope: Some(access.scopes.join(" ")),
                client_id: Some(access.client_id.clone()),
                sub,
                exp: Some(unix_seconds(access.expires_at)),
                token_type: Some("access_token".to_owned()),
            };
        }
        if let Some(refresh) = self.refresh_tokens.get(token) {
            return Introspection {
                active: refresh.state == RefreshState::Active,
                scope: Some(refresh.scopes.join(" ")),
                client_id: Some(refresh.client_id.clone()),
                sub,
                exp: None,
                token_type: Some("refresh_token".to_owned()),
            };
        }
        Introspection::inactive()
    }

    /// Make one access token expired. Returns whether the token was known.
    pub(crate) fn expire_access_token(&mut self, token: &str) -> bool {
        match self.access_tokens.get_mut(token) {
            Some(access) => {
                access.expires_at = UNIX_EPOCH;
                true
            }
            None => false,
        }
    }

    /// Make every access token expired. Returns how many there were.
    pub(crate) fn expire_all_access_tokens(&mut self) -> usize {
        for access in self.access_tokens.values_mut() {
            access.expires_at = UNIX_EPOCH;
        }
        self.access_tokens.len()
    }

    /// Revoke one token of either kind (RFC 7009). Returns whether it was known.
    pub(crate) fn revoke_token(&mut self, token: &str) -> bool {
        if let Some(access) = self.access_tokens.get_mut(token) {
            access.revoked = true;
            return true;
        }
        if let Some(refresh) = self.refresh_tokens.get_mut(token) {
            refresh.state = RefreshState::Revoked;
            return true;
        }
        false
    }

    /// Revoke every access token issued so far, before its expiry, and keep the refresh tokens
    /// (provider-side early revocation: a password change, an admin action). Introspection
    /// reports them inactive, so an echo gated on [`crate::Requirement::OauthToken`] answers 401,
    /// while a refresh still issues a new, active access token. Returns how many were live.
    pub(crate) fn revoke_access_tokens(&mut self) -> usize {
        let now = SystemTime::now();
        let mut count = 0;
        for access in self.access_tokens.values_mut() {
            count += usize::from(!access.revoked && access.expires_at > now);
            access.revoked = true;
        }
        count
    }

    /// Revoke every token (the user disconnected the app at the provider). Returns how many
    /// tokens were still usable (unexpired access tokens, unrotated refresh tokens).
    pub(crate) fn revoke_all(&mut self) -> usize {
        let now = SystemTime::now();
        let mut count = 0;
        for access in self.access_tokens.values_mut() {
            count += usize::from(!access.revoked && access.expires_at > now);
            access.revoked = true;
        }
        for refresh in self.refresh_tokens.values_mut() {
            count += usize::from(refresh.state == RefreshState::Active);
            refresh.state = RefreshState::Revoked;
        }
        count
    }

    pub(super) fn revoke_grant(&mut self, grant_id: u64) {
        for access in self
            .access_tokens
            .values_mut()
            .filter(|a| a.grant_id == grant_id)
        {
            access.revoked = true;
        }
        for refresh in self
            .refresh_tokens
            .values_mut()
            .filter(|r| r.grant_id == grant_id)
        {
            refresh.state = RefreshState::Revoked;
        }
    }
}
