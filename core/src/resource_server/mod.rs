//! The resource-server kit: what a remote MCP server needs to accept the access tokens Nexus's
//! authorization server issues (`docs/mcp-authorization.md`, design 17 §4 and §6).
//!
//! [`ResourceServer::authenticate`] takes the request's `Authorization` header and the
//! [`Operation`] (which tool, if any) and answers [`Decision::Allow`] with the
//! [`AuthenticatedUser`], or [`Decision::Deny`] with the [`Rejection`] and the ready
//! [`Challenge`] (status, `WWW-Authenticate`, body). [`ResourceServer::metadata_document`] is the
//! RFC 9728 document to serve at [`ResourceServer::metadata_path`].
//!
//! The language adapters (Python `nexus_sdk.mcp`, Node `@nexus/sdk/mcp`) only move these values
//! in and out of their HTTP frameworks.
//!
//! - [`verify`]: the token checks and their typed reasons.
//! - [`jwks`]: the authorization server's keys, cached, refetched on rotation, rate-limited.
//! - [`challenge`]: `WWW-Authenticate` strings and the metadata document.
//! - [`upstream`]: the user's own upstream credential inside a tool
//!   ([`crate::NexusClient::user_credential`]), or the connect link when there is none yet.

pub mod challenge;
pub mod jwks;
pub mod upstream;
pub mod verify;

pub use challenge::Challenge;
pub use verify::{AuthenticatedUser, InvalidToken, Rejection};

use crate::error::{NexusError, Result};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// How a protected MCP server is configured.
#[derive(Debug, Clone, Default)]
pub struct ResourceServerConfig {
    /// This server's canonical URL (the `resource` clients ask tokens for), e.g.
    /// `https://mcp.example.com/mcp`. Compared under Rule R.
    pub resource: String,
    /// The authorization server's issuer (Nexus's broker URL), byte-equal to tokens' `iss`.
    pub issuer: String,
    /// Where its keys are; default `{issuer}/as/jwks`.
    pub jwks_url: Option<String>,
    /// Scopes every request needs (also what a 401 tells clients to ask for).
    pub required_scopes: Vec<String>,
    /// Extra scopes per tool (`tools/call` with that `name`).
    pub tool_scopes: HashMap<String, Vec<String>>,
    /// Listed in the metadata; default: the required scopes and every tool's.
    pub scopes_supported: Option<Vec<String>>,
    /// Human-readable name in the metadata.
    pub resource_name: Option<String>,
    /// Timeout of a JWKS fetch (default 10 s).
    pub http_timeout: Option<Duration>,
}

/// What the request does, for the scope check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation<'a> {
    /// `tools/call` of the named tool.
    ToolCall(&'a str),
    /// Anything else (initialize, lists, notifications, GET/DELETE of the session).
    Other,
}

/// The answer for one request.
#[derive(Debug, Clone)]
pub enum Decision {
    Allow(AuthenticatedUser),
    Deny {
        rejection: Rejection,
        challenge: Challenge,
    },
}

/// One protected resource. Share it (`Arc`) across requests: it holds the JWKS cache.
pub struct ResourceServer {
    resource: String,
    issuer: String,
    required_scopes: Vec<String>,
    tool_scopes: HashMap<String, Vec<String>>,
    metadata_path: String,
    metadata_url: String,
    metadata: serde_json::Value,
    keys: jwks::JwksCache,
}

impl std::fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceServer")
            .field("resource", &self.resource)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

fn invalid(what: impl Into<String>) -> NexusError {
    NexusError::InvalidRequest(what.into())
}

fn check_scopes<'a>(scopes: impl IntoIterator<Item = &'a String>) -> Result<()> {
    if scopes
        .into_iter()
        .all(|s| nexus_protocol::oauth::is_scope_token(s))
    {
        Ok(())
    } else {
        Err(invalid(
            "scopes must be RFC 6749 scope tokens (printable ASCII, no space, quote or backslash)",
        ))
    }
}

