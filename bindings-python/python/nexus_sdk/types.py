"""Plain data types of the public API.

These are the Python shapes of what the native core takes and returns. They hold no logic: the
cache, the resolve client, retries and the strategy engine all live in the Rust core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ConnectionCheck",
    "ConnectionRequest",
    "NexusClientOptions",
    "RequestConnectionInput",
    "RetryPolicy",
]


@dataclass(frozen=True)
class RetryPolicy:
    """How the core retries a gateway call that failed for a transient reason.

    Retried: connection failures (the request never reached the gateway), 502/503/504 for
    idempotent calls, and 429 (waiting the gateway's ``Retry-After`` when
    ``respect_retry_after``, unless it is longer than ``max_retry_after`` seconds). Backoff is
    "full jitter": a random wait up to ``backoff * 2**retry``, capped at ``max_backoff`` seconds.
    Timeouts and other 4xx answers are never retried.
    """

    retries: int = 3
    backoff: float = 0.1
    max_backoff: float = 5.0
    respect_retry_after: bool = True
    max_retry_after: float = 60.0


@dataclass(frozen=True)
class NexusClientOptions:
    """How to reach the gateway.

    ``api_key`` is the workspace API key sent as ``Authorization: Bearer``; it is never
    shown by ``repr``.
    """

    gateway_url: str
    api_key: str = field(repr=False)
    timeout: float = 30.0
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    user_agent: str | None = None


@dataclass(frozen=True)
class RequestConnectionInput:
    """Body of ``POST /v1/request-connection``: ask for a new OAuth connection."""

    user_id: str
    provider_name: str
    scopes: list[str] = field(default_factory=list)
    return_url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectionRequest:
    """The answer to ``request_connection``: send the person to ``auth_url``."""

    auth_url: str
    connection_id: str
    state: str
    scopes: list[str]
    provider_id: str

    @classmethod
    def _from_native(cls, raw: dict[str, Any]) -> ConnectionRequest:
        return cls(
            auth_url=raw["auth_url"],
            connection_id=raw["connection_id"],
            state=raw["state"],
            scopes=list(raw.get("scopes", [])),
            provider_id=raw["provider_id"],
        )


@dataclass(frozen=True)
class ConnectionCheck:
    """The state of a connection: ``pending``, ``active``, ``needs_reauth``, ``revoked``,
    ``failed``."""

    status: str
    connection_id: str | None = None
    provider_name: str | None = None
    reauth_url: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @classmethod
    def _from_native(cls, raw: dict[str, Any]) -> ConnectionCheck:
        return cls(
            status=raw["status"],
            connection_id=raw.get("connection_id"),
            provider_name=raw.get("provider_name"),
            reauth_url=raw.get("reauth_url"),
        )
