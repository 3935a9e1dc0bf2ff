"""Enterprise-managed authorization (MCP extension
``io.modelcontextprotocol/enterprise-managed-authorization``) end to end, with the official
Python client's own ``IdentityAssertionOAuthProvider`` (``mcp`` 2.x):

1. the client holds the user's ID token from the company identity provider and asks that
   provider for an ID-JAG (RFC 8693 token exchange, ``requested_token_type`` id-jag,
   ``audience`` = Nexus's issuer, ``resource`` = the MCP server);
2. it redeems the ID-JAG at Nexus's token endpoint (RFC 7523 JWT-bearer grant, confidential
   client);
3. it calls a tool on the example MCP server protected by ``nexus_sdk.mcp``, which sees the
   user Nexus mapped from the identity provider's ``sub``.

The identity provider is written here, on loopback: a real HTTP server with a JWKS and a
token-exchange endpoint, signing with a key made for the test. It stands in for the company
IdP (Okta, Entra ID…), which cannot run here. Uses the ``stack`` fixture (``nexus dev``).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from typing import Any

import httpx2
import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from test_mcp_auth_stack import MemoryStorage
from test_mcp_remote_stack import Served, text
from test_stack import Stack, stack

__all__ = ["stack"]  # the fixture, imported for pytest

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_JAG_TYPE = "urn:ietf:params:oauth:token-type:id-jag"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IDP_CLIENT = ("mcp-agent-at-idp", "idp-client-secret")


class CompanyIdp:
    """A loopback identity provider: ``/jwks`` and an RFC 8693 ``/token`` issuing ID-JAGs."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = "test-idp-key"
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)  # connections queue until uvicorn accepts: no readiness wait
        self.issuer = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.issued: list[str] = []
        # The Nexus client the ID-JAGs are issued to (set once it is registered at Nexus).
        self.nexus_client_id = ""
        app = Starlette(
            routes=[Route("/jwks", self.jwks), Route("/token", self.token, methods=["POST"])]
        )
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.task: asyncio.Task[None] | None = None

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        return jwt.encode(
            claims, self.key, algorithm="ES256", headers={"kid": self.kid, "typ": typ}
        )

    def id_token(self, subject: str) -> str:
        """What the user's login at this provider gave the client (the exchange's input)."""
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject, "aud": IDP_CLIENT[0]}
        return self.sign({**claims, "iat": now, "exp": now + 300}, "JWT")

    async def jwks(self, _: Request) -> JSONResponse:
        jwk = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        return JSONResponse({"keys": [{**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}]})

    async def token(self, request: Request) -> JSONResponse:
        form = await request.form()
        if (form.get("client_id"), form.get("client_secret")) != IDP_CLIENT:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if (
            form.get("grant_type") != TOKEN_EXCHANGE
            or form.get("requested_token_type") != ID_JAG_TYPE
            or form.get("subject_token_type") != ID_TOKEN_TYPE
        ):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        try:
            login = jwt.decode(
                str(form.get("subject_token")),
                self.key.public_key(),
                algorithms=["ES256"],
                audience=IDP_CLIENT[0],
                issuer=self.issuer,
            )
        except jwt.InvalidTokenError:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        id_jag = self.sign(
            {
                "iss": self.issuer,
                "sub": login["sub"],
                "aud": str(form.get("audience")),
                "resource": str(form.get("resource")),
                "client_id": self.nexus_client_id,
                "jti": str(uuid.uuid4()),
                "scope": str(form.get("scope") or "notes:read"),
                "iat": now,
                "exp": now + 300,
            },
            "oauth-id-jag+jwt",
        )
        self.issued.append(id_jag)
        return JSONResponse(
            {
                "access_token": id_jag,
                "issued_token_type": ID_JAG_TYPE,
                "token_type": "N_A",
                "expires_in": 300,
            }
        )

    async def __aenter__(self) -> CompanyIdp:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.listener]))
        return self

    async def __aexit__(self, *_: object) -> None:
        self.server.should_exit = True
        assert self.task is not None
        await self.task


