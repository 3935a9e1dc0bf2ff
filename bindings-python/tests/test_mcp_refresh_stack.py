"""Refresh-token rotation and replay through the official Python MCP client's own OAuth
(``mcp`` 2.x ``OAuthClientProvider``) against ``nexus dev`` (design 17 §2.4, D8, §7 case 4).

The client refreshes only when its **local** expiry has passed (design §0); the shortest access
token lifetime a resource may have is 60 s, so the test moves the client's clock instead: it sets
the provider's computed expiry (``context.token_expiry_time``) into the past, which is exactly the
state the client is in once the lifetime has elapsed. Nothing else of the client is touched.

- The refresh rotates: a new refresh token, the tool call goes through, no new login.
- The old refresh token replayed with a raw POST to ``/as/token`` ⇒ ``invalid_grant``, and the
  family is revoked: the client's next refresh (with the rotated token) is refused and the client
  authorises again through the browser.
- The kit validates access tokens offline (design §4: signature, ``iss``, ``aud``, ``exp``; no
  revocation lookup), so the access token minted from the revoked family stays accepted by the
  resource server until its ``exp``; the test asserts that too, so a change of that rule is seen.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx2
from test_mcp_remote_stack import Client, Served, text
from test_stack import Stack, stack

__all__ = ["stack"]  # the fixture, imported for pytest


def let_access_token_expire(client: Client) -> None:
    """The client's view after the access token's lifetime has passed (its own expiry rule)."""
    client.provider.context.token_expiry_time = time.time() - 1


def token_answers(client: Client, broker: str) -> list[int]:
    return [r.status_code for r in client.answers if str(r.url) == f"{broker}/as/token"]


async def whoami_with(resource: str, access_token: str) -> int:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    async with httpx2.AsyncClient() as web:
        answer = await web.post(
            resource,
            json=initialize,
            headers={
                "authorization": f"Bearer {access_token}",
                "accept": "application/json, text/event-stream",
            },
        )
    return int(answer.status_code)


def test_refresh_rotates_and_a_replayed_refresh_token_revokes_the_family(stack: Stack) -> None:
    broker = stack.env["NEXUS_BROKER_URL"].rstrip("/")

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with Served(stack) as served:
            client = Client(stack, served.resource)
            (first,) = await client.call(("whoami", {}))
            seen["first"] = text(first)
            assert client.storage.tokens is not None and client.storage.client is not None
            one = client.storage.tokens
            seen["tokens_before_refresh"] = token_answers(client, broker)

            let_access_token_expire(client)
            (second,) = await client.call(("whoami", {}))
            seen["second"] = text(second)
            assert client.storage.tokens is not None
            two = client.storage.tokens
            seen["tokens_after_refresh"] = token_answers(client, broker)
            seen["visits_after_refresh"] = client.browser.visits

            async with httpx2.AsyncClient() as web:
                replay = await web.post(
                    f"{broker}/as/token",
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": one.refresh_token or "",
                        "client_id": client.storage.client.client_id or "",
                        "resource": served.resource,
                    },
                )
            seen["replay"] = (replay.status_code, replay.json())
            seen["family_access_token"] = await whoami_with(served.resource, two.access_token)

            let_access_token_expire(client)
            (third,) = await client.call(("whoami", {}))
            seen["third"] = text(third)
            seen["tokens_after_replay"] = token_answers(client, broker)
            seen["visits_after_replay"] = client.browser.visits
            seen["tokens"] = (one, two, client.storage.tokens)
        return seen

    seen = asyncio.run(scenario())
    one, two, three = seen["tokens"]
    # The first connect: one code exchange, no refresh yet.
    assert seen["tokens_before_refresh"] == [200]
    # Rotation: the client refreshed (a second 200 at the token endpoint, no login) and got a new
    # refresh token; the call with the new access token went through as the same user.
    assert seen["tokens_after_refresh"] == [200, 200]
    assert seen["visits_after_refresh"] == 1
    assert two.refresh_token is not None and two.refresh_token.startswith("nxr_")
    assert two.refresh_token != one.refresh_token
    assert two.access_token != one.access_token
    assert seen["second"] == seen["first"]
    # Replay of the used refresh token: refused.
    status, body = seen["replay"]
    assert status == 400, body
    assert body["error"] == "invalid_grant", body
    assert "refresh_token" not in body and "access_token" not in body
    # Offline validation at the kit: the family's access token still passes until its exp.
    assert seen["family_access_token"] == 200
    # The family is revoked: the rotated refresh token, never used, is refused as well, and the
    # client falls back to a full authorization (a second browser visit, a new code exchange).
    assert seen["tokens_after_replay"] == [200, 200, 400, 200]
    assert seen["visits_after_replay"] == 2
    assert three is not None and three.refresh_token not in (one.refresh_token, two.refresh_token)
    assert seen["third"] == seen["first"]
