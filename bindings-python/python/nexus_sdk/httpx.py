"""``httpx`` integration: ``httpx.Client(auth=NexusAuth(...))`` and ``httpx.AsyncClient`` alike.

::

    from nexus_sdk.httpx import NexusAuth

    auth = NexusAuth(nexus, cache, WORKSPACE_ID, "github")
    with httpx.Client(auth=auth) as http:
        http.get("https://api.github.com/user/repos")

The credential is injected by the core's ``prepare_request`` (any strategy, including signing
ones, which is why the body is read first). On a 401 from the upstream the cached token is
dropped and the request is sent once more with a freshly resolved one. Importing this module
requires ``httpx``; ``import nexus_sdk`` alone never does.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Generator

import httpx

from ._native import TokenCache
from .client import NexusClient

__all__ = ["NexusAuth"]

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

    def _target(self) -> tuple[NexusClient, TokenCache, str, str]:
        return self._client, self._cache, self._workspace_id, self._provider_name

    @staticmethod
    def _rebuild(
        original: httpx.Request, prepared: tuple[str, list[tuple[str, str]]]
    ) -> httpx.Request:
        # The core returns the caller's headers with the injected ones merged in; build a new
        # request from them so that a retry starts again from the caller's request.
        url, headers = prepared
        return httpx.Request(
            original.method,
            url,
            headers=headers,
            content=original.content,
            extensions=original.extensions,
        )

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        client, cache, ws, provider = self._target()

        def prepare() -> httpx.Request:
            prepared = client.prepare_request(
                cache,
                ws,
                provider,
                request.method,
                str(request.url),
                request.headers.multi_items(),
                request.content,
            )
            return self._rebuild(request, prepared)

        response = yield prepare()
        if response.status_code == 401:
            logger.debug("upstream answered 401; retrying once with a fresh credential")
            client.clear_token(cache, ws, provider)
            yield prepare()

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        client, cache, ws, provider = self._target()

        async def prepare() -> httpx.Request:
            # A cache miss means a gateway call: run it off the event loop.
            prepared = await client.aprepare_request(
                cache,
                ws,
                provider,
                request.method,
                str(request.url),
                request.headers.multi_items(),
                request.content,
            )
            return self._rebuild(request, prepared)

        response = yield await prepare()
        if response.status_code == 401:
            logger.debug("upstream answered 401; retrying once with a fresh credential")
            client.clear_token(cache, ws, provider)
            yield await prepare()
