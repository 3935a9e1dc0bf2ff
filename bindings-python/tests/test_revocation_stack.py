"""The done-when test of the 401 rule for Python: the provider revokes an access token early (a
password change), and every Python entry point recovers with exactly one forced refresh at the
provider and a 200, through the real stack (``nexus dev``), the testkit's OAuth provider (which
can revoke access tokens) and an echo upstream that asks the provider whether a token is active.

Before the adapters used the core's rule they dropped the token and resolved again without
``force_refresh``: the gateway handed back the same revoked token and they answered 401.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import requests
from test_stack import Stack, http, stack  # noqa: F401 - `stack` is the module's fixture

from nexus_sdk import NexusClient, TokenCache
from nexus_sdk.httpx import NexusAuth as HttpxAuth
from nexus_sdk.requests import NexusAuth as RequestsAuth

PROVIDER = "fake-oauth"
Send = Callable[[NexusClient, TokenCache, str, str], int]


def via_authenticated_fetch(client: NexusClient, cache: TokenCache, ws: str, url: str) -> int:
    return client.authenticated_fetch(cache, ws, PROVIDER, url)[0]


def via_httpx(client: NexusClient, cache: TokenCache, ws: str, url: str) -> int:
    with httpx.Client(auth=HttpxAuth(client, cache, ws, PROVIDER)) as session:
        return session.get(url).status_code


def via_httpx_async(client: NexusClient, cache: TokenCache, ws: str, url: str) -> int:
    async def main() -> int:
        async with httpx.AsyncClient(auth=HttpxAuth(client, cache, ws, PROVIDER)) as session:
            return (await session.get(url)).status_code

    return asyncio.run(main())


def via_requests(client: NexusClient, cache: TokenCache, ws: str, url: str) -> int:
    with requests.Session() as session:
        return session.get(url, auth=RequestsAuth(client, cache, ws, PROVIDER)).status_code


ENTRY_POINTS: dict[str, Send] = {
    "authenticated_fetch": via_authenticated_fetch,
    "httpx_sync": via_httpx,
    "httpx_async": via_httpx_async,
    "requests": via_requests,
}


@pytest.fixture
def gated(stack: Stack) -> Iterator[Stack]:  # noqa: F811 - the imported fixture
    """The echo accepts only access tokens the OAuth provider says are active."""
    stack.echo_require(
        {"kind": "oauth_token", "introspection_url": f"{stack.oauth_url}/introspect"}
    )
    yield stack
    stack.echo_require({"kind": "none"})


def refreshes(running: Stack) -> int:
    stats: dict[str, Any] = http("GET", f"{running.oauth_url}/_control/stats", "-")
    return int(stats["refresh_accepted"])


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_early_revocation_ends_in_one_forced_refresh_and_a_200(
    gated: Stack, entry_point: str
) -> None:
    send = ENTRY_POINTS[entry_point]
    client, cache = gated.client(), TokenCache()
    url = f"{gated.echo_url}/v1/data"
    assert send(client, cache, gated.workspace, url) == 200, "the warm-up is accepted"

    revoked = http("POST", f"{gated.oauth_url}/_control/revoke-access-tokens", "-")
    assert revoked["revoked"] >= 1
    http("DELETE", f"{gated.echo_url}/_control/requests", "-")
    before = refreshes(gated)

    assert send(client, cache, gated.workspace, url) == 200
    assert refreshes(gated) == before + 1, "exactly one refresh at the provider"
    seen = http("GET", f"{gated.echo_url}/_control/requests", "-")
    assert [r["status"] for r in seen] == [401, 200], "one rejected attempt, one retry"
