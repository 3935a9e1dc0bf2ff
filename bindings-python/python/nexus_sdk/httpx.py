"""``httpx`` integration: ``httpx.Client(auth=NexusAuth(...))`` and ``httpx.AsyncClient`` alike.

::

    from nexus_sdk.httpx import NexusAuth

    auth = NexusAuth(nexus, cache, WORKSPACE_ID, "github")
    with httpx.Client(auth=auth) as http:
        http.get("https://api.github.com/user/repos")

The credential is injected by the core's ``prepare_attempt`` (any strategy, including signing
ones, which is why the body is read first). On a 401 from the upstream the core's rule applies
(``nexus_sdk::policy``): the rejected token is replaced by one forced refresh through the
cache's single flight and the request is sent once more; a second 401 is returned as it is.
This module is only the ``httpx`` glue. Importing it requires ``httpx``; ``import nexus_sdk``
alone never does.

Proxy mode (docs/proxy.md): ``proxy_client(nexus, WORKSPACE_ID, "crm")`` is an ``httpx.Client``
whose requests take a path relative to the provider's API (``http.get("/contacts/42")``) and go
through the gateway, which injects the credential: this process never holds it. Bodies stream;
the upstream's answer is returned whatever its status; the gateway's own answers raise the typed
exception; redirects are returned, not followed. ``async_proxy_client`` is the same for
``httpx.AsyncClient``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Generator
from typing import Any

import httpx

from . import _native
from ._native import TokenCache
from .client import Attempt, NexusClient, is_rejection

__all__ = ["NexusAuth", "NexusProxyAuth", "async_proxy_client", "proxy_client"]

logger = logging.getLogger(__name__)


class NexusAuth(httpx.Auth):
    """An ``httpx.Auth`` that injects a Nexus credential into every request."""

    # Signing strategies (HMAC, SigV4) need the body.
    requires_request_body = True

    def __init__(
        self, client: NexusClient, cache: TokenCache, workspace_id: str, provider_name: str
    ) -> None:
        self._client = client
        self._cache = cache
        self._workspace_id = workspace_id
        self._provider_name = provider_name

    @staticmethod
    def _rebuild(original: httpx.Request, prepared: Attempt) -> httpx.Request:
        # The core returns the caller's headers with the injected ones merged in; build a new
        # request from them so that a retry starts again from the caller's request.
        url, headers, _generation = prepared
        return httpx.Request(
            original.method,
            url,
            headers=headers,
            content=original.content,
            extensions=original.extensions,
        )

    def _attempt(self, request: httpx.Request, rejected: int | None) -> dict[str, Any]:
        """The arguments of ``prepare_attempt`` for ``request`` (a retry when ``rejected``)."""
        return {
            "cache": self._cache,
            "workspace_id": self._workspace_id,
            "provider_name": self._provider_name,
            "method": request.method,
            "url": str(request.url),
            # `raw` keeps each name as the caller wrote it (`multi_items` lower-cases them):
            # some upstreams, and MCP servers reading a plain dict, compare names exactly.
            "headers": [
                (name.decode(request.headers.encoding), value.decode(request.headers.encoding))
                for name, value in request.headers.raw
            ],
            "data": request.content,
            "rejected_generation": rejected,
        }

    def _prepare(self, request: httpx.Request, rejected: int | None = None) -> Attempt:
        return self._client.prepare_attempt(**self._attempt(request, rejected))

    async def _aprepare(self, request: httpx.Request, rejected: int | None = None) -> Attempt:
        # A cache miss or a refresh means a gateway call: run it off the event loop.
        return await self._client.aprepare_attempt(**self._attempt(request, rejected))

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        first = self._prepare(request)
        response = yield self._rebuild(request, first)
        if is_rejection(response.status_code):
            logger.debug("upstream answered 401; retrying once with a fresh credential")
            yield self._rebuild(request, self._prepare(request, rejected=first[2]))

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        first = await self._aprepare(request)
        response = yield self._rebuild(request, first)
        if is_rejection(response.status_code):
            logger.debug("upstream answered 401; retrying once with a fresh credential")
            yield self._rebuild(request, await self._aprepare(request, rejected=first[2]))


_REPLACED = frozenset(_native.proxy_replaced_headers())


class NexusProxyAuth(httpx.Auth):
    """Proxy mode as an ``httpx.Auth``: sends each request (a path relative to the provider's
    API) to the gateway's proxy endpoint with the Nexus credential, and raises the gateway's
    own answers as typed exceptions. Used by :func:`proxy_client`."""

    # The body streams through: proxy mode never reads it here.
    requires_request_body = False

    def __init__(
        self,
        client: NexusClient,
        workspace_id: str,
        provider_name: str,
        host: str | None = None,
    ) -> None:
        self._client = client
        self._workspace_id = workspace_id
        self._provider_name = provider_name
        self._host = host

    def _prepare(self, request: httpx.Request) -> tuple[str, list[tuple[str, str]]]:
        # The core refuses an absolute URL: proxy mode only ever reaches the provider's API.
        return _native.proxy_prepare(
            self._client, self._workspace_id, self._provider_name, str(request.url), self._host
        )

    @staticmethod
    def _rebuild(
        original: httpx.Request, target: tuple[str, list[tuple[str, str]]]
    ) -> httpx.Request:
        url, nexus_headers = target
        gateway = httpx.URL(url)
        encoding = original.headers.encoding
        # A request built on a stream gets no default headers from httpx: Host is set here (the
        # gateway's), Content-Length / Transfer-Encoding come from the original.
        headers = [("Host", gateway.netloc.decode("ascii"))] + [
            (name.decode(encoding), value.decode(encoding))
            for name, value in original.headers.raw
            if name.decode(encoding).lower() not in _REPLACED and name.lower() != b"host"
        ]
        return httpx.Request(
            original.method,
            gateway,
            headers=headers + nexus_headers,
            stream=original.stream,
            extensions=original.extensions,
        )

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield self._rebuild(request, self._prepare(request))
        if "nexus-error" in response.headers:
            response.read()
            _native.proxy_check_answer(
                response.status_code, list(response.headers.items()), response.content
            )

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        # Renewing an agent session is a gateway call: off the event loop.
        target = await asyncio.to_thread(self._prepare, request)
        response = yield self._rebuild(request, target)
        if "nexus-error" in response.headers:
            await response.aread()
            _native.proxy_check_answer(
                response.status_code, list(response.headers.items()), response.content
            )


def proxy_client(
    client: NexusClient,
    workspace_id: str,
    provider_name: str,
    *,
    host: str | None = None,
    **kwargs: Any,
) -> httpx.Client:
    """An ``httpx.Client`` in proxy mode for (workspace, provider); ``kwargs`` go to
    ``httpx.Client`` (timeouts, limits), except ``auth`` and ``follow_redirects``."""
    return httpx.Client(
        auth=NexusProxyAuth(client, workspace_id, provider_name, host),
        follow_redirects=False,
        **kwargs,
    )


def async_proxy_client(
    client: NexusClient,
    workspace_id: str,
    provider_name: str,
    *,
    host: str | None = None,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """:func:`proxy_client` for ``httpx.AsyncClient``."""
    return httpx.AsyncClient(
        auth=NexusProxyAuth(client, workspace_id, provider_name, host),
        follow_redirects=False,
        **kwargs,
    )
