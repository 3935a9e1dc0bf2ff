"""The official Python MCP client (``mcp`` 2.x ``OAuthClientProvider``) authorises against
``nexus dev`` as its OAuth authorization server, then calls a tool on a remote (streamable
HTTP) MCP server that validates the access token with Nexus's ``/as/jwks``.

The client discovers everything itself (401 → protected-resource metadata → RFC 8414 metadata →
RFC 7591 registration → PKCE). Its redirect handler plays the browser over real HTTP: the
development login (password from ``dev.env``) and the consent page's Allow button. Uses the
``stack`` fixture of test_stack.py (skipped without the binaries unless
``NEXUS_REQUIRE_STACK=1``).
"""

from __future__ import annotations

import asyncio
import html
import re
import socket
import urllib.parse
from typing import Any

import httpx2
import jwt
import uvicorn
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from test_stack import Stack, stack

__all__ = ["stack"]  # the fixture, imported for pytest

REDIRECT_URI = "http://127.0.0.1:33333/callback"


class JwksVerifier:
    """A resource server's token check: signature by a key of the issuer's JWKS, `iss`, `aud`."""

    def __init__(self, issuer: str, resource: str) -> None:
        self.issuer, self.resource = issuer, resource
        self.keys = jwt.PyJWKClient(f"{issuer}/as/jwks")

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            key = await asyncio.to_thread(self.keys.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token, key.key, algorithms=["ES256"], audience=self.resource, issuer=self.issuer
            )
        except jwt.PyJWTError:
            return None
        return AccessToken(
            token=token,
            client_id=claims["client_id"],
            scopes=claims["scope"].split(),
            expires_at=claims["exp"],
            resource=claims["aud"],
            subject=claims["sub"],
            claims=claims,
        )


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def hidden(page: str, name: str) -> str:
    found = re.search(f'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} field in {page}"
    return html.unescape(found.group(1))


class Browser:
    """Answers the client's redirect like a person would: log in, then Allow."""

    def __init__(self, broker: str, password: str, username: str = "alice") -> None:
        self.broker, self.password, self.username = broker, password, username
        self.result: asyncio.Future[AuthorizationCodeResult] | None = None
        self.visits = 0

    async def redirect(self, url: str) -> None:
        self.visits += 1
        self.result = asyncio.get_running_loop().create_future()
        origin = {"origin": self.broker}
        async with httpx2.AsyncClient(follow_redirects=False) as web:
            start = await web.get(url)
            assert start.status_code == 303, start.text
            login = await web.get(start.headers["location"])
            request = hidden(login.text, "request")
            form = {"request": request, "csrf": hidden(login.text, "csrf")}
            form |= {"username": self.username, "password": self.password}
            logged_in = await web.post(f"{self.broker}/as/login/dev", data=form, headers=origin)
            assert logged_in.status_code == 303, logged_in.text
            cookie = logged_in.headers["set-cookie"].split(";", 1)[0]
            headers = {"cookie": cookie}
            consent = await web.get(logged_in.headers["location"], headers=headers)
            if consent.status_code == 303:
                back = consent  # consent already given for these scopes: straight back
            else:
                assert ">Allow<" in consent.text, consent.text
                decision = {
                    "request": request,
                    "csrf": hidden(consent.text, "csrf"),
                    "decision": "allow",
                }
                back = await web.post(
                    f"{self.broker}/as/consent", data=decision, headers=headers | origin
                )
        assert back.status_code == 303, back.text
        location = back.headers["location"]
        assert location.startswith(REDIRECT_URI + "?"), location
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
        self.result.set_result(
            AuthorizationCodeResult(
                code=query["code"], state=query.get("state"), iss=query.get("iss")
            )
        )

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None, "callback before redirect"
        return await self.result


def notes_server(issuer: str, resource: str) -> MCPServer:
    server = MCPServer(
        "notes",
        token_verifier=JwksVerifier(issuer, resource),
        auth=AuthSettings(
            issuer_url=issuer,
            resource_server_url=resource,
            required_scopes=["notes:read"],
            validate_token_resource=True,
        ),
    )

    @server.tool()
    def whoami() -> str:
        token = get_access_token()
        assert token is not None
        return f"{token.subject} {token.client_id} {' '.join(token.scopes)}"

    return server


async def authorise_and_call(stack: Stack) -> dict[str, Any]:
    broker = stack.env["NEXUS_BROKER_URL"].rstrip("/")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # connections queue until uvicorn accepts: no wait for readiness needed
    resource = f"http://127.0.0.1:{listener.getsockname()[1]}/mcp"
    stack.admin(
        "POST",
        f"/admin/v1/workspaces/{stack.workspace}/mcp-resources",
        {"resource_uri": resource, "name": "Notes", "scopes": ["notes:read", "notes:write"]},
    )
    app = notes_server(broker, resource).streamable_http_app()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    browser = Browser(broker, stack.env["NEXUS_DEV_LOGIN_PASSWORD"])
    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=resource,
        client_metadata=OAuthClientMetadata(
            client_name="python e2e",
            redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.callback,
    )
    try:
        async with (
            httpx2.AsyncClient(auth=provider) as http,
            streamable_http_client(resource, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            result = await session.call_tool("whoami", {})
    finally:
        server.should_exit = True
        await serving
    return {"result": result, "storage": storage, "browser": browser, "resource": resource}


def test_official_client_authorises_through_nexus_and_calls_a_tool(stack: Stack) -> None:
    outcome = asyncio.run(authorise_and_call(stack))
    result, storage = outcome["result"], outcome["storage"]
    assert not result.is_error, result
    subject, client_id, scopes = result.content[0].text.split(" ", 2)
    assert subject.startswith("usr_")
    assert client_id.startswith("ocl_"), "registered through RFC 7591"
    assert scopes == "notes:read"
    assert outcome["browser"].visits == 1
    assert storage.tokens is not None and storage.tokens.refresh_token is not None
    assert storage.tokens.refresh_token.startswith("nxr_")
    claims = jwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert claims["aud"] == outcome["resource"]
