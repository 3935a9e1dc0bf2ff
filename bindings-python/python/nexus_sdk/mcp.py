"""Protect a remote (streamable HTTP) MCP server with Nexus as its authorization server.

The token checks (signature via the authorization server's JWKS, cached and refetched on key
rotation; ``iss``; ``aud`` = this server; ``exp``/``nbf``; scopes), the ``WWW-Authenticate``
challenges and the RFC 9728 metadata document are the Rust core's. This module only moves them
in and out of ASGI and the official ``mcp`` package::

    from mcp.server.mcpserver import MCPServer
    from nexus_sdk.mcp import NexusResourceServer, current_user

    server = MCPServer("notes")
    guard = NexusResourceServer(
        resource="https://notes.example.com/mcp",
        issuer="https://nexus.example.com",
        required_scopes=["notes:read"],
        tool_scopes={"write_note": ["notes:write"]},
    )
    app = guard.asgi(server.streamable_http_app())

    @server.tool()
    def whoami() -> str:
        return current_user().subject

``asgi`` serves the metadata, answers 401 (``resource_metadata``, ``scope``) and 403
(``insufficient_scope`` naming the scopes a tool needs, which the official clients turn into a
step-up authorization), and hands the user to the tools: :func:`current_user` here, and
``mcp.server.auth.middleware.auth_context.get_access_token()`` for code written against the MCP
SDK. Teams that use the SDK's own ``AuthSettings`` can pass
:meth:`NexusResourceServer.token_verifier` as its ``token_verifier`` instead (no per-tool scopes
then: the SDK checks one scope list).

Calling an upstream as the MCP user: build the guard with a ``client`` (the workspace's
:class:`~nexus_sdk.NexusClient`), then inside a tool :func:`user_credential` /
:func:`user_fetch` use the calling user's own connection, and :func:`requires_connection` turns
a missing connection into the URL elicitation (``-32042``) with a connect link bound to that
user (see :mod:`nexus_sdk.mcp_upstream`).

Nothing here writes to stdout; the module needs ``mcp`` (Python >= 3.10) only for the SDK hooks.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from ._native import ResourceServer, TokenCache

if TYPE_CHECKING:
    from .client import NexusClient

__all__ = [
    "ASGIApp",
    "Challenge",
    "McpUser",
    "NexusResourceServer",
    "NexusTokenVerifier",
    "current_server",
    "current_user",
    "requires_connection",
    "url_elicitation",
    "user_credential",
    "user_fetch",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The largest JSON-RPC request body read to find the tool a request calls.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class McpUser:
    """The user (and client) a valid access token speaks for."""

    subject: str
    """``sub``: the Nexus user id (``usr_…``), unique within the issuer."""
    workspace_id: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: int
    issuer: str
    resource: str
    actor: str | None
    """``act.sub``: the Nexus agent the client acts for, when it is one."""
    grant_id: str | None
    token_id: str | None
    token: str = field(repr=False)
    """The access token (presented back to Nexus for this user's upstream credential)."""

    @classmethod
    def _from_native(cls, raw: dict[str, Any]) -> McpUser:
        return cls(
            subject=raw["subject"],
            workspace_id=raw["workspace_id"],
            client_id=raw["client_id"],
            scopes=tuple(raw["scopes"]),
            expires_at=raw["expires_at"],
            issuer=raw["issuer"],
            resource=raw["resource"],
            actor=raw["actor"],
            grant_id=raw["grant_id"],
            token_id=raw["token_id"],
            token=raw["token"],
        )


@dataclass(frozen=True)
class Challenge:
    """A refusal, ready to send."""

    status: int
    www_authenticate: str
    body: bytes
    reason: str
    """``missing_token``, ``insufficient_scope``, ``keys_unavailable`` or why a token is invalid
    (``expired``, ``wrong_audience``, ``bad_signature``, …)."""
    error: str | None
    required_scopes: tuple[str, ...]

    @classmethod
    def _from_native(cls, raw: dict[str, Any]) -> Challenge:
        return cls(
            status=raw["status"],
            www_authenticate=raw["www_authenticate"],
            body=raw["body"].encode(),
            reason=raw["reason"],
            error=raw["error"],
            required_scopes=tuple(raw["required_scopes"]),
        )


# Optional[...]: evaluated at run time, and the package supports Python 3.9.
_current: contextvars.ContextVar[Optional[McpUser]] = contextvars.ContextVar(  # noqa: UP045
    "nexus_mcp_user", default=None
)


_server: contextvars.ContextVar[Optional[NexusResourceServer]] = contextvars.ContextVar(  # noqa: UP045
    "nexus_mcp_server", default=None
)


def current_server() -> NexusResourceServer:
    """The guard that authenticated the MCP request being handled. Raises ``LookupError``
    outside one."""
    server = _server.get()
    if server is None:
        raise LookupError("no Nexus-guarded MCP request in this context")
    return server


def current_user() -> McpUser:
    """The user of the MCP request being handled (inside a tool of a server wrapped by
    :meth:`NexusResourceServer.asgi`). Raises ``LookupError`` outside one."""
    user = _current.get()
    if user is None:
        raise LookupError("no authenticated MCP user in this context")
    return user


def _outcome(raw: dict[str, Any]) -> McpUser | Challenge:
    if raw["allowed"]:
        return McpUser._from_native(raw["user"])
    return Challenge._from_native(raw)


def _tools_called(body: bytes) -> list[str] | None:
    """The tools a JSON-RPC body calls (``tools/call`` names), ``None`` when it is not JSON."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    messages = message if isinstance(message, list) else [message]
    names: list[str] = []
    for item in messages:
        if isinstance(item, dict) and item.get("method") == "tools/call":
            params = item.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


async def _send_response(
    send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    all_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or ``None`` when it is longer than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # the client went away; the app sees an empty body
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class NexusResourceServer:
    """One protected MCP server (its resource URL and the Nexus authorization server)."""

    def __init__(
        self,
        resource: str,
        issuer: str,
        *,
        required_scopes: Sequence[str] = (),
        tool_scopes: Mapping[str, Sequence[str]] | None = None,
        scopes_supported: Sequence[str] | None = None,
        resource_name: str | None = None,
        jwks_url: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        client: NexusClient | None = None,
        cache: TokenCache | None = None,
    ) -> None:
        """``client`` (the workspace's API key) is needed only for :func:`user_credential` and
        :func:`user_fetch`; ``cache`` holds the users' credentials (a new one by default)."""
        self._native = ResourceServer(
            resource,
            issuer,
            jwks_url=jwks_url,
            required_scopes=list(required_scopes),
            tool_scopes={tool: list(s) for tool, s in (tool_scopes or {}).items()},
            scopes_supported=None if scopes_supported is None else list(scopes_supported),
            resource_name=resource_name,
        )
        self.issuer = issuer
        self.max_body_bytes = max_body_bytes
        self.client = client
        self.cache = cache if cache is not None else TokenCache()

    def _upstream(self) -> tuple[NexusClient, TokenCache]:
        if self.client is None:
            raise LookupError(
                "NexusResourceServer(client=...) is needed to call upstreams as the MCP user"
            )
        return self.client, self.cache

    @property
    def resource(self) -> str:
        """This server's resource URL (normal form: what tokens' ``aud`` must be)."""
        return self._native.resource

    @property
    def metadata_path(self) -> str:
        return self._native.metadata_path

    @property
    def metadata_url(self) -> str:
        return self._native.metadata_url

    def metadata_document(self) -> dict[str, Any]:
        """The RFC 9728 protected-resource metadata."""
        return self._native.metadata_document()

    async def authenticate(
        self, authorization: str | None, tool: str | None = None
    ) -> McpUser | Challenge:
        """Decide one request from its ``Authorization`` header and the tool it calls."""
        raw = await asyncio.to_thread(self._native.authenticate, authorization, tool)
        return _outcome(raw)

    async def verify_token(self, token: str) -> McpUser | Challenge:
        """Check a bare token (no scope check)."""
        return _outcome(await asyncio.to_thread(self._native.verify_token, token))

    def token_verifier(self) -> NexusTokenVerifier:
        """An ``mcp`` ``TokenVerifier`` (``MCPServer(token_verifier=…, auth=AuthSettings(…))``)."""
        return NexusTokenVerifier(self)

    def asgi(self, app: ASGIApp) -> ASGIApp:
        """Wrap an ASGI app (``MCPServer.streamable_http_app()``): serve the metadata, refuse
        requests without a valid token or scope, and hand the user to the tools."""

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            if scope["path"] == self.metadata_path and scope["method"] in ("GET", "HEAD"):
                document = json.dumps(self.metadata_document()).encode()
                cors = [(b"access-control-allow-origin", b"*")]
                await _send_response(send, 200, document, cors)
                return
            authorization = _header(scope, b"authorization")
            tools: list[str] = []
            if scope["method"] == "POST":
                body = await _read_body(receive, self.max_body_bytes)
                if body is None:
                    await _send_response(send, 413, b'{"error":"request_too_large"}')
                    return
                tools = _tools_called(body) or []
                receive = _replay(body, receive)
            outcome: McpUser | Challenge | None = None
            candidates: list[str | None] = [*tools] or [None]
            for tool in candidates:
                outcome = await self.authenticate(authorization, tool)
                if isinstance(outcome, Challenge):
                    break
            if isinstance(outcome, Challenge):
                headers = []
                if outcome.www_authenticate:
                    headers.append((b"www-authenticate", outcome.www_authenticate.encode()))
                await _send_response(send, outcome.status, outcome.body, headers)
                return
            assert outcome is not None
            server = _server.set(self)
            try:
                await _call_as(outcome, app, scope, receive, send)
            finally:
                _server.reset(server)

        return guarded


class NexusTokenVerifier:
    """The ``mcp`` SDK's ``TokenVerifier`` hook, checking tokens with the Nexus core."""

    def __init__(self, server: NexusResourceServer) -> None:
        self._server = server

    async def verify_token(self, token: str) -> Any:  # mcp.server.auth.provider.AccessToken
        outcome = await self._server.verify_token(token)
        if isinstance(outcome, Challenge):
            return None
        return _access_token(outcome)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body to the app once, then the original."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _access_token(user: McpUser) -> Any:
    from mcp.server.auth.provider import AccessToken

    claims: dict[str, Any] = {"iss": user.issuer, "workspace_id": user.workspace_id}
    if user.actor is not None:
        claims["act"] = {"sub": user.actor}
    return AccessToken(
        token=user.token,
        client_id=user.client_id,
        scopes=list(user.scopes),
        expires_at=user.expires_at,
        resource=user.resource,
        subject=user.subject,
        claims=claims,
    )


async def _call_as(user: McpUser, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run the app with ``user`` visible: our context variable, and (when ``mcp`` is installed)
    the ``scope["user"]`` / ``auth_context_var`` its own auth middleware would have set, so its
    session-ownership check and ``get_access_token()`` work."""
    ours = _current.set(user)
    theirs: Any = None
    var: Any = None
    try:
        from mcp.server.auth.middleware.auth_context import auth_context_var
        from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
        from starlette.authentication import AuthCredentials
    except ImportError:  # the ASGI middleware works without the MCP SDK
        pass
    else:
        authenticated = AuthenticatedUser(_access_token(user))
        scope["user"] = authenticated
        scope["auth"] = AuthCredentials(list(user.scopes))
        var, theirs = auth_context_var, auth_context_var.set(authenticated)
    try:
        await app(scope, receive, send)
    finally:
        if var is not None:
            var.reset(theirs)
        _current.reset(ours)


# The upstream side needs the names above; it is re-exported here (nexus_sdk.mcp is the API).
from .mcp_upstream import (  # noqa: E402
    requires_connection,
    url_elicitation,
    user_credential,
    user_fetch,
)
