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
  (:class:`RateLimited`, seconds).

::

    NexusError
    ├── InvalidRequest          invalid_request, payload_too_large
    ├── Unauthorized            unauthorized, invalid_subject_token
    ├── Forbidden               forbidden, scope_not_allowed, user_not_authorized_for_scope
    ├── NotFound                not_found
    │   ├── ProviderNotFound    provider_not_found
    │   └── ConnectionNotFound  connection_not_found
    ├── ReauthRequired          reauth_required
    ├── ConnectionNotActive     connection_not_active
    ├── ConnectionFailed        connection_failed (wait_for_active saw needs_reauth/revoked/failed)
    ├── RateLimited             rate_limited
    ├── UpstreamUnavailable     upstream_unavailable
    ├── ServerError             internal_error and codes this SDK does not know
    ├── StrategyError           unknown_strategy, invalid_strategy_config,
    │                           missing_credential_field, invalid_credential_value
    ├── TransportError          connection_error: the gateway or upstream could not be reached
    ├── NexusTimeout            timeout, wait_aborted: a call or a wait ran out of time
    └── InvalidResponse         invalid_response: the gateway's answer is not protocol v1
"""

from __future__ import annotations

from ._native import (
    ConnectionFailed,
    ConnectionNotActive,
    ConnectionNotFound,
    Forbidden,
    InvalidRequest,
    InvalidResponse,
    NexusError,
    NexusTimeout,
    NotFound,
    ProviderNotFound,
    RateLimited,
    ReauthRequired,
    ServerError,
    StrategyError,
    TransportError,
    Unauthorized,
    UpstreamUnavailable,
)

__all__ = [
    "ConnectionFailed",
    "ConnectionNotActive",
    "ConnectionNotFound",
    "Forbidden",
    "InvalidRequest",
    "InvalidResponse",
    "NexusError",
    "NexusTimeout",
    "NotFound",
    "ProviderNotFound",
    "RateLimited",
    "ReauthRequired",
    "ServerError",
    "StrategyError",
    "TransportError",
    "Unauthorized",
    "UpstreamUnavailable",
]
