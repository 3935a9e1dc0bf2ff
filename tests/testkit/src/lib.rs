//! Loopback test servers for Nexus: a fake OAuth provider with failure injection
//! ([`OAuthServer`]), an echo upstream ([`EchoServer`]) and a credential-checking WebSocket
//! upstream with its own token endpoint ([`WsServer`]), and a webhook receiver that verifies
//! Standard Webhooks signatures with its own HMAC code ([`WebhookReceiver`]).
//!
//! Both bind `127.0.0.1:0` by default and serve real HTTP, so the code under test runs exactly
//! as in production. Every behaviour can be driven from Rust or over HTTP (`/_control/*`), and
//! the `nexus-testkit` binary starts either server for tests written in Python, Node or Go.
//!
//! ```no_run
//! use std::time::Duration;
//! use nexus_testkit::{EchoServer, Failure, OAuthServer, OAuthServerOptions, Requirement};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let oauth = OAuthServer::start(OAuthServerOptions::default()).await;
//! let (access, refresh) = oauth.issue_tokens_directly(["read", "write"]);
//!
//! let echo = EchoServer::start().await;
//! echo.require(Requirement::bearer(&access));
//!
//! // The next refresh fails with 503, the one after succeeds and rotates the refresh token.
//! oauth.inject_failure(Failure::ServerError(503));
//! let client = reqwest::Client::new();
//! let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
//! let first = client.post(oauth.token_url())
//!     .basic_auth(oauth.client_id(), Some(oauth.client_secret()))
//!     .form(&form).send().await?;
//! assert_eq!(first.status(), 503);
//! oauth.wait_for_token_requests(1, Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
//!
//! Command line (for other languages' tests): `nexus-testkit oauth` or `nexus-testkit echo`
//! prints one JSON line such as `{"url":"http://127.0.0.1:41234", ...}` on stdout, then serves
//! until stdin closes or the process is killed.

pub mod echo;
pub mod forward;
pub mod oauth;
pub mod recording;
mod refusing;
mod serve;
pub mod webhooks;
pub mod ws;

pub use echo::{EchoResponse, EchoServer, RecordedRequest, Requirement};
pub use forward::Forwarder;
pub use oauth::{
    AuthorizeMode, ClientAuth, Failure, FailureSpec, Introspection, IssParam, OAuthServer,
    OAuthServerOptions, OAuthStats, TokenRequestRecord, WaitTimeout, pkce_s256,
};
pub use recording::{RawRequest, RecordingUpstream, Reply};
pub use refusing::RefusingPort;
pub use serve::LOOPBACK_ANY_PORT;
pub use webhooks::{Received, ReceiverLog, ReceiverMode, WebhookReceiver};
pub use ws::{WsAttempt, WsClose, WsServer, WsServerOptions};
