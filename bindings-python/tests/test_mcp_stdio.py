"""The example MCP server (examples/python-mcp) driven over stdio by the official MCP client.

For success and for every failure (gateway down, upstream 401, upstream 500, garbage JSON from
the upstream and from the gateway, unknown provider, reauth_required) the tool answers with a
result (``is_error`` on failure, never a crash), and every line the server wrote to stdout is a
JSON-RPC message: the server runs under ``stdout_tee.py``, which keeps a raw copy of its stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from servers import FakeGateway, LoopbackServer, Recorded, Reply, json_reply

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

HERE = Path(__file__).resolve().parent
SERVER = HERE.parents[1] / "examples" / "python-mcp" / "server.py"
TEE = HERE / "stdout_tee.py"
REPOS = [{"full_name": "octo/alpha"}, {"full_name": "octo/beta"}]


class GitHubStandIn:
    """`GET /user/repos` like GitHub: the repos for a bearer token, or the configured failure."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.server = LoopbackServer(self._handle).start()

    def _handle(self, request: Recorded) -> Reply:
        if not request.headers.get("authorization", "").startswith("Bearer tok-"):
            return json_reply(401, {"message": "Requires authentication"})
        if self.mode == "401":
            return json_reply(401, {"message": "Bad credentials"})
        if self.mode == "500":
            return json_reply(500, {"message": "Server Error"})
        if self.mode == "garbage":
            return 200, {"Content-Type": "application/json"}, b"<<not json>>"
        assert request.path == "/user/repos" and request.query == {"per_page": ["10"]}
        return json_reply(200, REPOS)


async def call_list_repos(env: dict[str, str], capture: Path) -> Any:
    params = StdioServerParameters(
        command=sys.executable,
        args=[str(TEE), str(capture), "--", sys.executable, str(SERVER)],
        env=env,
    )
    with anyio.fail_after(60):
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            assert [t.name for t in tools.tools] == ["list_repos"]
            return await session.call_tool("list_repos", {})


def assert_stdout_is_only_jsonrpc(capture: Path) -> int:
    raw = capture.read_bytes()
    assert raw, "the server wrote nothing at all"
    lines = [line for line in raw.split(b"\n") if line.strip()]
    for line in lines:
        message = json.loads(line)  # raises on anything that is not JSON
        assert message.get("jsonrpc") == "2.0", line
    return len(lines)


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


@pytest.fixture
def github() -> Any:
    stand_in = GitHubStandIn()
    yield stand_in
    stand_in.server.stop()


def server_env(gateway_url: str, github: GitHubStandIn) -> dict[str, str]:
    return {
        "NEXUS_GATEWAY_URL": gateway_url,
        "NEXUS_API_KEY": "test-api-key",
        "NEXUS_WORKSPACE_ID": "ws-1",
        "NEXUS_PROVIDER": "github",
        "NEXUS_RETRIES": "0",
        "NEXUS_TIMEOUT": "5",
        "GITHUB_API_BASE": github.server.url,
        # Be as noisy as possible: logs must still never reach stdout.
        "LOG_LEVEL": "DEBUG",
        "NEXUS_LOG": "debug",
    }


def test_list_repos_success(gateway: FakeGateway, github: GitHubStandIn, tmp_path: Path) -> None:
    capture = tmp_path / "stdout.jsonl"
    result = anyio.run(call_list_repos, server_env(gateway.url, github), capture)
    assert not result.is_error, text_of(result)
    assert text_of(result) == "octo/alpha\nocto/beta"
    assert assert_stdout_is_only_jsonrpc(capture) >= 3
    assert gateway.resolves == 1


FAILURES = {
    "upstream_401": ("401", None, "HTTP 401"),
    "upstream_500": ("500", None, "HTTP 500"),
    "upstream_garbage_json": ("garbage", None, "not a list of repositories"),
    "gateway_garbage_json": (
        "ok",
        lambda _req, _n: (200, {"Content-Type": "application/json"}, b"{garbage"),
        "invalid_response",
    ),
    "unknown_provider": (
        "ok",
        lambda _req, _n: json_reply(
            404, {"error": "provider_not_found", "message": "no provider `github`"}
        ),
        "provider_not_found",
    ),
    "reauth_required": (
        "ok",
        lambda _req, _n: json_reply(
            409,
            {
                "error": "reauth_required",
                "message": "the refresh token was revoked",
                "reauth_url": "https://nexus.example/connect/abc",
            },
        ),
        "https://nexus.example/connect/abc",
    ),
}


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_list_repos_failures_are_tool_errors(
    name: str, gateway: FakeGateway, github: GitHubStandIn, tmp_path: Path
) -> None:
    mode, gateway_reply, expected_text = FAILURES[name]
    github.mode = mode
    if gateway_reply is not None:
        gateway.reply = gateway_reply
    capture = tmp_path / "stdout.jsonl"
    result = anyio.run(call_list_repos, server_env(gateway.url, github), capture)
    assert result.is_error
    assert expected_text in text_of(result)
    assert "tok-" not in text_of(result)  # no credential leaks into the model's context
    assert_stdout_is_only_jsonrpc(capture)


def test_gateway_down_is_a_tool_error(github: GitHubStandIn, tmp_path: Path) -> None:
    closed = FakeGateway()
    url = closed.url
    closed.stop()
    capture = tmp_path / "stdout.jsonl"
    result = anyio.run(call_list_repos, server_env(url, github), capture)
    assert result.is_error
    assert "connection_error" in text_of(result)
    assert_stdout_is_only_jsonrpc(capture)
