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
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Generator
from typing import Any

import httpx

from ._native import TokenCache
from .client import Attempt, NexusClient, is_rejection

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