async def exchange_at_idp(idp: CompanyIdp, id_token: str, audience: str, resource: str) -> str:
    """Leg 1 (deployment-specific, outside the SDK): RFC 8693 at the company IdP."""
    async with httpx2.AsyncClient() as web:
        answer = await web.post(
            f"{idp.issuer}/token",
            data={
                "grant_type": TOKEN_EXCHANGE,
                "requested_token_type": ID_JAG_TYPE,
                "subject_token": id_token,
                "subject_token_type": ID_TOKEN_TYPE,
                "audience": audience,
                "resource": resource,
                "scope": "notes:read",
                "client_id": IDP_CLIENT[0],
                "client_secret": IDP_CLIENT[1],
            },
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued_token_type"] == ID_JAG_TYPE
    return str(body["access_token"])


def test_id_jag_from_the_company_idp_gets_a_token_and_calls_a_tool(stack: Stack) -> None:
    broker = stack.env["NEXUS_BROKER_URL"].rstrip("/")

    async def scenario() -> dict[str, Any]:
        async with CompanyIdp() as idp, Served(stack) as served:
            stack.admin(
                "POST",
                f"/admin/v1/workspaces/{stack.workspace}/identity-providers",
                {"issuer": idp.issuer, "jwks_url": f"{idp.issuer}/jwks", "allow_id_jag": True},
            )
            async with httpx2.AsyncClient() as web:
                well_known = f"{broker}/.well-known/oauth-authorization-server"
                metadata = (await web.get(well_known)).json()
                registered = await web.post(
                    f"{broker}/as/register",
                    json={
                        "client_name": "enterprise agent",
                        "grant_types": [JWT_BEARER],
                        "token_endpoint_auth_method": "client_secret_post",
                    },
                )
            assert registered.status_code == 201, registered.text
            client = registered.json()
            idp.nexus_client_id = client["client_id"]
            id_token = idp.id_token("alice@corp.example")

            async def assertion_provider(audience: str, resource: str) -> str:
                return await exchange_at_idp(idp, id_token, audience, resource)

            storage = MemoryStorage()
            provider = IdentityAssertionOAuthProvider(
                server_url=served.resource,
                storage=storage,
                client_id=client["client_id"],
                client_secret=client["client_secret"],
                issuer=broker,
                assertion_provider=assertion_provider,
                scope="notes:read",
            )
            async with (
                httpx2.AsyncClient(auth=provider) as http,
                streamable_http_client(served.resource, http_client=http) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                whoami = await session.call_tool("whoami", {})
            # The same ID-JAG presented again (a replay by whoever saw it) is refused.
            async with httpx2.AsyncClient() as web:
                replay = await web.post(
                    f"{broker}/as/token",
                    data={
                        "grant_type": JWT_BEARER,
                        "assertion": idp.issued[0],
                        "client_id": client["client_id"],
                        "client_secret": client["client_secret"],
                    },
                )
            return {
                "metadata": metadata,
                "whoami": text(whoami),
                "client_id": client["client_id"],
                "tokens": storage.tokens,
                "issued": len(idp.issued),
                "replay": replay,
                "resource": served.resource,
            }

    seen = asyncio.run(scenario())
    assert JWT_BEARER in seen["metadata"]["grant_types_supported"]
    assert seen["metadata"]["authorization_grant_profiles_supported"] == [
        "urn:ietf:params:oauth:grant-profile:id-jag"
    ]
    subject, workspace, client_id = seen["whoami"].split(" ")
    assert subject.startswith("usr_")
    assert workspace == stack.workspace
    assert client_id == seen["client_id"]
    assert seen["issued"] == 1, "one exchange at the IdP, one grant at Nexus"
    tokens = seen["tokens"]
    assert tokens is not None and tokens.refresh_token is None
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    assert claims["aud"] == seen["resource"]
    assert claims["scope"] == "notes:read"
    assert seen["replay"].status_code == 400
    assert seen["replay"].json()["error"] == "invalid_grant"
