"""Type stubs of the native module (the Rust core's Python binding)."""

from collections.abc import Iterable, Mapping
from typing import Any, final

from typing_extensions import disjoint_base

__all__ = [
    "ERROR_TABLE",
    "UNKNOWN_API_CODE_CLASS",
    "CachedToken",
    "Client",
    "ConnectionFailed",
    "ConnectionFailedError",
    "ConnectionNotActive",
    "ConnectionNotActiveError",
    "ConnectionNotFound",
    "ConnectionNotFoundError",
    "ConnectionRequiredError",
    "Forbidden",
    "ForbiddenError",
    "InsufficientScopeError",
    "InternalServerError",
    "InvalidProxyPathError",
    "InvalidRequest",
    "InvalidRequestError",
    "InvalidResponse",
    "InvalidResponseError",
    "InvalidSubjectTokenError",
    "NexusError",
    "NexusTimeout",
    "NexusTimeoutError",
    "NotFound",
    "NotFoundError",
    "PayloadTooLargeError",
    "ProviderNotFound",
    "ProviderNotFoundError",
    "ProxyHostNotAllowedError",
    "ProxyNotEnabledError",
    "RateLimited",
    "RateLimitedError",
    "ReauthRequired",
    "ReauthRequiredError",
    "RequestTimeoutError",
    "ResourceServer",
    "ScopeNotAllowedError",
    "ServerError",
    "StrategyError",
    "TokenCache",
    "TransportError",
    "Unauthorized",
    "UnauthorizedError",
    "UpstreamTimeoutError",
    "UpstreamUnavailable",
    "UpstreamUnavailableError",
    "UserNotAuthorizedForScopeError",
    "WaitAbortedError",
    "WebSocketBridge",
    "__version__",
    "apply_resolve_body",
    "authorize",
    "close_session",
    "current_session",
    "gateway_error",
    "is_rejection",
    "open_websocket",
    "parse_session_body",
    "proxy_check_answer",
    "proxy_fetch",
    "proxy_prepare",
    "proxy_replaced_headers",
    "proxy_url",
    "start_session",
    "user_credential",
    "user_fetch",
]

__version__: str

_Headers = Mapping[str, str] | Iterable[tuple[str, str]] | None
_Body = bytes | bytearray | memoryview | str | None

class NexusError(Exception):
    code: str
    message: str
    status_code: int | None
    request_id: str | None
    reauth_url: str | None
    retry_after: float | None
    provider: str | None
    reason: str | None
    connect_url: str | None
    elicitation_id: str | None

class NexusTimeout(NexusError): ...
class InvalidRequestError(NexusError): ...
class UnauthorizedError(NexusError): ...
class ForbiddenError(NexusError): ...
class NotFoundError(NexusError): ...
class ConnectionNotFoundError(NotFoundError): ...
class ProviderNotFoundError(NotFoundError): ...
class ReauthRequiredError(NexusError): ...
class ConnectionNotActiveError(NexusError): ...
class PayloadTooLargeError(InvalidRequestError): ...
class RequestTimeoutError(NexusError): ...
class RateLimitedError(NexusError): ...
class UpstreamUnavailableError(NexusError): ...
class ScopeNotAllowedError(ForbiddenError): ...
class UserNotAuthorizedForScopeError(ForbiddenError): ...
class InvalidSubjectTokenError(UnauthorizedError): ...
class InternalServerError(NexusError): ...
class InsufficientScopeError(ForbiddenError): ...
class InvalidProxyPathError(InvalidRequestError): ...
class ProxyHostNotAllowedError(InvalidRequestError): ...
class ProxyNotEnabledError(NotFoundError): ...
class UpstreamTimeoutError(UpstreamUnavailableError): ...
class ConnectionRequiredError(NexusError): ...
class StrategyError(NexusError): ...
class TransportError(NexusError): ...
class NexusTimeoutError(NexusTimeout, TransportError): ...
class InvalidResponseError(NexusError): ...
class ConnectionFailedError(NexusError): ...
class WaitAbortedError(NexusTimeout, NexusError): ...

InvalidRequest = InvalidRequestError
Unauthorized = UnauthorizedError
Forbidden = ForbiddenError
NotFound = NotFoundError
ProviderNotFound = ProviderNotFoundError
ConnectionNotFound = ConnectionNotFoundError
ReauthRequired = ReauthRequiredError
ConnectionNotActive = ConnectionNotActiveError
ConnectionFailed = ConnectionFailedError
RateLimited = RateLimitedError
UpstreamUnavailable = UpstreamUnavailableError
ServerError = InternalServerError
InvalidResponse = InvalidResponseError

ERROR_TABLE: list[dict[str, str]]
UNKNOWN_API_CODE_CLASS: str

def is_rejection(status: int) -> bool: ...

@final
class TokenCache:
    def __new__(cls, buffer_seconds: float = 30.0) -> TokenCache: ...
    @property
    def buffer_seconds(self) -> float: ...
    def clear(self) -> None: ...
    def stats(self) -> dict[str, int]: ...
    def __len__(self) -> int: ...

@final
class CachedToken:
    @property
    def access_token(self) -> str | None: ...
    @property
    def token_type(self) -> str: ...
    @property
    def expires_at(self) -> float | None: ...
    @property
    def seconds_remaining(self) -> int | None: ...
    @property
    def strategy(self) -> dict[str, Any]: ...
    @property
    def credentials(self) -> dict[str, Any]: ...
    @property
    def scopes(self) -> list[str]: ...
    @property
    def api_base_url(self) -> str | None: ...
    @property
    def connection_id(self) -> str | None: ...
    @property
    def generation(self) -> int: ...

