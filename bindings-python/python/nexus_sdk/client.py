"""The client: the native core's client plus dataclass results and ``async`` variants.

Every sync method of :class:`NexusClient` is the native core's method (cache, resolve, retries,
strategies and HTTP are in Rust, with the GIL released while it waits). The ``async`` variants
run that same native call on a worker thread (``asyncio.to_thread``), so they never block the
event loop and no Rust future is ever handed to Python: awaiting and then exiting the interpreter
is safe.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from typing import Union

from . import _native
from ._native import CachedToken, TokenCache, is_rejection
from .session import Authorization, Session
from .types import ConnectionCheck, ConnectionRequest, NexusClientOptions, RequestConnectionInput

__all__ = ["Attempt", "NexusClient", "is_rejection"]

Body = Union[bytes, bytearray, memoryview, str, None]
Headers = Union[Mapping[str, str], Iterable[tuple[str, str]], None]
FetchResult = tuple[int, dict[str, str], bytes]
# One attempt of a request the caller sends itself: (url, headers, generation of the token).
Attempt = tuple[str, list[tuple[str, str]], int]


class NexusClient(_native.Client):
    """A client of the Nexus gateway. Thread-safe; share one per process.

    ``NexusClient(NexusClientOptions(gateway_url=..., api_key=...))``.
    """

    options: NexusClientOptions

    def __init__(self, options: NexusClientOptions) -> None:
        # The native constructor has already read the options (it runs first, as __new__).
        self.options = options

    # The connection lifecycle: native calls returning plain dicts, wrapped in dataclasses.

    def request_connection(self, request: RequestConnectionInput) -> ConnectionRequest:
        """Start an OAuth connection for ``request.user_id``; send the person to ``auth_url``."""
        body = {
            "user_id": request.user_id,
            "provider_name": request.provider_name,
            "scopes": list(request.scopes),
            "metadata": dict(request.metadata),
        }
        if request.return_url is not None:
            body["return_url"] = request.return_url
        raw = self._request_connection(json.dumps(body))
        return ConnectionRequest._from_native(raw)

    def check_connection(self, connection_id: str) -> ConnectionCheck:
        """The connection's current status."""
        return ConnectionCheck._from_native(self._check_connection(connection_id))

    def wait_for_active(
        self, connection_id: str, timeout: float = 300.0, interval: float = 2.0
    ) -> ConnectionCheck:
        """Poll until the connection is active.

        Raises :class:`~nexus_sdk.errors.ConnectionFailed` when it reaches ``needs_reauth``,
        ``revoked`` or ``failed``, and :class:`~nexus_sdk.errors.NexusTimeout` after ``timeout``
        seconds.
        """
        return ConnectionCheck._from_native(self._wait_for_active(connection_id, timeout, interval))

    def get_token_by_connection_id(self, connection_id: str) -> CachedToken:
        """A fresh credential of one connection (not cached)."""
        return self._get_token_by_connection_id(connection_id)

    def refresh_connection(self, connection_id: str) -> CachedToken:
        """Force a refresh at the provider and return the new credential."""
        return self._refresh_connection(connection_id)

    # Agent sessions: the core's (renewal, single flight, cache namespace); see session.py.

    def start_session(
        self,
        scopes: Iterable[str] = (),
        ttl: float | None = None,
        on_behalf_of: str | None = None,
        agent_credential: str | None = None,
    ) -> Session:
        """Start an agent session; every resolve uses its token until :meth:`close_session`.

        ``scopes`` empty means every scope the agent declared; one outside that set raises
        ``Forbidden`` (``scope_not_allowed``). ``ttl`` (seconds) is capped by the gateway.
        ``on_behalf_of`` is the user's token (On-Behalf-Of); ``agent_credential`` authenticates
        the start instead of the API key. The core renews the session at 80 % of its lifetime.
        """
        raw = _native.start_session(self, list(scopes), ttl, on_behalf_of, agent_credential)
        return Session._from_native(raw)

    def close_session(self) -> None:
        """Revoke the active session and go back to the API key (no-op without one)."""
        _native.close_session(self)

    def authorize(self, scope: str) -> Authorization:
        """Check ``scope`` against the active session; a refusal raises ``Forbidden``."""
        raw = _native.authorize(self, scope)
        return Authorization(raw["allowed"], raw["scope"], raw["session_id"])

    @property
    def session(self) -> Session | None:
        """The active session (after renewals), or ``None``."""
        raw = _native.current_session(self)
        return None if raw is None else Session._from_native(raw)

    async def start_session_async(
        self,
        scopes: Iterable[str] = (),
        ttl: float | None = None,
        on_behalf_of: str | None = None,
        agent_credential: str | None = None,
    ) -> Session:
        return await asyncio.to_thread(
            self.start_session, list(scopes), ttl, on_behalf_of, agent_credential
        )

    async def close_session_async(self) -> None:
        await asyncio.to_thread(self.close_session)

    async def authorize_async(self, scope: str) -> Authorization:
        return await asyncio.to_thread(self.authorize, scope)

    # async variants: the same native calls on a worker thread.

    async def aresolve_token(
        self, workspace_id: str, provider_name: str, force_refresh: bool = False
    ) -> CachedToken:
        return await asyncio.to_thread(
            self.resolve_token, workspace_id, provider_name, force_refresh
        )

    async def aget_cached_token(
        self, cache: TokenCache, workspace_id: str, provider_name: str
    ) -> CachedToken:
        return await asyncio.to_thread(self.get_cached_token, cache, workspace_id, provider_name)

    async def aprepare_request(
        self,
        cache: TokenCache,
        workspace_id: str,
        provider_name: str,
        method: str,
        url: str,
        headers: Headers = None,
        data: Body = None,
    ) -> tuple[str, list[tuple[str, str]]]:
        return await asyncio.to_thread(
            self.prepare_request, cache, workspace_id, provider_name, method, url, headers, data
        )

    async def aprepare_attempt(
        self,
        cache: TokenCache,
        workspace_id: str,
        provider_name: str,
        method: str,
        url: str,
        headers: Headers = None,
        data: Body = None,
        rejected_generation: int | None = None,
    ) -> Attempt:
        return await asyncio.to_thread(
            self.prepare_attempt,
            cache,
            workspace_id,
            provider_name,
            method,
            url,
            headers,
            data,
            rejected_generation,
        )

    async def areplace_rejected(
        self, cache: TokenCache, workspace_id: str, provider_name: str, generation: int
    ) -> CachedToken:
        return await asyncio.to_thread(
            self.replace_rejected, cache, workspace_id, provider_name, generation
        )

    def authenticated_fetch(
        self,
        cache: TokenCache,
        workspace_id: str,
        provider_name: str,
        url: str,
        method: str = "GET",
        headers: Headers = None,
        data: Body = None,
        *,
        proxy: bool = False,
        proxy_host: str | None = None,
    ) -> FetchResult:
        """One request with the credential of (workspace, provider): ``(status, headers, body)``.

        ``proxy=True``: proxy mode (docs/proxy.md). ``url`` is then a path relative to the
        provider's ``api_base_url`` (``"/contacts/42?x=1"``); the gateway injects the credential,
        so this process never holds it (``cache`` is not used). The upstream's answer is returned
        whatever its status (no 401 retry: the gateway did it; no redirect followed); the
        gateway's own answers raise the typed exception. ``proxy_host`` names another host of
        the provider (an entry of its ``proxy.allowed_hosts``).
        """
        if proxy:
            return _native.proxy_fetch(
                self, workspace_id, provider_name, url, method, headers, data, proxy_host
            )
        return super().authenticated_fetch(
            cache, workspace_id, provider_name, url, method, headers, data
        )

    async def authenticated_fetch_async(
        self,
        cache: TokenCache,
        workspace_id: str,
        provider_name: str,
        url: str,
        method: str = "GET",
        headers: Headers = None,
        data: Body = None,
        *,
        proxy: bool = False,
        proxy_host: str | None = None,
    ) -> FetchResult:
        return await asyncio.to_thread(
            lambda: self.authenticated_fetch(
                cache,
                workspace_id,
                provider_name,
                url,
                method,
                headers,
                data,
                proxy=proxy,
                proxy_host=proxy_host,
            )
        )

    async def wait_for_active_async(
        self, connection_id: str, timeout: float = 300.0, interval: float = 2.0
    ) -> ConnectionCheck:
        return await asyncio.to_thread(self.wait_for_active, connection_id, timeout, interval)

    def __repr__(self) -> str:
        return f"NexusClient(gateway_url={self.options.gateway_url!r})"
