"""``nexus_sdk.mcp`` without the stack: the ASGI guard around a recording app, with access tokens
signed by a P-256 key whose JWKS a loopback server publishes (the core fetches it over HTTP).

What the guard does with each request: serves the RFC 9728 metadata; refuses a missing,
foreign or under-scoped token with the core's challenge (and never calls the app); refuses an
oversized body; and for a good token calls the app with the body intact and the user visible
through ``current_user()``, ``scope["user"]`` and the MCP SDK's ``get_access_token()``. The MCP
SDK's own ``TokenVerifier`` hook answers the same checks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from mcp.server.auth.middleware.auth_context import get_access_token

from nexus_sdk import InvalidRequestError
from nexus_sdk.mcp import Challenge, McpUser, NexusResourceServer, current_user

from servers import LoopbackServer, Recorded, Reply, json_reply

RESOURCE = "http://127.0.0.1:9/mcp"
KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def issuer() -> Iterator[LoopbackServer]:
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key()))
    jwks = {"keys": [public | {"kid": "k1", "alg": "ES256", "use": "sig"}]}

    def handler(request: Recorded) -> Reply:
        return json_reply(200, jwks) if request.path == "/as/jwks" else json_reply(404, {})

    server = LoopbackServer(handler).start()
    yield server
    server.stop()


def token(issuer: str, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": issuer,
        "sub": "usr_alice",
        "aud": RESOURCE,
        "client_id": "ocl_1",
        "scope": "notes:read",
        "exp": now + 600,
        "iat": now,
        "nbf": now,
        "workspace_id": "ws_1",
        "jti": "at_1",
    } | claims
    return jwt.encode(body, KEY, algorithm="ES256", headers={"kid": "k1", "typ": "at+jwt"})


class Recorder:
    """The protected app: records what it saw, answers 200."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        access = get_access_token()
        self.calls.append(
            {
                "body": message.get("body", b""),
                "user": current_user(),
                "scope_user": scope.get("user"),
                "sdk_subject": access.subject if access else None,
            }
        )
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def request(
    app: Any, method: str, path: str, body: bytes = b"", authorization: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    sent: list[dict[str, Any]] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    answer_headers = {k.decode(): v.decode() for k, v in start.get("headers", [])}
    return start["status"], answer_headers, b"".join(m.get("body", b"") for m in sent[1:])


def guard(issuer: LoopbackServer) -> NexusResourceServer:
    return NexusResourceServer(
        RESOURCE,
        issuer.url,
        required_scopes=["notes:read"],
        tool_scopes={"write_note": ["notes:write"]},
        max_body_bytes=4096,
    )


def call(tool: str) -> bytes:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}}
    return json.dumps(message).encode()


def test_metadata_is_served_at_the_well_known_path(issuer: LoopbackServer) -> None:
    app = Recorder()
    status, headers, body = request(
        guard(issuer).asgi(app), "GET", "/.well-known/oauth-protected-resource/mcp"
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "resource": RESOURCE,
        "authorization_servers": [issuer.url],
        "scopes_supported": ["notes:read", "notes:write"],
        "bearer_methods_supported": ["header"],
    }
    assert app.calls == []


def test_no_token_gets_the_401_challenge_and_the_app_is_not_called(
    issuer: LoopbackServer,
) -> None:
    app = Recorder()
    status, headers, body = request(guard(issuer).asgi(app), "POST", "/mcp", call("whoami"))
    assert status == 401
    assert headers["www-authenticate"] == (
        'Bearer resource_metadata="http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp"'
        ', scope="notes:read"'
    )
    assert json.loads(body)["error"] == "invalid_request"
    assert app.calls == []


def test_a_good_token_reaches_the_app_with_the_user_and_the_body(issuer: LoopbackServer) -> None:
    app = Recorder()
    body = call("whoami")
    status, _, _ = request(
        guard(issuer).asgi(app), "POST", "/mcp", body, f"Bearer {token(issuer.url)}"
    )
    assert status == 200
    (seen,) = app.calls
    assert seen["body"] == body, "the guard hands the body it read to the app"
    user = seen["user"]
    assert isinstance(user, McpUser)
    assert (user.subject, user.workspace_id, user.client_id) == ("usr_alice", "ws_1", "ocl_1")
    assert user.token not in repr(user), "repr hides the token"
    assert seen["scope_user"].access_token.subject == "usr_alice"
    assert seen["sdk_subject"] == "usr_alice"


def test_refusals_each_with_their_challenge(issuer: LoopbackServer) -> None:
    app = Recorder()
    protected = guard(issuer).asgi(app)
    foreign = token(issuer.url, aud="http://127.0.0.1:9/other")
    status, headers, _ = request(protected, "POST", "/mcp", call("whoami"), f"Bearer {foreign}")
    assert status == 401
    assert headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert "issued for another resource" in headers["www-authenticate"]
    good = f"Bearer {token(issuer.url)}"
    status, headers, body = request(protected, "POST", "/mcp", call("write_note"), good)
    assert status == 403
    assert headers["www-authenticate"].startswith(
        'Bearer error="insufficient_scope", scope="notes:read notes:write"'
    )
    assert json.loads(body)["error"] == "insufficient_scope"
    status, _, _ = request(protected, "POST", "/mcp", b" " * 5000, good)
    assert status == 413
    assert app.calls == []


def test_authenticate_outcomes_are_typed(issuer: LoopbackServer) -> None:
    server = guard(issuer)
    expired = token(issuer.url, exp=int(time.time()) - 120)
    outcome = asyncio.run(server.authenticate(f"Bearer {expired}"))
    assert isinstance(outcome, Challenge)
    assert (outcome.status, outcome.reason, outcome.error) == (401, "expired", "invalid_token")
    outcome = asyncio.run(server.authenticate(f"Bearer {token(issuer.url)}", "write_note"))
    assert isinstance(outcome, Challenge)
    assert outcome.required_scopes == ("notes:read", "notes:write")


def test_the_mcp_sdk_token_verifier_hook(issuer: LoopbackServer) -> None:
    verifier = guard(issuer).token_verifier()
    access = asyncio.run(verifier.verify_token(token(issuer.url)))
    assert access is not None
    assert (access.subject, access.client_id, access.resource) == ("usr_alice", "ocl_1", RESOURCE)
    assert access.claims["iss"] == issuer.url
    assert asyncio.run(verifier.verify_token(token("http://evil.example"))) is None


def test_bad_configuration_is_an_invalid_request_error(issuer: LoopbackServer) -> None:
    with pytest.raises(InvalidRequestError):
        NexusResourceServer("not a url", issuer.url)
    with pytest.raises(InvalidRequestError):
        NexusResourceServer(RESOURCE, issuer.url, required_scopes=["two words"])