@disjoint_base
class Client:
    def __new__(cls, options: Any) -> Client: ...
    @property
    def gateway_url(self) -> str: ...
    def resolve_token(
        self, workspace_id: str, provider_name: str, force_refresh: bool = False
    ) -> CachedToken: ...
    def get_cached_token(
        self, cache: TokenCache, workspace_id: str, provider_name: str
    ) -> CachedToken: ...
    def invalidate(self, cache: TokenCache, workspace_id: str, provider_name: str) -> None: ...
    def clear_token(self, cache: TokenCache, workspace_id: str, provider_name: str) -> None: ...
    def replace_rejected(
        self, cache: TokenCache, workspace_id: str, provider_name: str, generation: int
    ) -> CachedToken: ...
    def prepare_attempt(
        self,
        cache: TokenCache,
        workspace_id: str,
        provider_name: str,
        method: str,
        url: str,
        headers: _Headers = None,
        data: _Body = None,
        rejected_generation: int | None = None,
    ) -> tuple[str, list[tuple[str, str]], int]: ...
    def prepare_request(
        self,
        cache: TokenCache,
        workspace_id: str,
        provider_name: str,
        method: str,
        url: str,
        headers: _Headers = None,
        data: _Body = None,
    ) -> tuple[str, list[tuple[str, str]]]: ...
    def authenticated_fetch(
        self,
        cache: TokenCache,
        workspace_id: str,
        provider_name: str,
        url: str,
        method: str = "GET",
        headers: _Headers = None,
        data: _Body = None,
    ) -> tuple[int, dict[str, str], bytes]: ...
    def _request_connection(self, body_json: str) -> dict[str, Any]: ...
    def _check_connection(self, connection_id: str) -> dict[str, Any]: ...
    def _wait_for_active(
        self, connection_id: str, timeout: float, interval: float
    ) -> dict[str, Any]: ...
    def _get_token_by_connection_id(self, connection_id: str) -> CachedToken: ...
    def _refresh_connection(self, connection_id: str) -> CachedToken: ...

def apply_resolve_body(
    resolve_body: bytes,
    now: str,
    method: str,
    url: str,
    headers: _Headers = None,
    data: _Body = None,
) -> tuple[str, list[tuple[str, str]], int, CachedToken]: ...
def gateway_error(status: int, body: bytes, headers: _Headers = None) -> NexusError: ...

# Proxy mode (src/proxy.rs), wrapped by NexusClient.authenticated_fetch(proxy=True) and the
# httpx / requests adapters.
def proxy_prepare(
    client: Client, workspace_id: str, provider_name: str, path: str, host: str | None = None
) -> tuple[str, list[tuple[str, str]]]: ...
def proxy_fetch(
    client: Client,
    workspace_id: str,
    provider_name: str,
    path: str,
    method: str = "GET",
    headers: _Headers = None,
    data: _Body = None,
    host: str | None = None,
) -> tuple[int, dict[str, str], bytes]: ...
def proxy_url(gateway_url: str, workspace_id: str, provider_name: str, path: str) -> str: ...
def proxy_check_answer(status: int, headers: _Headers, body: bytes) -> None: ...
def proxy_replaced_headers() -> list[str]: ...

# Agent sessions (src/session.rs), wrapped by NexusClient.start_session and friends.
def start_session(
    client: Client,
    scopes: list[str],
    ttl: float | None = None,
    on_behalf_of: str | None = None,
    agent_credential: str | None = None,
) -> dict[str, Any]: ...
def close_session(client: Client) -> None: ...
def authorize(client: Client, scope: str) -> dict[str, Any]: ...
def current_session(client: Client) -> dict[str, Any] | None: ...
def parse_session_body(body: bytes) -> dict[str, Any]: ...

@final
class WebSocketBridge:
    def next_event(self, timeout: float = 0.25) -> tuple[Any, ...] | None: ...
    def send(self, data: str | bytes) -> None: ...
    @property
    def connected(self) -> bool: ...
    def close(self) -> None: ...

def open_websocket(
    client: Client,
    cache: TokenCache,
    workspace_id: str,
    provider_name: str,
    url: str,
    *,
    min_backoff: float | None = None,
    max_backoff: float | None = None,
    stable_after: float | None = None,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
    max_message_size: int | None = None,
    write_timeout: float | None = None,
    reconnect_before_expiry: bool = False,
    expiry_margin: float | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> WebSocketBridge: ...

@final
class ResourceServer:
    def __new__(
        cls,
        resource: str,
        issuer: str,
        *,
        jwks_url: str | None = None,
        required_scopes: list[str] = ...,
        tool_scopes: Mapping[str, list[str]] = ...,
        scopes_supported: list[str] | None = None,
        resource_name: str | None = None,
    ) -> ResourceServer: ...
    @property
    def resource(self) -> str: ...
    @property
    def metadata_path(self) -> str: ...
    @property
    def metadata_url(self) -> str: ...
    def metadata_document(self) -> dict[str, Any]: ...
    def scopes_for(self, tool: str | None = None) -> list[str]: ...
    def authenticate(
        self, authorization: str | None, tool: str | None = None
    ) -> dict[str, Any]: ...
    def verify_token(self, token: str) -> dict[str, Any]: ...

def user_credential(
    client: Client,
    cache: TokenCache,
    user: Any,
    provider: str,
    min_ttl: int | None = None,
    force_refresh: bool = False,
) -> CachedToken: ...
def user_fetch(
    client: Client,
    cache: TokenCache,
    user: Any,
    provider: str,
    url: str,
    method: str = "GET",
    headers: _Headers = None,
    data: _Body = None,
) -> tuple[int, dict[str, str], bytes]: ...
