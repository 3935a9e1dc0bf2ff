//! `NativeClient`: one core `NexusClient` and the `TokenCache` every fetcher of it shares.
//!
//! Each method is one call into the core; the 401 rule (one forced refresh through the single
//! flight, one retry) is the core's `nexus_sdk::policy`, reached through
//! [`NativeClient::prepare_retry`]. The conversions live in [`crate::convert`], the error
//! encoding in [`crate::error`].

use crate::convert::{
    NativeConnectionInput, NativeConnectionRequest, NativeConnectionState, NativeCredential,
    NativePrepared, NativeRequest,
};
use crate::error::{invalid_argument, to_napi};
use napi::bindgen_prelude::{External, Uint8Array};
use napi_derive::napi;
use nexus_sdk::fetch::prepare_with;
use nexus_sdk::{
    ClientOptions, NexusClient, RequestConnectionInput, RequestParts, ResolveOptions, RetryPolicy,
    TokenCache,
};
use parking_lot::RwLock;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long `waitForActive` waits when the caller gives no deadline (JavaScript callers stop it
/// with an `AbortSignal` instead).
const NO_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

/// Options of the native client; `src/client.ts` fills them from `NexusClientOptions`.
#[napi(object)]
pub struct NativeClientOptions {
    pub gateway_url: String,
    pub api_key: String,
    pub timeout_ms: Option<u32>,
    pub max_retries: Option<u32>,
    pub initial_backoff_ms: Option<u32>,
    pub max_backoff_ms: Option<u32>,
}

#[napi]
pub struct NativeClient {
    client: NexusClient,
    cache: TokenCache,
    hot: Arc<HotPath>,
}

/// What the synchronous hit path needs, reachable from a free function through an `External`
/// handle. napi charges ~0.7 µs to dispatch a class method and ~0.3 µs per string argument,
/// several times the core's own ~70 ns cache hit, so `getToken`'s hit path calls
/// [`peek_generation`] with the handle and a small integer key instead.
pub struct HotPath {
    /// The core client, for its session: under an agent session the cache key includes it.
    client: NexusClient,
    cache: TokenCache,
    /// (workspace, provider) by key id; append-only, ids are indexes.
    keys: RwLock<Vec<(String, String)>>,
}

impl HotPath {
    /// The core's answer for holding (see `crate::held`), for interned `key`.
    pub(crate) fn peek_to_hold(&self, key: u32) -> Option<nexus_sdk::hold::HeldHit> {
        let keys = self.keys.read();
        let (workspace_id, provider) = keys.get(usize::try_from(key).ok()?)?;
        self.client
            .peek_to_hold(&self.cache, workspace_id, provider)
    }

    pub(crate) fn cache(&self) -> &TokenCache {
        &self.cache
    }

    pub(crate) fn client(&self) -> &NexusClient {
        &self.client
    }
}

impl NativeClient {
    /// The core client (for `crate::session`).
    pub(crate) fn core(&self) -> &NexusClient {
        &self.client
    }

    /// This client's token cache (for `crate::session`).
    pub(crate) fn token_cache(&self) -> &TokenCache {
        &self.cache
    }
}

#[napi]
impl NativeClient {
    /// Fails with `invalid_request` on an unusable gateway URL or API key.
    #[napi(constructor)]
    pub fn new(options: NativeClientOptions) -> napi::Result<Self> {
        let mut core = ClientOptions::new(options.gateway_url, options.api_key);
        core.user_agent = concat!("nexus-sdk-node/", env!("CARGO_PKG_VERSION")).to_owned();
        if let Some(ms) = options.timeout_ms {
            core.timeout = millis(ms);
        }
        let defaults = RetryPolicy::default();
        core.retry = RetryPolicy {
            max_retries: options.max_retries.unwrap_or(defaults.max_retries),
            initial_backoff: options
                .initial_backoff_ms
                .map_or(defaults.initial_backoff, millis),
            max_backoff: options.max_backoff_ms.map_or(defaults.max_backoff, millis),
            ..defaults
        };
        let client = NexusClient::new(core).map_err(to_napi)?;
        let cache = TokenCache::new();
        let hot = Arc::new(HotPath {
            client: client.clone(),
            cache: cache.clone(),
            keys: RwLock::new(Vec::new()),
        });
        Ok(Self { client, cache, hot })
    }

    /// The cached credential when it is fresh (outside the 30 s safety buffer), else `null`.
    /// Synchronous: the hit path of `getToken` without a promise round trip.
    #[napi]
    pub fn peek_token(&self, workspace_id: String, provider: String) -> Option<NativeCredential> {
        self.client
            .peek_cached(&self.cache, &workspace_id, &provider)
            .map(|token| NativeCredential::from(token.as_ref()))
    }

    /// The handle [`peek_generation`] takes.
    #[napi(ts_return_type = "ExternalObject<'NexusHotPath'>")]
    pub fn hot_path(&self) -> External<Arc<HotPath>> {
        External::new(self.hot.clone())
    }

    /// A small integer naming (workspace, provider) for [`peek_generation`]. Call once per pair.
    #[napi]
    pub fn intern_key(&self, workspace_id: String, provider: String) -> napi::Result<u32> {
        let mut keys = self.hot.keys.write();
        let id =
            u32::try_from(keys.len()).map_err(|_| invalid_argument("too many distinct keys"))?;
        keys.push((workspace_id, provider));
        Ok(id)
    }

    /// The credential through the cache; concurrent misses share one gateway call.
    #[napi]
    pub async fn get_token(
        &self,
        workspace_id: String,
        provider: String,
    ) -> napi::Result<NativeCredential> {
        let token = self
            .client
            .resolve_cached(&self.cache, &workspace_id, &provider)
            .await
            .map_err(to_napi)?;
        Ok(NativeCredential::from(token.as_ref()))
    }

    /// One `GET /v1/resolve`, without the cache.
    #[napi]
    pub async fn resolve_token(
        &self,
        workspace_id: String,
        provider: String,
        force_refresh: bool,
        min_ttl_seconds: Option<u32>,
    ) -> napi::Result<NativeCredential> {
        let options = ResolveOptions {
            min_ttl: min_ttl_seconds.map(u64::from),
            force_refresh,
        };
        let token = self
            .client
            .resolve(&workspace_id, &provider, options)
            .await
            .map_err(to_napi)?;
        Ok(NativeCredential::from(&token))
    }

    /// Forget one cached credential (both arguments) or all of them (neither).
    #[napi]
    pub fn clear_token(
        &self,
        workspace_id: Option<String>,
        provider: Option<String>,
    ) -> napi::Result<()> {
        match (workspace_id, provider) {
            // The current principal's key: an active session's tokens live in its namespace.
            (Some(workspace_id), Some(provider)) => {
                self.client
                    .invalidate(&self.cache, &workspace_id, &provider);
            }
            (None, None) => self.cache.clear(),
            _ => {
                return Err(invalid_argument(
                    "clearToken takes a workspace id and a provider, or nothing",
                ));
            }
        }
        Ok(())
    }

    /// Resolve through the cache and apply the strategy to `request`; the caller sends it. The
    /// answer names the token used (`generation`), for [`Self::prepare_retry`].
    #[napi]
    pub async fn prepare_request(
        &self,
        workspace_id: String,
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
            .client
            .prepare_request(&self.cache, &workspace_id, &provider, &parts)
            .await
            .map_err(to_napi)?;
        Ok(prepared.into())
    }

    /// After the upstream rejected (401) the token of `rejectedGeneration`: the core's 401 rule
    /// replaces it (one forced refresh through the single flight, or the replacement a
    /// concurrent caller already got) and applies the new one to `request`, to send once more.
    #[napi]
    pub async fn prepare_retry(
        &self,
        workspace_id: String,
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
            .client
            .prepare_retry(
                &self.cache,
                &workspace_id,
                &provider,
                generation_from_js(rejected_generation)?,
                &parts,
            )
            .await
            .map_err(to_napi)?;
        Ok(prepared.into())
    }

    #[napi]
    pub async fn request_connection(
        &self,
        input: NativeConnectionInput,
    ) -> napi::Result<NativeConnectionRequest> {
        let metadata = match input.metadata_json.as_deref() {
            None => Map::new(),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                _ => return Err(invalid_argument("metadata must be a JSON object")),
            },
        };
        let input = RequestConnectionInput {
            user_id: input.user_id,
            provider_name: input.provider,
            scopes: input.scopes,
            return_url: input.return_url,
            metadata,
        };
        let response = self
            .client
            .request_connection(&input)
            .await
            .map_err(to_napi)?;
        Ok(response.into())
    }

    #[napi]
    pub async fn check_connection(
        &self,
        connection_id: String,
    ) -> napi::Result<NativeConnectionState> {
        let response = self
            .client
            .check_connection(&connection_id)
            .await
            .map_err(to_napi)?;
        Ok(response.into())
    }

    /// Start waiting for the connection to become active; `result()` settles, `cancel()` stops.
    #[napi]
    pub fn wait_for_active(
        &self,
        connection_id: String,
        interval_ms: u32,
        timeout_ms: Option<u32>,
    ) -> NativeWait {
        let (cancel, _) = watch::channel(false);
        NativeWait {
            client: self.client.clone(),
            connection_id,
            interval: millis(interval_ms.max(1)),
            timeout: timeout_ms.map_or(NO_DEADLINE, millis),
            cancel,
        }
    }

    #[napi]
    pub async fn get_token_by_connection_id(
        &self,
        connection_id: String,
    ) -> napi::Result<NativeCredential> {
        let token = self
            .client
            .get_token(&connection_id)
            .await
            .map_err(to_napi)?;
        Ok(NativeCredential::from(&token))
    }

    #[napi]
    pub async fn refresh_connection(
        &self,
        connection_id: String,
    ) -> napi::Result<NativeCredential> {
        let token = self
            .client
            .refresh_connection(&connection_id)
            .await
            .map_err(to_napi)?;
        Ok(NativeCredential::from(&token))
    }
}

