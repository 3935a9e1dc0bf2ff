//! A fake OAuth 2.0 / OpenID Connect authorization server that behaves like real providers,
//! with failure injection and counters. See [`OAuthServer`].
//!
//! Endpoints (relative to [`OAuthServer::url`], which is also the issuer):
//!
//! | endpoint | what |
//! | --- | --- |
//! | `GET /authorize` | validates client, redirect URI, `response_type=code`, PKCE S256, `state`; redirects (302) with `code`, `state`, `iss` (or `error=access_denied` in deny mode) |
//! | `POST /token` | `authorization_code`, `refresh_token` (rotating), `client_credentials` |
//! | `GET /userinfo` | `Authorization: Bearer <access token>` → `{sub, scope, exp}` or 401 |
//! | `POST /introspect` | form `token=…` → RFC 7662-style [`Introspection`] (no client auth) |
//! | `POST /revoke` | form `token=…` → 200 (RFC 7009) |
//! | `GET /.well-known/openid-configuration`, `GET /.well-known/oauth-authorization-server` | discovery |
//! | `GET /jwks` | the RS256 key that signs ID tokens |
//!
//! Control endpoints, for tests in other languages (each mirrors a Rust method):
//!
//! | endpoint | Rust |
//! | --- | --- |
//! | `GET /_control/stats` | [`OAuthServer::stats`] |
//! | `GET /_control/token-requests` | [`OAuthServer::token_request_log`] |
//! | `GET /_control/wait?token_requests=N&…&timeout_ms=M` (200 stats, or 408) | [`OAuthServer::wait_for`] |
//! | `POST /_control/failures` (a [`FailureSpec`], an array, or `{"failures":[…]}`) / `DELETE` | [`OAuthServer::inject_failures`] / [`OAuthServer::clear_failures`] |
//! | `POST /_control/config` `{client_auth, authorize_mode, iss_param, advertise_iss_support, access_token_ttl_secs, redirect_uris, grantable_scopes, reuse_revokes_grant}` (all optional) | the `set_*` methods |
//! | `POST /_control/issue` `{"scopes":[…]}` → `{access_token, refresh_token, expires_in, scope}` | [`OAuthServer::issue_tokens_directly`] |
//! | `POST /_control/expire` `{"access_token":"…"}` or `{}` (all) | [`OAuthServer::expire_access_token`] |
//! | `POST /_control/revoke-all` | [`OAuthServer::revoke_all`] |
//! | `POST /_control/revoke-access-tokens` → `{"revoked": n}` | [`OAuthServer::revoke_access_tokens`] |

mod control;
mod failure;
mod id_token;
mod options;
mod provider;
mod routes;
mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;

pub use failure::{Failure, FailureSpec};
pub use id_token::SIGNING_KEY_ID;
pub use options::{AuthorizeMode, ClientAuth, IssParam, OAuthServerOptions};
pub use provider::{Introspection, pkce_s256};
pub use stats::{OAuthStats, TokenRequestRecord, WaitTimeout};

use crate::serve::RunningServer;
use id_token::IdTokenSigner;
use provider::{Issued, Provider};

/// State shared by all handlers of one server.
pub(crate) struct Shared {
    /// The base URL, used as the issuer identifier.
    issuer: String,
    provider: Mutex<Provider>,
    /// Counters live in a watch channel so tests can wait on them instead of sleeping.
    stats: watch::Sender<OAuthStats>,
    signer: IdTokenSigner,
}

/// A running fake OAuth provider on loopback. Dropping it stops the server.
///
/// ```no_run
/// # async fn demo() {
/// use nexus_testkit::{OAuthServer, OAuthServerOptions, Failure};
/// use std::time::Duration;
///
/// let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
/// let (_access, refresh) = oauth.issue_tokens_directly(["repo", "user"]);
/// oauth.inject_failure(Failure::ServerError(503));
/// // ... let the code under test refresh `refresh` via oauth.token_url() ...
/// oauth.wait_for_token_requests(2, Duration::from_secs(5)).await.unwrap();
/// # let _ = refresh;
/// # }
/// ```
pub struct OAuthServer {
    shared: Arc<Shared>,
    server: RunningServer,
}

