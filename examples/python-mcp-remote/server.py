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

Notes live in memory, per user (``current_user().subject``): what one user writes, another
never reads. A tool that calls a third-party API would resolve that same user's credential the
same way, keyed by the subject and workspace.

Configuration (environment):

- ``NEXUS_ISSUER``: the Nexus authorization server (the broker's public URL).
- ``MCP_RESOURCE``: this server's public URL including the path, e.g.
  ``https://notes.example.com/mcp``; register it first with ``nexus mcp resources add``.
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

from nexus_sdk.mcp import ASGIApp, NexusResourceServer, current_user

REQUIRED_SCOPES = ["notes:read"]
TOOL_SCOPES = {"write_note": ["notes:write"]}


def build_app(resource: str, issuer: str) -> ASGIApp:
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

    guard = NexusResourceServer(
        resource=resource,
        issuer=issuer,
        required_scopes=REQUIRED_SCOPES,
        tool_scopes=TOOL_SCOPES,
        resource_name="Notes",
    )
    path = urllib.parse.urlsplit(guard.resource).path or "/"
    return guard.asgi(server.streamable_http_app(streamable_http_path=path))


def main() -> None:
    import uvicorn

    logging.basicConfig(stream=sys.stderr, level=os.environ.get("LOG_LEVEL", "WARNING"))
    resource = os.environ["MCP_RESOURCE"]
    port = int(os.environ.get("PORT") or urllib.parse.urlsplit(resource).port or 8000)
    app = build_app(resource, os.environ["NEXUS_ISSUER"])
    uvicorn.run(app, host=os.environ.get("HOST", "127.0.0.1"), port=port, log_level="warning")


if __name__ == "__main__":
    main()
