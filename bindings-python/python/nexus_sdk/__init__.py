"""Nexus SDK for Python: short-lived credentials from the Nexus gateway, cached and injected.

::

    from nexus_sdk import NexusClient, NexusClientOptions, TokenCache, RetryPolicy

    nexus = NexusClient(NexusClientOptions(gateway_url=URL, api_key=KEY))
    cache = TokenCache()
    status, headers, body = nexus.authenticated_fetch(
        cache, WORKSPACE_ID, "github", "https://api.github.com/user/repos?per_page=10"
    )

The token cache, the resolve client, retries and the injection strategies are the Rust core
(``nexus_sdk._native``); this package adds Python types around it. It has no runtime
dependencies and never writes to stdout. Logs go to the ``nexus_sdk`` logger.
"""

from __future__ import annotations

import logging

from ._native import CachedToken, TokenCache, __version__
from .client import NexusClient
from .errors import (
    ConnectionFailed,
    ConnectionFailedError,
    ConnectionNotActive,
    ConnectionNotActiveError,
    ConnectionNotFound,
    ConnectionNotFoundError,
    ConnectionRequiredError,
    Forbidden,
    ForbiddenError,
    InsufficientScopeError,
    InternalServerError,
    InvalidProxyPathError,
    InvalidRequest,
    InvalidRequestError,
    InvalidResponse,
    InvalidResponseError,
    InvalidSubjectTokenError,
    NexusError,
    NexusTimeout,
    NexusTimeoutError,
    NotFound,
    NotFoundError,
    PayloadTooLargeError,
    ProviderNotFound,
    ProviderNotFoundError,
    ProxyHostNotAllowedError,
    ProxyNotEnabledError,
    RateLimited,
    RateLimitedError,
    ReauthRequired,
    ReauthRequiredError,
    RequestTimeoutError,
    ScopeNotAllowedError,
    ServerError,
    StrategyError,
    TransportError,
    Unauthorized,
    UnauthorizedError,
    UpstreamTimeoutError,
    UpstreamUnavailable,
    UpstreamUnavailableError,
    UserNotAuthorizedForScopeError,
    WaitAbortedError,
)
from .session import Authorization, Session
from .types import (
    ConnectionCheck,
    ConnectionRequest,
    NexusClientOptions,
    RequestConnectionInput,
    RetryPolicy,
)

# A library never configures logging for its host: the application decides whether and where
# `nexus_sdk` records go (the SDK itself never prints, and never to stdout).
logging.getLogger("nexus_sdk").addHandler(logging.NullHandler())

__all__ = [
    "Authorization",
    "CachedToken",
    "ConnectionCheck",
    "ConnectionFailed",
    "ConnectionFailedError",
    "ConnectionNotActive",
    "ConnectionNotActiveError",
    "ConnectionNotFound",
    "ConnectionNotFoundError",
    "ConnectionRequest",
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
    "NexusClient",
    "NexusClientOptions",
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
    "RequestConnectionInput",
    "RequestTimeoutError",
    "RetryPolicy",
    "ScopeNotAllowedError",
    "ServerError",
    "Session",
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
    "__version__",
]
