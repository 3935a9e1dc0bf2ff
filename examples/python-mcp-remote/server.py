"""A remote (streamable HTTP) MCP server whose users sign in through Nexus.

Nexus is the server's OAuth authorization server: an MCP client that has never seen this server
gets a 401 pointing to its protected-resource metadata, discovers Nexus from it, registers,
sends its user through login and consent, and comes back with an access token for this server
only. ``nexus_sdk.mcp`` checks every request's token (signature with Nexus's keys, issuer,
audience, expiry) and the scopes each tool needs; a tool then knows which user is calling.

Tools:

- ``whoami`` (scope ``notes:read``): the calling user's Nexus id, workspace and client.
- ``list_notes`` (scope ``notes:read``): the calling user's notes.
- ``write_note`` (scopes ``notes:read notes:write``): adds a note. A token without
  ``notes:write`` gets a 403 ``insufficient_scope``, and the client asks the user for more.
- ``list_repos`` (scopes ``notes:read repos:read``): calls the upstream API of the provider
  ``REPOS_PROVIDER`` with the calling user's *own* connection (their credential, applied by the
  SDK) and returns what the upstream answered. A user who has not connected that provider gets
  the MCP URL elicitation (``-32042``) with a Nexus connect link bound to them; once they have
  connected, the client's retried call works.

Notes live in memory, per user (``current_user().subject``): what one user writes, another
never reads.

Configuration (environment):

- ``NEXUS_ISSUER``: the Nexus authorization server (the broker's public URL).
- ``MCP_RESOURCE``: this server's public URL including the path, e.g.
  ``https://notes.example.com/mcp``; register it first with ``nexus mcp resources add``.
- ``NEXUS_GATEWAY_URL`` / ``NEXUS_API_KEY``: the workspace's gateway and API key, for
  ``list_repos`` (without them the tool answers that it is not configured).
- ``REPOS_PROVIDER`` (default ``example``): the provider ``list_repos`` calls; its
  ``api_base_url`` is where, at ``/user/repos``.
- ``HOST`` / ``PORT`` (default ``127.0.0.1`` / the port of ``MCP_RESOURCE``).

Run it with ``python server.py``. Logs go to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
import urllib.parse
from collections import defaultdict

from mcp.server.mcpserver import MCPServer

from nexus_sdk import NexusClient, NexusClientOptions
from nexus_sdk.mcp import (
    ASGIApp,
    NexusResourceServer,
    current_user,
    requires_connection,
    user_credential,
    user_fetch,
)

REQUIRED_SCOPES = ["notes:read"]
TOOL_SCOPES = {"write_note": ["notes:write"], "list_repos": ["repos:read"]}


def build_app(
    resource: str,
    issuer: str,
    client: NexusClient | None = None,
    repos_provider: str = "example",
) -> ASGIApp:
    """The ASGI app: the MCP server's streamable HTTP endpoint at the resource's path,
    behind the Nexus guard (which also serves the protected-resource metadata)."""
    notes: defaultdict[str, list[str]] = defaultdict(list)
    server = MCPServer("notes")

    @server.tool()
    def whoami() -> str:
        """Who is calling: Nexus user id, workspace and client."""
        user = current_user()
        return f"{user.subject} {user.workspace_id} {user.client_id}"

    @server.tool()
    def list_notes() -> list[str]:
        """The calling user's notes."""
        return notes[current_user().subject]

    @server.tool()
    def write_note(text: str) -> str:
        """Add a note for the calling user (needs the notes:write scope)."""
        user = current_user()
        notes[user.subject].append(text)
        return f"{len(notes[user.subject])} notes"

    @server.tool()
    @requires_connection
    async def list_repos() -> str:
        """The calling user's repositories, from the upstream API with their own connection."""
        if client is None:
            return "list_repos is not configured (NEXUS_GATEWAY_URL, NEXUS_API_KEY)"
        credential = await user_credential(repos_provider)
        status, _headers, body = await user_fetch(
            repos_provider, f"{credential.api_base_url}/user/repos"
        )
        return f"{status} {body.decode()}"

    guard = NexusResourceServer(
        resource=resource,
        issuer=issuer,
        required_scopes=REQUIRED_SCOPES,
        tool_scopes=TOOL_SCOPES,
        resource_name="Notes",
        client=client,
    )
    path = urllib.parse.urlsplit(guard.resource).path or "/"
    return guard.asgi(server.streamable_http_app(streamable_http_path=path))


def main() -> None:
    import uvicorn

    logging.basicConfig(stream=sys.stderr, level=os.environ.get("LOG_LEVEL", "WARNING"))
    resource = os.environ["MCP_RESOURCE"]
    port = int(os.environ.get("PORT") or urllib.parse.urlsplit(resource).port or 8000)
    client = None
    if os.environ.get("NEXUS_GATEWAY_URL") and os.environ.get("NEXUS_API_KEY"):
        options = NexusClientOptions(
            gateway_url=os.environ["NEXUS_GATEWAY_URL"], api_key=os.environ["NEXUS_API_KEY"]
        )
        client = NexusClient(options)
    provider = os.environ.get("REPOS_PROVIDER", "example")
    app = build_app(resource, os.environ["NEXUS_ISSUER"], client, provider)
    uvicorn.run(app, host=os.environ.get("HOST", "127.0.0.1"), port=port, log_level="warning")


if __name__ == "__main__":
    main()
