"""``nexus_sdk.mcp``'s upstream side without the MCP stack: ``user_credential`` / ``user_fetch``
for the current request's user against a loopback gateway (``POST /v1/mcp/user-credential``)
and a loopback upstream, and ``requires_connection`` turning ``connection_required`` into the
``mcp`` package's URL elicitation (``-32042``). End to end with the official client and
``nexus dev``: test_mcp_remote_upstream.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from mcp.shared.exceptions import UrlElicitationRequiredError

from nexus_sdk import ConnectionRequiredError, NexusClient, NexusClientOptions
from nexus_sdk.mcp import (
    McpUser,
    NexusResourceServer,
    _current,
    _server,
    current_user,
    requires_connection,
    user_credential,
    user_fetch,
)

from servers import LoopbackServer, Recorded, Reply, json_reply, resolve_body

LINK = "http://127.0.0.1:9/as/connect/tkt_bob"


def user(subject: str, token: str) -> McpUser:
    return McpUser(
        subject=subject,
        workspace_id="ws_1",
        client_id="ocl_1",
        scopes=("repos:read",),
        expires_at=4_000_000_000,
        issuer="http://127.0.0.1:9",
        resource="http://127.0.0.1:9/mcp",
        actor=None,
        grant_id=None,
        token_id=None,
        token=token,
    )


class World:
    """A gateway that knows alice's connection (``at-alice`` → ``gh-alice``) and nobody else's,
    and an upstream echoing the credential it received."""

    def __init__(self) -> None:
        self.upstream = LoopbackServer(self._upstream).start()
        self.gateway = LoopbackServer(self._gateway).start()

    def _upstream(self, request: Recorded) -> Reply:
        return json_reply(200, {"authorization": request.headers.get("authorization")})

    def _gateway(self, request: Recorded) -> Reply:
        sent = json.loads(request.body)
        if sent["subject_token"] == "at-alice":
            body = resolve_body(token="gh-alice")
            body["api_base_url"] = self.upstream.url
            return json_reply(200, body)
        return json_reply(
            409,
            {
                "error": "connection_required",
                "message": "Connect GitHub to continue",
                "provider": sent["provider"],
                "reason": "missing",
                "connect_url": LINK,
                "elicitation_id": "eli_bob",
            },
        )

    def guard(self) -> NexusResourceServer:
        client = NexusClient(NexusClientOptions(gateway_url=self.gateway.url, api_key="nxk_k"))
        return NexusResourceServer(
            resource="http://127.0.0.1:9/mcp", issuer="http://127.0.0.1:9", client=client
        )

    def stop(self) -> None:
        self.gateway.stop()
        self.upstream.stop()


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    yield w
    w.stop()


async def as_user(guard: NexusResourceServer, who: McpUser, call: Any) -> Any:
    """Run ``call()`` as the guard does around a tool: with the request's user and guard set."""
    user_token, server_token = _current.set(who), _server.set(guard)
    try:
        return await call()
    finally:
        _server.reset(server_token)
        _current.reset(user_token)


def test_a_tool_reaches_the_upstream_with_the_calling_users_credential(world: World) -> None:
    guard = world.guard()
    alice = user("usr_alice", "at-alice")

    async def tool() -> tuple[Any, Any]:
        credential = await user_credential("github")
        answer = await user_fetch("github", f"{credential.api_base_url}/user/repos")
        return credential, answer

    credential, (status, _headers, body) = asyncio.run(as_user(guard, alice, tool))
    assert credential.access_token == "gh-alice"
    assert status == 200
    assert json.loads(body) == {"authorization": "Bearer gh-alice"}
    # One gateway call: the second use was the core's cache, keyed by this user.
    assert world.gateway.count("/v1/mcp/user-credential") == 1
    sent = world.gateway.requests[0]
    assert sent.headers["authorization"] == "Bearer nxk_k"
    assert json.loads(sent.body) == {"provider": "github", "subject_token": "at-alice"}
    assert sent.query == {}, "the user's token never goes into a URL"


def test_a_user_without_a_connection_gets_the_url_elicitation(world: World) -> None:
    guard = world.guard()
    bob = user("usr_bob", "at-bob")

    @requires_connection
    async def list_repos(owner: str = "me") -> str:
        """The docstring and signature stay (the MCP SDK reads them)."""
        await user_credential("github")
        return owner

    with pytest.raises(UrlElicitationRequiredError) as raised:
        asyncio.run(as_user(guard, bob, list_repos))
    elicitation = raised.value
    assert elicitation.error.code == -32042
    [params] = elicitation.elicitations
    assert (params.mode, params.url, params.elicitation_id) == ("url", LINK, "eli_bob")
    assert params.message == "Connect GitHub to continue"
    assert isinstance(elicitation.__cause__, ConnectionRequiredError)
    assert list_repos.__doc__ and "signature" in list_repos.__doc__
    assert list_repos.__wrapped__.__name__ == "list_repos"  # type: ignore[attr-defined]

    # Without the decorator: the typed error with its fields.
    async def bare() -> None:
        await user_credential("github")

    with pytest.raises(ConnectionRequiredError) as plain:
        asyncio.run(as_user(guard, bob, bare))
    error = plain.value
    assert (error.code, error.status_code, error.provider, error.reason) == (
        "connection_required",
        409,
        "github",
        "missing",
    )
    assert (error.connect_url, error.elicitation_id) == (LINK, "eli_bob")


def test_outside_a_guarded_request_it_says_so() -> None:
    with pytest.raises(LookupError):
        asyncio.run(user_credential("github"))
    guard = NexusResourceServer(resource="http://127.0.0.1:9/mcp", issuer="http://127.0.0.1:9")

    async def no_client() -> None:
        assert current_user().subject == "usr_alice"
        await user_credential("github")

    with pytest.raises(LookupError, match="client="):
        asyncio.run(as_user(guard, user("usr_alice", "at-alice"), no_client))
