"""An agent session through the Python SDK against the real stack (``nexus dev``): the agent is
created through the broker's admin API; its session resolves the workspace's credential. Uses
the ``stack`` fixture of test_stack.py (skipped without the binaries unless
``NEXUS_REQUIRE_STACK=1``).
"""

from __future__ import annotations

import pytest
from test_stack import STATIC_SECRET, Stack, stack

from nexus_sdk import Forbidden, NexusClient, NexusClientOptions, TokenCache, Unauthorized

__all__ = ["stack"]  # the fixture, imported for pytest


def test_session_start_resolve_authorize_close(stack: Stack) -> None:
    agent = stack.admin(
        "POST",
        f"/admin/v1/workspaces/{stack.workspace}/agents",
        {"name": "python-sdk-e2e", "scopes": ["provider:echo-key", "tickets:read"]},
    )
    client, cache = stack.client(), TokenCache()
    with pytest.raises(Forbidden) as denied:
        client.start_session(["provider:nope"], agent_credential=agent["agent_credential"])
    assert denied.value.code == "scope_not_allowed"

    session = client.start_session(
        ["provider:echo-key"], ttl=300, agent_credential=agent["agent_credential"]
    )
    assert session.agent_id == agent["agent_id"] == session.sub
    assert 0 < session.expires_in <= 300
    token = client.get_cached_token(cache, stack.workspace, "echo-key")
    assert token.credentials["api_key"] == STATIC_SECRET
    assert client.authorize("provider:echo-key").session_id == session.session_id
    with pytest.raises(Forbidden) as refused:
        client.authorize("tickets:read")
    assert refused.value.code == "scope_not_allowed"

    client.close_session()
    assert client.session is None
    again = client.get_cached_token(cache, stack.workspace, "echo-key")
    assert again.credentials["api_key"] == STATIC_SECRET
    # An agent credential is not a workspace API key: without a session it cannot resolve.
    agent_only = NexusClient(
        NexusClientOptions(
            gateway_url=stack.env["NEXUS_GATEWAY_URL"], api_key=agent["agent_credential"]
        )
    )
    with pytest.raises(Unauthorized):
        agent_only.resolve_token(stack.workspace, "echo-key")