impl std::fmt::Debug for OAuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthServer")
            .field("url", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

impl OAuthServer {
    /// Start on `options.addr` (default `127.0.0.1:0`).
    ///
    /// # Panics
    /// If the address cannot be bound. Use [`OAuthServer::try_start`] to handle that.
    pub async fn start(options: OAuthServerOptions) -> Self {
        match Self::try_start(options).await {
            Ok(server) => server,
            Err(error) => panic!("nexus-testkit: could not start the OAuth server: {error}"),
        }
    }

    /// Start on `options.addr`, reporting a bind failure.
    pub async fn try_start(options: OAuthServerOptions) -> std::io::Result<Self> {
        let signer = IdTokenSigner::new().map_err(std::io::Error::other)?;
        let addr = options.addr;
        let provider = Mutex::new(Provider::new(options));
        let (stats, _) = watch::channel(OAuthStats::default());
        let mut shared_slot = None;
        let server = RunningServer::start(addr, |url| {
            let shared = Arc::new(Shared {
                issuer: url.to_owned(),
                provider,
                stats,
                signer,
            });
            shared_slot = Some(shared.clone());
            routes::router().merge(control::router()).with_state(shared)
        })
        .await?;
        let shared = shared_slot.ok_or_else(|| std::io::Error::other("router was not built"))?;
        Ok(Self { shared, server })
    }

    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash). Also the issuer identifier.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The issuer identifier (`iss` of ID tokens and authorization responses); same as `url()`.
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `{url}/authorize`.
    pub fn authorize_url(&self) -> String {
        format!("{}/authorize", self.shared.issuer)
    }

    /// `{url}/token`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.shared.issuer)
    }

    /// `{url}/jwks`.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.shared.issuer)
    }

    /// `{url}/userinfo`.
    pub fn userinfo_url(&self) -> String {
        format!("{}/userinfo", self.shared.issuer)
    }

    /// `{url}/introspect`.
    pub fn introspect_url(&self) -> String {
        format!("{}/introspect", self.shared.issuer)
    }

    /// `{url}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.shared.issuer)
    }

    /// The registered client's id.
    pub fn client_id(&self) -> String {
        self.shared.provider.lock().settings.client_id.clone()
    }

    /// The registered client's secret.
    pub fn client_secret(&self) -> String {
        self.shared.provider.lock().settings.client_secret.clone()
    }

    // -- failure injection ----------------------------------------------------------------

    /// Queue one failure for the next token request that finds the queue non-empty.
    pub fn inject_failure(&self, failure: Failure) {
        self.inject_failures([failure]);
    }

    /// Queue failures; the next N token requests consume them in order.
    pub fn inject_failures(&self, failures: impl IntoIterator<Item = Failure>) {
        push_failures(&self.shared, failures);
    }

    /// Drop every queued failure.
    pub fn clear_failures(&self) {
        clear_failures(&self.shared);
    }

    // -- observation ----------------------------------------------------------------------

    /// The counters now.
    pub fn stats(&self) -> OAuthStats {
        self.shared.stats.borrow().clone()
    }

    /// Every token request so far, oldest first (no secrets recorded).
    pub fn token_request_log(&self) -> Vec<TokenRequestRecord> {
        self.shared.provider.lock().log.clone()
    }

    /// Wait until `condition` holds for the counters, or `timeout` passes. Returns the counters
    /// that satisfied it. Never sleeps: it wakes on every counter change.
    pub async fn wait_for(
        &self,
        condition: impl FnMut(&OAuthStats) -> bool,
        timeout: Duration,
    ) -> Result<OAuthStats, WaitTimeout<OAuthStats>> {
        let started = Instant::now();
        let mut receiver = self.shared.stats.subscribe();
        match tokio::time::timeout(timeout, receiver.wait_for(condition)).await {
            Ok(Ok(stats)) => Ok(stats.clone()),
            _ => Err(WaitTimeout {
                waited_ms: started.elapsed().as_millis(),
                last: self.stats(),
            }),
        }
    }

    /// Wait until at least `count` token requests (any grant) have arrived.
    pub async fn wait_for_token_requests(
        &self,
        count: u64,
        timeout: Duration,
    ) -> Result<OAuthStats, WaitTimeout<OAuthStats>> {
        self.wait_for(|s| s.token_requests >= count, timeout).await
    }

    /// Wait until at least `count` refresh grants have succeeded.
    pub async fn wait_for_refreshes(
        &self,
        count: u64,
        timeout: Duration,
    ) -> Result<OAuthStats, WaitTimeout<OAuthStats>> {
        self.wait_for(|s| s.refresh_accepted >= count, timeout)
            .await
    }

    /// A JWT with exactly `claims` (no defaults added), signed RS256 by this server's published
    /// key (`jwks_url`, `kid` [`SIGNING_KEY_ID`]): a user token from this issuer, for
    /// On-Behalf-Of tests. Set `iss` to [`OAuthServer::issuer`] for a token this issuer vouches
    /// for, or anything else to forge one.
    pub fn mint_jwt(&self, claims: &serde_json::Value) -> String {
        self.shared
            .signer
            .sign_any(claims)
            .unwrap_or_else(|e| panic!("test key cannot sign: {e}"))
    }

    /// Like [`OAuthServer::mint_jwt`] with the JOSE header `typ` set: an ID-JAG
    /// (`oauth-id-jag+jwt`) from this issuer, for the authorization server's JWT-bearer grant.
    pub fn mint_jwt_typed(&self, typ: &str, claims: &serde_json::Value) -> String {
        self.shared
            .signer
            .sign_typed(typ, claims)
            .unwrap_or_else(|e| panic!("test key cannot sign: {e}"))
    }

    /// What the provider knows about a token (access or refresh): active, scopes, expiry.
    pub fn introspect(&self, token: &str) -> Introspection {
        self.shared.provider.lock().introspect(token)
    }

    // -- seeding and revocation -----------------------------------------------------------

    /// Issue an access token and a refresh token for `scopes` to the registered client, as if
    /// the authorization code flow had just completed. Returns `(access_token, refresh_token)`.
    pub fn issue_tokens_directly<S: Into<String>>(
        &self,
        scopes: impl IntoIterator<Item = S>,
    ) -> (String, String) {
        let issued = issue_directly(&self.shared, scopes.into_iter().map(Into::into).collect());
        (
            issued.access_token,
            issued.refresh_token.unwrap_or_default(),
        )
    }

    /// Make one access token expired now (introspection and `/userinfo` report it inactive).
    /// Returns whether the token was known.
    pub fn expire_access_token(&self, access_token: &str) -> bool {
        self.shared
            .provider
            .lock()
            .expire_access_token(access_token)
    }

    /// Make every access token issued so far expired. Returns how many there were.
    pub fn expire_all_access_tokens(&self) -> usize {
        self.shared.provider.lock().expire_all_access_tokens()
    }

    /// Revoke one access or refresh token (as `POST /revoke` does). Returns whether it was known.
    pub fn revoke_token(&self, token: &str) -> bool {
        self.shared.provider.lock().revoke_token(token)
    }

    /// Provider-side early revocation: every access token issued so far stops being active
    /// before its expiry (introspection, `/userinfo` and an echo gated on
    /// [`crate::Requirement::OauthToken`] reject it with 401), while refresh tokens stay valid,
    /// so a refresh issues a new, accepted access token. What a client sees when a user changes
    /// their password: a cached token that is dead early. Returns how many were still live.
    pub fn revoke_access_tokens(&self) -> usize {
        self.shared.provider.lock().revoke_access_tokens()
    }

    /// Revoke every access and refresh token (the user disconnected the app at the provider):
    /// the next refresh gets `invalid_grant`. Returns how many of them were still usable.
    pub fn revoke_all(&self) -> usize {
        self.shared.provider.lock().revoke_all()
    }

    // -- run-time settings ----------------------------------------------------------------

    /// `expires_in` of access tokens issued from now on (`Duration::ZERO` issues tokens that
    /// are already expired; `expires_in` is whole seconds).
    pub fn set_access_token_ttl(&self, ttl: Duration) {
        self.shared.provider.lock().settings.access_token_ttl = ttl;
    }

    /// Approve or deny authorization requests from now on.
    pub fn set_authorize_mode(&self, mode: AuthorizeMode) {
        self.shared.provider.lock().settings.authorize_mode = mode;
    }

    /// The `iss` parameter of authorization responses from now on.
    pub fn set_iss_param(&self, iss: IssParam) {
        self.shared.provider.lock().settings.iss_param = iss;
    }

    /// Whether discovery advertises `authorization_response_iss_parameter_supported` from now
    /// on (clients cache discovery: set it before the client first looks).
    pub fn set_advertise_iss_support(&self, advertise: bool) {
        self.shared.provider.lock().settings.advertise_iss_support = advertise;
    }

    /// The client authentication required from now on.
    pub fn set_client_auth(&self, client_auth: ClientAuth) {
        self.shared.provider.lock().settings.client_auth = client_auth;
    }

    /// Registered redirect URIs (empty: any absolute http/https URI).
    pub fn set_redirect_uris<S: Into<String>>(&self, uris: impl IntoIterator<Item = S>) {
        self.shared.provider.lock().settings.redirect_uris =
            uris.into_iter().map(Into::into).collect();
    }

    /// Restrict granted scopes to this list (`None`: grant whatever is requested).
    pub fn set_grantable_scopes(&self, scopes: Option<Vec<String>>) {
        self.shared.provider.lock().settings.grantable_scopes = scopes;
    }

    /// Stop the server and wait until it has stopped (dropping it also stops it).
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn push_failures(shared: &Shared, failures: impl IntoIterator<Item = Failure>) -> u64 {
    let mut provider = shared.provider.lock();
    provider.failures.extend(failures);
    let pending = provider.failures.len() as u64;
    shared.stats.send_modify(|s| s.failures_pending = pending);
    pending
}

fn clear_failures(shared: &Shared) {
    shared.provider.lock().failures.clear();
    shared.stats.send_modify(|s| s.failures_pending = 0);
}

fn issue_directly(shared: &Shared, scopes: Vec<String>) -> Issued {
    let issued = shared.provider.lock().issue_directly(scopes);
    shared.stats.send_modify(|s| s.access_tokens_issued += 1);
    issued
}
