"""Call an upstream API as the MCP user (design 17 §5.4), re-exported by :mod:`nexus_sdk.mcp`.

Inside a tool of a server wrapped by :meth:`NexusResourceServer.asgi` (built with a
``client``), :func:`user_credential` is the calling user's own credential for a provider (their
GitHub, their CRM: the connection bound to that user, never the workspace's), and
:func:`user_fetch` sends a request with it, the strategy applied by the core::

    @server.tool()
    @requires_connection
    async def list_repos() -> str:
        status, _headers, body = await user_fetch("github", "https://api.github.com/user/repos")
        return body.decode()

When the user has not connected the provider (or must authorise it again), both raise
:class:`~nexus_sdk.errors.ConnectionRequiredError` with a connect link bound to that user.
:func:`requires_connection` (or :func:`url_elicitation` in an ``except``) turns it into the
``mcp`` package's ``UrlElicitationRequiredError`` (JSON-RPC error ``-32042``): the MCP client
shows the link, the user logs in to Nexus and connects, and the retried tool call works.

The cache (per workspace, user and provider, never shared across users), the expiry rule and the
401 rule are the core's; the blocking core calls run on a worker thread with the GIL released.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar, Union

from . import _native
from ._native import CachedToken
from .errors import ConnectionRequiredError
from .mcp import current_server, current_user

__all__ = ["requires_connection", "url_elicitation", "user_credential", "user_fetch"]

Body = Union[bytes, bytearray, memoryview, str, None]
Headers = Union[Mapping[str, str], Iterable[tuple[str, str]], None]
T = TypeVar("T")


async def user_credential(
    provider: str, *, min_ttl: int | None = None, force_refresh: bool = False
) -> CachedToken:
    """The current MCP user's credential for ``provider`` (the resolve response: strategy,
    credential fields, ``api_base_url``). Raises ``ConnectionRequiredError`` when the user has
    no usable connection, ``LookupError`` outside a tool of a guarded server."""
    user, server = current_user(), current_server()
    client, cache = server._upstream()
    return await asyncio.to_thread(
        _native.user_credential, client, cache, user, provider, min_ttl, force_refresh
    )


async def user_fetch(
    provider: str,
    url: str,
    method: str = "GET",
    headers: Headers = None,
    data: Body = None,
) -> tuple[int, dict[str, str], bytes]:
    """Send a request with the current MCP user's credential for ``provider`` (applied by the
    core's strategy; on a 401 refreshed once and sent again) and read the whole answer:
    ``(status, headers, body)``."""
    user, server = current_user(), current_server()
    client, cache = server._upstream()
    return await asyncio.to_thread(
        _native.user_fetch, client, cache, user, provider, url, method, headers, data
    )


def url_elicitation(error: ConnectionRequiredError) -> Exception:
    """The ``mcp`` package's ``UrlElicitationRequiredError`` (``-32042``) for ``error``: one URL
    elicitation with its connect link, message and elicitation id."""
    from mcp.shared.exceptions import UrlElicitationRequiredError
    from mcp.types import ElicitRequestURLParams

    if error.connect_url is None:  # a gateway answer without the link: nothing to elicit
        return error
    params = ElicitRequestURLParams(
        mode="url",
        message=error.message or f"Connect {error.provider} to continue",
        url=error.connect_url,
        elicitation_id=error.elicitation_id,
    )
    return UrlElicitationRequiredError([params], message=error.message or None)


def requires_connection(tool: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Decorate an ``async`` tool (under ``@server.tool()``): a ``ConnectionRequiredError`` it
    raises becomes the URL elicitation of :func:`url_elicitation`. The signature is kept, so the
    MCP SDK builds the same input schema."""

    @functools.wraps(tool)
    async def guarded(*args: Any, **kwargs: Any) -> T:
        try:
            return await tool(*args, **kwargs)
        except ConnectionRequiredError as error:
            raise url_elicitation(error) from error

    return guarded
