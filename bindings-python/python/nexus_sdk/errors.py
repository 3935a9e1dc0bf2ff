"""The exception hierarchy of the SDK.

The classes are defined in the native module (so the core's errors map onto them in one place,
in Rust) and re-exported here. Every exception is a :class:`NexusError` with these attributes:

- ``code``: a stable string, either a protocol error code from the gateway
  (``reauth_required``, ``provider_not_found``, ...) or an SDK error kind
  (``missing_credential_field``, ``connection_error``, ``timeout``, ...);
- ``message``: human-readable, never contains a secret;
- ``status_code``: the gateway's HTTP status, or ``None`` when the error did not come from a
  gateway response;
- ``request_id``: the gateway's request id, when it sent one;
- ``reauth_url`` (:class:`ReauthRequired`, :class:`ConnectionFailed`) and ``retry_after``
  (:class:`RateLimited`, seconds);
- ``provider``, ``reason`` (``missing`` or ``reauth_required``), ``connect_url`` and
  ``elicitation_id`` (:class:`ConnectionRequiredError`: the MCP user has no usable connection;
  ``nexus_sdk.mcp.requires_connection`` turns it into the MCP URL elicitation).

The classes are generated in the native module from the core's error table
(``nexus_sdk::error::ERROR_TABLE``, exported as ``_native.ERROR_TABLE``; one class per code,
the same names in Node), and re-exported here. Python's older names stay as aliases
(``ReauthRequired is ReauthRequiredError``); ``NexusTimeout`` is a Python-only base of the
classes of ``timeout`` and ``wait_aborted``. ``tests/test_error_table.py`` fails if these
exports drift from the table.

::

    NexusError
    ├── InvalidRequestError (InvalidRequest)    invalid_request
    │   ├── PayloadTooLargeError                payload_too_large
    │   ├── InvalidProxyPathError               invalid_proxy_path
    │   └── ProxyHostNotAllowedError            proxy_host_not_allowed
    ├── UnauthorizedError (Unauthorized)        unauthorized
    │   └── InvalidSubjectTokenError            invalid_subject_token
    ├── ForbiddenError (Forbidden)              forbidden
    │   ├── ScopeNotAllowedError                scope_not_allowed
    │   ├── UserNotAuthorizedForScopeError      user_not_authorized_for_scope
    │   └── InsufficientScopeError              insufficient_scope
    ├── NotFoundError (NotFound)                not_found
    │   ├── ProviderNotFoundError               provider_not_found
    │   ├── ConnectionNotFoundError             connection_not_found
    │   └── ProxyNotEnabledError                proxy_not_enabled
    ├── ReauthRequiredError (ReauthRequired)    reauth_required
    ├── ConnectionNotActiveError                connection_not_active
    ├── ConnectionRequiredError                 connection_required (MCP user must connect)
    ├── RequestTimeoutError                     request_timeout
    ├── RateLimitedError (RateLimited)          rate_limited
    ├── UpstreamUnavailableError                upstream_unavailable
    │   └── UpstreamTimeoutError                upstream_timeout
    ├── InternalServerError (ServerError)       internal_error and codes this SDK does not know
    ├── StrategyError                           unknown_strategy, invalid_strategy_config,
    │                                           missing_credential_field, invalid_credential_value
    ├── TransportError                          connection_error
    │   └── NexusTimeoutError (+NexusTimeout)   timeout
    ├── InvalidResponseError (InvalidResponse)  invalid_response
    ├── ConnectionFailedError (ConnectionFailed) connection_failed
    ├── WaitAbortedError (+NexusTimeout)        wait_aborted
    └── NexusTimeout                            Python-only base of the two timeout classes
"""

from __future__ import annotations

from ._native import (
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

__all__ = [
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
    "ScopeNotAllowedError",
    "ServerError",
    "StrategyError",
    "TransportError",
    "Unauthorized",
    "UnauthorizedError",
    "UpstreamTimeoutError",
    "UpstreamUnavailable",
    "UpstreamUnavailableError",
    "UserNotAuthorizedForScopeError",
    "WaitAbortedError",
]
