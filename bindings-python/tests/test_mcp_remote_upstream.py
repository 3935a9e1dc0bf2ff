"""From MCP user to upstream credential (design 17 §5.4), end to end with the official Python
MCP client against ``nexus dev``: the example's ``list_repos`` tool calls the testkit's echo
upstream with the *calling user's* connection, applied by ``nexus_sdk.mcp.user_fetch``.

- alice (her own connection, imported bound to her Nexus user id) calls the tool: the upstream saw
  her credential (introspected at the testkit provider: the grant made for her), not bob's.
- bob (no connection) calls it: JSON-RPC error ``-32042`` (URL elicitation) whose URL is a
  Nexus connect link, which alice cannot use (403). bob opens it like a person would
  (development login as bob, the provider's consent, the broker's callback), and the retried
  call in the same MCP session works with his own, different credential.

Uses the ``stack`` fixture of test_stack.py and the official-client helpers of
test_mcp_remote_stack.py.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any

import httpx2
import pytest
from mcp.shared.exceptions import MCPError, UrlElicitationRequiredError
from test_mcp_auth_stack import hidden
from test_mcp_remote_stack import Client, Served, text
from test_stack import Stack, http, stack

__all__ = ["stack"]  # the fixture, imported for pytest

PROVIDER = "repos-oauth"
ALICE_SCOPE = "alice-only"


def add_provider(stack: Stack) -> None:
    """An OAuth provider (the testkit's) whose API is the echo upstream; no workspace connection."""
    info = stack.oauth_info
    stack.admin(
        "POST",
        "/admin/v1/providers",
        {
            "name": PROVIDER,
            "auth_type": "oauth2",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "auth_url": info["authorization_endpoint"],
            "token_url": info["token_endpoint"],
            "api_base_url": stack.echo_url,
            "scopes": ["repo"],
        },
    )


def connect_alice(stack: Stack, user_id: str) -> None:
    """alice's own connection: a grant the testkit marks with the scope ``alice-only``."""
    issued = http(
        "POST", f"{stack.oauth_url}/_control/issue", "-", {"scopes": ["repo", ALICE_SCOPE]}
    )
    stack.admin(
        "POST",
        f"/admin/v1/workspaces/{stack.workspace}/connections/import",
        {
            "provider_name": PROVIDER,
            "kind": "refresh_token",
            "secret": issued["refresh_token"],
            "user_id": user_id,
            # Bound to alice as an MCP user (as her connect link would): only such a connection
            # is hers on the user-credential path, never one the workspace made for her id.
            "bound_to_mcp_user": True,
        },
    )


def upstream_credential(result: Any) -> str:
    """The bearer token the echo upstream saw, from the tool's answer ``"<status> <echo json>"``."""
    status, echoed = text(result).split(" ", 1)
    assert status == "200", echoed
    return str(json.loads(echoed)["headers"]["authorization"]).removeprefix("Bearer ")


async def introspect(stack: Stack, token: str) -> dict[str, Any]:
    async with httpx2.AsyncClient() as web:
        answer = await web.post(f"{stack.oauth_url}/introspect", data={"token": token})
    return dict(answer.json())


async def finish_connect(stack: Stack, url: str, username: str) -> httpx2.Response:
    """Open the connect link as ``username`` would in a browser: log in to Nexus (development
    login), then through the provider (which approves at once) back to the broker's callback."""
    broker = stack.env["NEXUS_BROKER_URL"].rstrip("/")
    origin = {"origin": broker}
    cookie: dict[str, str] = {}
    location = url
    async with httpx2.AsyncClient(follow_redirects=False) as web:
        for _ in range(12):
            page = await web.get(location, headers=cookie)
            if page.status_code in (301, 302, 303, 307):
                location = urllib.parse.urljoin(location, page.headers["location"])
                continue
            if page.status_code == 200 and 'name="password"' in page.text:
                # The ticket's own login form (it posts back to its page).
                form = {"csrf": hidden(page.text, "csrf"), "username": username}
                form |= {"password": stack.env["NEXUS_DEV_LOGIN_PASSWORD"]}
                logged_in = await web.post(location, data=form, headers=origin)
                if logged_in.status_code != 303:
                    return logged_in  # the login itself was refused
                cookie = {"cookie": logged_in.headers["set-cookie"].split(";", 1)[0]}
                location = urllib.parse.urljoin(location, logged_in.headers["location"])
                continue
            return page
    raise AssertionError(f"the connect flow did not end (last: {location})")


def test_tools_call_the_upstream_with_the_calling_users_own_credential(stack: Stack) -> None:
    add_provider(stack)

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with Served(stack, client=stack.client(), repos_provider=PROVIDER) as served:
            alice = Client(stack, served.resource)
            async with alice.session() as session:
                subject = text(await session.call_tool("whoami", {})).split(" ")[0]
                connect_alice(stack, subject)
                seen["alice"] = upstream_credential(await session.call_tool("list_repos", {}))

            bob = Client(stack, served.resource, username="bob")
            async with bob.session() as session:
                with pytest.raises(MCPError) as refused:
                    await session.call_tool("list_repos", {})
                seen["refusal"] = refused.value
                elicitation = UrlElicitationRequiredError.from_error(refused.value.error)
                url = elicitation.elicitations[0].url
                seen["elicitation"] = elicitation.elicitations[0]
                # The link is bound to bob: opened by alice it is refused (phishing rule).
                seen["as_alice"] = await finish_connect(stack, url, "alice")
                seen["done"] = await finish_connect(stack, url, "bob")
                seen["bob"] = upstream_credential(await session.call_tool("list_repos", {}))
        seen["alice_grant"] = await introspect(stack, seen["alice"])
        seen["bob_grant"] = await introspect(stack, seen["bob"])
        return seen

    seen = asyncio.run(scenario())
    assert seen["alice_grant"]["active"] is True
    assert ALICE_SCOPE in seen["alice_grant"]["scope"].split(), "alice's own grant"
    refusal = seen["refusal"]
    assert refusal.error.code == -32042, refusal.error
    elicitation = seen["elicitation"]
    broker = stack.env["NEXUS_BROKER_URL"].rstrip("/")
    assert elicitation.mode == "url"
    assert elicitation.url.startswith(f"{broker}/as/connect/"), elicitation.url
    assert elicitation.elicitation_id, "the 2025-11-25 wire needs the id"
    assert seen["as_alice"].status_code == 403, seen["as_alice"].text
    assert seen["done"].status_code == 200, seen["done"].text
    assert seen["bob"] != seen["alice"]
    assert seen["bob_grant"]["active"] is True
    assert ALICE_SCOPE not in seen["bob_grant"]["scope"].split(), "bob's own grant, not alice's"
