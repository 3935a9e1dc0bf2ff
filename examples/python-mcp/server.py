"""An MCP server (stdio) with one tool, ``list_repos``, whose GitHub credential comes from Nexus.

The server never sees a refresh token or a client secret: it asks the Nexus gateway for a
short-lived access token (cached in-process by the SDK) and the SDK injects it into the upstream
request. stdout carries only JSON-RPC; the SDK and this server log to stderr.

Configuration (environment):

- ``NEXUS_GATEWAY_URL``, ``NEXUS_API_KEY``: where the gateway is and the workspace API key.
- ``NEXUS_WORKSPACE_ID``: the workspace whose connection to use.
- ``NEXUS_PROVIDER`` (default ``github``): the provider name in that workspace.
- ``GITHUB_API_BASE`` (default ``https://api.github.com``): the upstream API, so tests can point
  it at a local server.

Run it with ``python server.py``; an MCP client starts it as a subprocess.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from nexus_sdk import (
    NexusClient,
    NexusClientOptions,
    NexusError,
    RetryPolicy,
    TokenCache,
)

# Logs go to stderr; stdout is the JSON-RPC channel.
logging.basicConfig(stream=sys.stderr, level=os.environ.get("LOG_LEVEL", "WARNING"))

WORKSPACE_ID = os.environ.get("NEXUS_WORKSPACE_ID", "")
PROVIDER = os.environ.get("NEXUS_PROVIDER", "github")
API_BASE = os.environ.get("GITHUB_API_BASE", "https://api.github.com").rstrip("/")

nexus = NexusClient(
    NexusClientOptions(
        gateway_url=os.environ.get("NEXUS_GATEWAY_URL", "http://127.0.0.1:8080"),
        api_key=os.environ.get("NEXUS_API_KEY", ""),
        timeout=float(os.environ.get("NEXUS_TIMEOUT", "10")),
        retry_policy=RetryPolicy(retries=int(os.environ.get("NEXUS_RETRIES", "1"))),
    )
)
cache = TokenCache()

mcp = MCPServer("nexus-github-example")


@mcp.tool()
async def list_repos() -> str:
    """List the authenticated user's repositories (up to 10), one full name per line."""
    url = f"{API_BASE}/user/repos?per_page=10"
    try:
        status, _headers, body = await nexus.authenticated_fetch_async(
            cache,
            WORKSPACE_ID,
            PROVIDER,
            url,
            headers={"Accept": "application/vnd.github+json"},
        )
    except NexusError as err:
        # A typed error from Nexus (reauth needed, unknown provider, gateway down, ...): tell the
        # model what happened, including where a person can re-authorize.
        hint = f" Re-authorize at {err.reauth_url}" if err.reauth_url else ""
        raise ToolError(
            f"Nexus could not provide a GitHub credential ({err.code}): {err.message}.{hint}"
        ) from err
    if status != 200:
        raise ToolError(f"GitHub answered HTTP {status}")
    try:
        repos = json.loads(body)
        names = [repo["full_name"] for repo in repos]
    except (ValueError, TypeError, KeyError) as err:
        raise ToolError("GitHub answered with a body that is not a list of repositories") from err
    return "\n".join(names) if names else "(no repositories)"


if __name__ == "__main__":
    mcp.run("stdio")
