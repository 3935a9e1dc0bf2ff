//! The MCP user's own upstream credential on `NativeClient` (`userCredential`,
//! `prepareUserRequest`, `prepareUserRetry`), wrapped by `src/mcp.ts`.
//!
//! Glue only: the gateway call, the cache (namespaced per workspace, issuer and user), single
//! flight, expiry and the 401 rule are the core's (`nexus_sdk::resource_server::upstream`).
//! The user arrives as the object `authenticate` produced (`NativeMcpUser`, token included).

use crate::client::{NativeClient, generation_from_js, request_fields};
use crate::convert::{NativeCredential, NativePrepared, NativeRequest};
use crate::error::to_napi;
use crate::resource_server::NativeMcpUser;
use napi_derive::napi;
use nexus_sdk::resource_server::AuthenticatedUser;
use nexus_sdk::{RequestParts, ResolveOptions, SecretString};

fn core_user(u: NativeMcpUser) -> AuthenticatedUser {
    AuthenticatedUser {
        subject: u.subject,
        workspace_id: u.workspace_id,
        client_id: u.client_id,
        scopes: u.scopes,
        expires_at: u.expires_at as i64,
        issuer: u.issuer,
        resource: u.resource,
        actor: u.actor,
        grant_id: u.grant_id,
        token_id: u.token_id,
        token: SecretString::new(u.token),
    }
}

#[napi]
impl NativeClient {
    /// `user`'s credential for `provider` through this client's cache (one gateway call per
    /// user and provider, shared by concurrent callers). Rejects with `connection_required`
    /// when the user has not connected the provider.
    #[napi]
    pub async fn user_credential(
        &self,
        user: NativeMcpUser,
        provider: String,
        force_refresh: Option<bool>,
        min_ttl_seconds: Option<u32>,
    ) -> napi::Result<NativeCredential> {
        let options = ResolveOptions {
            min_ttl: min_ttl_seconds.map(u64::from),
            force_refresh: force_refresh.unwrap_or(false),
        };
        let token = self
            .core()
            .user_credential(self.token_cache(), &core_user(user), &provider, options)
            .await
            .map_err(to_napi)?;
        Ok(NativeCredential::from(token.as_ref()))
    }

    /// `user`'s credential applied to `request`; the caller sends it (`generation` names the
    /// token, for [`Self::prepare_user_retry`]).
    #[napi]
    pub async fn prepare_user_request(
        &self,
        user: NativeMcpUser,
        provider: String,
        request: NativeRequest,
    ) -> napi::Result<NativePrepared> {
        let (method, url, headers, body) = request_fields(request);
        let parts = RequestParts {
            method: &method,
            url: &url,
            headers: &headers,
            body: &body,
        };
        let prepared = self
            .core()
            .prepare_user_request(self.token_cache(), &core_user(user), &provider, &parts)
            .await
            .map_err(to_napi)?;
        Ok(prepared.into())
    }

    /// After the upstream rejected (401) the user's token of `rejectedGeneration`: the core's 401
    /// rule replaces it and applies the new one to `request`, to send once more.
    #[napi]
    pub async fn prepare_user_retry(
        &self,
        user: NativeMcpUser,
        provider: String,
        request: NativeRequest,
        rejected_generation: f64,
    ) -> napi::Result<NativePrepared> {
        let (method, url, headers, body) = request_fields(request);
        let parts = RequestParts {
            method: &method,
            url: &url,
            headers: &headers,
            body: &body,
        };
        let prepared = self
            .core()
            .prepare_user_retry(
                self.token_cache(),
                &core_user(user),
                &provider,
                generation_from_js(rejected_generation)?,
                &parts,
            )
            .await
            .map_err(to_napi)?;
        Ok(prepared.into())
    }
}