/// A running `waitForActive`: the core's poll loop, cancellable from JavaScript (an `AbortSignal`
/// calls [`NativeWait::cancel`]).
#[napi]
pub struct NativeWait {
    client: NexusClient,
    connection_id: String,
    interval: Duration,
    timeout: Duration,
    cancel: watch::Sender<bool>,
}

#[napi]
impl NativeWait {
    #[napi]
    pub async fn result(&self) -> napi::Result<NativeConnectionState> {
        let mut cancelled = self.cancel.subscribe();
        let cancel = async move {
            // A closed channel is not a cancellation: keep waiting for the core's own outcome.
            if cancelled.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let state = self
            .client
            .wait_for_active_or_cancel(&self.connection_id, self.interval, self.timeout, cancel)
            .await
            .map_err(to_napi)?;
        Ok(state.into())
    }

    #[napi]
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }
}

fn millis(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

/// A token generation back from JavaScript, where it travelled as a number (exact below 2^53).
pub(crate) fn generation_from_js(generation: f64) -> napi::Result<u64> {
    if generation.is_finite() && generation >= 0.0 && generation.fract() == 0.0 {
        Ok(generation as u64)
    } else {
        Err(invalid_argument(
            "a token generation is a non-negative integer",
        ))
    }
}

pub(crate) fn request_fields(
    request: NativeRequest,
) -> (String, String, Vec<(String, String)>, Vec<u8>) {
    let body = request
        .body
        .as_ref()
        .map(|b: &Uint8Array| b.to_vec())
        .unwrap_or_default();
    (request.method, request.url, request.headers, body)
}

/// The cache generation of the fresh cached credential for interned `key`, else `null`. Lets
/// `getToken` reuse the object it already converted for that very token; freshness is still
/// the core's decision, made on every call.
#[napi(ts_args_type = "hot: ExternalObject<'NexusHotPath'>, key: number")]
pub fn peek_generation(hot: &External<Arc<HotPath>>, key: u32) -> Option<f64> {
    let keys = hot.keys.read();
    let (workspace_id, provider) = keys.get(usize::try_from(key).ok()?)?;
    hot.client
        .peek_cached(&hot.cache, workspace_id, provider)
        .map(|token| token.generation() as f64)
}

/// The fetcher's hit path: the cached token applied to a request, without napi objects, whose
/// property accesses cost several microseconds per call. `headers` is `name\nvalue\n…` (a
/// `Headers` object never holds a line feed); the answer is `generation\nurl\nname\nvalue…`
/// (the token's generation for [`NativeClient::prepare_retry`], then the final URL and the
/// complete header list: the core rejects line feeds in every value it returns), or `null` on a
/// cache miss.
#[napi(
    ts_args_type = "hot: ExternalObject<'NexusHotPath'>, key: number, method: string, url: string, headers: string, body?: Uint8Array | undefined | null"
)]
pub fn prepare_hit(
    hot: &External<Arc<HotPath>>,
    key: u32,
    method: String,
    url: String,
    headers: String,
    body: Option<Uint8Array>,
) -> napi::Result<Option<String>> {
    let token = {
        let keys = hot.keys.read();
        let Some((workspace_id, provider)) = usize::try_from(key).ok().and_then(|k| keys.get(k))
        else {
            return Err(invalid_argument("unknown key"));
        };
        hot.client.peek_cached(&hot.cache, workspace_id, provider)
    };
    let Some(token) = token else {
        return Ok(None);
    };
    let headers = split_header_lines(&headers)?;
    let body = body
        .as_ref()
        .map(|b: &Uint8Array| b.to_vec())
        .unwrap_or_default();
    let parts = RequestParts {
        method: &method,
        url: &url,
        headers: &headers,
        body: &body,
    };
    let prepared = prepare_with(token, &parts).map_err(to_napi)?;
    let mut line = prepared.token.generation().to_string();
    line.push('\n');
    line.push_str(&prepared.url);
    for (name, value) in &prepared.headers {
        line.push('\n');
        line.push_str(name);
        line.push('\n');
        line.push_str(value);
    }
    Ok(Some(line))
}

/// `name\nvalue\n…` into pairs; the empty string is no headers.
fn split_header_lines(text: &str) -> napi::Result<Vec<(String, String)>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let fields: Vec<&str> = text.split('\n').collect();
    if !fields.len().is_multiple_of(2) {
        return Err(invalid_argument("headers must be name/value line pairs"));
    }
    Ok(fields
        .chunks_exact(2)
        .filter_map(|pair| match pair {
            [name, value] => Some(((*name).to_owned(), (*value).to_owned())),
            _ => None,
        })
        .collect())
}
