"""The remote MCP server example (``examples/python-mcp-remote``, protected by
``nexus_sdk.mcp``) driven by the official Python MCP client's own OAuth (``mcp`` 2.x
``OAuthClientProvider``) against ``nexus dev`` as the authorization server.

- Cold connect: the kit's 401 (``resource_metadata``, ``scope``) → the kit's RFC 9728 metadata →
  Nexus's RFC 8414 metadata → registration → PKCE → login and consent → token → tool call that
  sees the user.
- A token minted for another resource is refused with 401 ``invalid_token``, and the client
  authorises again for this one.
- Step-up: a tool needing ``notes:write`` answers 403 ``insufficient_scope`` naming the scopes;
  the client authorises again with them and the call goes through.

Uses the ``stack`` fixture of test_stack.py (skipped without the binaries unless
``NEXUS_REQUIRE_STACK=1``) and the redirect-answering ``Browser`` of test_mcp_auth_stack.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import jwt
import uvicorn
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from test_mcp_auth_stack import REDIRECT_URI, Browser, MemoryStorage
from test_stack import Stack, stack

from nexus_sdk import NexusClient

__all__ = ["stack"]  # the fixture, imported for pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python-mcp-remote" / "server.py"


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("python_mcp_remote", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Served:
    """The example server on a loopback port, registered as a resource in the workspace."""

    def __init__(
        self,
        stack: Stack,
        path: str = "/mcp",
        client: NexusClient | None = None,
        repos_provider: str = "example",
    ) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)  # connections queue until uvicorn accepts: no readiness wait
        self.resource = f"http://127.0.0.1:{self.listener.getsockname()[1]}{path}"
        self.broker = stack.env["NEXUS_BROKER_URL"].rstrip("/")
        stack.admin(
            "POST",
            f"/admin/v1/workspaces/{stack.workspace}/mcp-resources",
            {
                "resource_uri": self.resource,
                "name": "Notes",
                "scopes": ["notes:read", "notes:write", "repos:read"],
            },
        )
        app = load_example().build_app(self.resource, self.broker, client, repos_provider)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Served:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.listener]))
        return self

    async def __aexit__(self, *_: object) -> None:
        self.server.should_exit = True
        assert self.task is not None
        await self.task


class Client:
    """The official client with its OAuth provider, recording every answer it got."""

    def __init__(
        self,
        stack: Stack,
        resource: str,
        storage: MemoryStorage | None = None,
        username: str = "alice",
        client_metadata_url: str | None = None,
    ) -> None:
        self.browser = Browser(
            stack.env["NEXUS_BROKER_URL"].rstrip("/"),
            stack.env["NEXUS_DEV_LOGIN_PASSWORD"],
            username,
        )
        self.storage = storage or MemoryStorage()
        self.resource = resource
        self.answers: list[httpx2.Response] = []
        self.provider = OAuthClientProvider(
            server_url=resource,
            client_metadata=OAuthClientMetadata(
                client_name="python remote e2e",
                redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]
                grant_types=["authorization_code", "refresh_token"],
                token_endpoint_auth_method="none",
            ),
            storage=self.storage,
            redirect_handler=self.browser.redirect,
            callback_handler=self.browser.callback,
            client_metadata_url=client_metadata_url,
        )

    async def record(self, response: httpx2.Response) -> None:
        self.answers.append(response)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[ClientSession]:
        """An initialised MCP session of the official client (authorising on the way)."""
        hooks = {"response": [self.record]}
        async with (
            httpx2.AsyncClient(auth=self.provider, event_hooks=hooks) as http,
            streamable_http_client(self.resource, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session

    async def call(self, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
        async with self.session() as session:
            return [await session.call_tool(name, args) for name, args in calls]

    def refusals(self, status: int) -> list[httpx2.Response]:
        mcp = [r for r in self.answers if str(r.url) == self.resource]
        return [r for r in mcp if r.status_code == status]


def text(result: Any) -> str:
    assert not result.is_error, result
    return str(result.content[0].text)


def test_cold_connect_discovers_nexus_from_the_kits_401_and_calls_a_tool(stack: Stack) -> None:
    async def scenario() -> tuple[Client, list[Any], Any]:
        async with Served(stack) as served:
            client = Client(stack, served.resource)
            results = await client.call(("whoami", {}))
            async with httpx2.AsyncClient() as web:
                metadata = await web.get(
                    served.resource.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
                )
            return client, results, metadata

    client, (whoami,), metadata = asyncio.run(scenario())
    subject, workspace, client_id = text(whoami).split(" ")
    assert subject.startswith("usr_")
    assert workspace == stack.workspace
    assert client_id.startswith("ocl_")
    first = client.refusals(401)[0]
    challenge = first.headers["www-authenticate"]
    assert challenge.startswith('Bearer resource_metadata="http://127.0.0.1:'), challenge
    assert 'scope="notes:read"' in challenge
    assert "error=" not in challenge, "no token was presented"
    assert metadata.status_code == 200
    document = metadata.json()
    assert document["resource"] == client.resource
    assert document["authorization_servers"] == [stack.env["NEXUS_BROKER_URL"].rstrip("/")]
    assert document["scopes_supported"] == ["notes:read", "notes:write", "repos:read"]


def test_step_up_on_insufficient_scope(stack: Stack) -> None:
    async def scenario() -> tuple[Client, list[Any]]:
        async with Served(stack) as served:
            client = Client(stack, served.resource)
            results = await client.call(("write_note", {"text": "first"}), ("list_notes", {}))
            return client, results

    client, (written, listed) = asyncio.run(scenario())
    assert text(written) == "1 notes"
    assert "first" in str(listed.content)
    step_up = client.refusals(403)
    assert len(step_up) == 1, [r.status_code for r in client.answers]
    challenge = step_up[0].headers["www-authenticate"]
    assert challenge.startswith('Bearer error="insufficient_scope", scope="notes:read notes:write"')
    assert 'resource_metadata="' in challenge
    assert client.browser.visits == 2, "the user was asked again, for the wider scope"
    assert client.storage.tokens is not None
    claims = jwt.decode(client.storage.tokens.access_token, options={"verify_signature": False})
    assert set(claims["scope"].split()) == {"notes:read", "notes:write"}


def test_a_token_for_another_resource_is_refused(stack: Stack) -> None:
    async def scenario() -> tuple[httpx2.Response, Client, str]:
        async with Served(stack, "/other") as other:
            first = Client(stack, other.resource)
            await first.call(("whoami", {}))
            assert first.storage.tokens is not None
            foreign = first.storage.tokens.access_token
        async with Served(stack) as served:
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
                raw = await web.post(
                    served.resource,
                    json=initialize,
                    headers={
                        "authorization": f"Bearer {foreign}",
                        "accept": "application/json, text/event-stream",
                    },
                )
            # The official client holding that token: refused, it authorises for this server.
            second = Client(stack, served.resource, storage=first.storage)
            (whoami,) = await second.call(("whoami", {}))
            return raw, second, text(whoami)

    raw, second, whoami = asyncio.run(scenario())
    assert raw.status_code == 401
    challenge = raw.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"'), challenge
    assert "issued for another resource" in challenge
    assert raw.json()["error"] == "invalid_token"
    assert second.refusals(401), "the foreign token was refused"
    assert second.browser.visits == 1
    assert whoami.startswith("usr_")
    assert second.storage.tokens is not None
    claims = jwt.decode(second.storage.tokens.access_token, options={"verify_signature": False})
    assert claims["aud"] == second.resource