impl ResourceServer {
    /// Validate `config` (URLs, scope syntax) and build the server; fetches nothing yet.
    pub fn new(config: ResourceServerConfig) -> Result<Self> {
        let resource = nexus_protocol::oauth::normalize_resource(&config.resource)
            .map_err(|why| invalid(format!("resource: {why}")))?;
        let parsed = url::Url::parse(&resource).map_err(|_| invalid("resource is not a URL"))?;
        if config.issuer.is_empty() || url::Url::parse(&config.issuer).is_err() {
            return Err(invalid("issuer must be the authorization server's URL"));
        }
        let jwks_url = config.jwks_url.clone().unwrap_or_else(|| {
            format!(
                "{}{}",
                config.issuer.trim_end_matches('/'),
                nexus_protocol::oauth::JWKS_PATH
            )
        });
        let jwks_parsed =
            url::Url::parse(&jwks_url).map_err(|_| invalid("jwks_url is not a URL"))?;
        if !matches!(jwks_parsed.scheme(), "http" | "https") {
            return Err(invalid("jwks_url must be an http(s) URL"));
        }
        check_scopes(&config.required_scopes)?;
        check_scopes(config.tool_scopes.values().flatten())?;
        let supported: Vec<String> = match &config.scopes_supported {
            Some(s) => {
                check_scopes(s)?;
                s.clone()
            }
            None => config
                .required_scopes
                .iter()
                .chain(config.tool_scopes.values().flatten())
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        let (metadata_path, metadata_url) = challenge::metadata_location(&parsed);
        let metadata = challenge::metadata_document(
            &resource,
            &config.issuer,
            &supported,
            config.resource_name.as_deref(),
        );
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout.unwrap_or(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("nexus-sdk-rust/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            resource,
            issuer: config.issuer,
            required_scopes: config.required_scopes,
            tool_scopes: config.tool_scopes,
            metadata_path,
            metadata_url,
            metadata,
            keys: jwks::JwksCache::new(jwks_url, http),
        })
    }

    /// This server's resource URL, in normal form.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The path to serve [`Self::metadata_document`] at (`/.well-known/oauth-protected-resource{path}`).
    pub fn metadata_path(&self) -> &str {
        &self.metadata_path
    }

    /// The full URL of the metadata (what `resource_metadata=` points to).
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The RFC 9728 protected-resource metadata document.
    pub fn metadata_document(&self) -> &serde_json::Value {
        &self.metadata
    }

    /// How many times the JWKS was fetched (for tests and metrics).
    pub fn jwks_fetches(&self) -> u64 {
        self.keys.fetches()
    }

    /// Every scope `operation` needs: the required ones, then the tool's, without repeats.
    pub fn scopes_for(&self, operation: Operation<'_>) -> Vec<String> {
        let mut needed = self.required_scopes.clone();
        if let Operation::ToolCall(tool) = operation {
            for scope in self.tool_scopes.get(tool).into_iter().flatten() {
                if !needed.contains(scope) {
                    needed.push(scope.clone());
                }
            }
        }
        needed
    }

    /// Check the token alone (signature, issuer, audience, times), no scope.
    pub async fn verify_token(
        &self,
        token: &str,
    ) -> std::result::Result<AuthenticatedUser, Rejection> {
        let expected = verify::Expected {
            issuer: &self.issuer,
            resource: &self.resource,
        };
        verify::verify(token, &self.keys, &expected, chrono::Utc::now().timestamp()).await
    }

    /// Decide one request: `authorization` is the `Authorization` header (if any).
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        operation: Operation<'_>,
    ) -> Decision {
        let outcome = match authorization {
            None => Err(Rejection::MissingToken),
            Some(header) => match verify::bearer_token(header) {
                Err(e) => Err(Rejection::InvalidToken(e)),
                Ok(token) => self.verify_token(token).await,
            },
        };
        let outcome = outcome.and_then(|user| {
            let needed = self.scopes_for(operation);
            if needed.iter().all(|s| user.scopes.contains(s)) {
                Ok(user)
            } else {
                Err(Rejection::InsufficientScope { required: needed })
            }
        });
        match outcome {
            Ok(user) => Decision::Allow(user),
            Err(rejection) => {
                if let Rejection::InvalidToken(why) = &rejection {
                    tracing::debug!(reason = why.as_str(), "access token refused");
                }
                Decision::Deny {
                    challenge: self.challenge(&rejection),
                    rejection,
                }
            }
        }
    }

    /// The answer to send for `rejection`.
    pub fn challenge(&self, rejection: &Rejection) -> Challenge {
        match rejection {
            Rejection::MissingToken => {
                challenge::unauthorized(&self.metadata_url, &self.required_scopes, None)
            }
            Rejection::InvalidToken(why) => challenge::unauthorized(
                &self.metadata_url,
                &self.required_scopes,
                Some(why.description()),
            ),
            Rejection::InsufficientScope { required } => {
                challenge::insufficient_scope(&self.metadata_url, required)
            }
            Rejection::KeysUnavailable => challenge::keys_unavailable(),
        }
    }
}
