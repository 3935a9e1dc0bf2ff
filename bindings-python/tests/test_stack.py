"""End to end against the real stack: `nexus dev` (broker + gateway on SQLite), the testkit's OAuth
provider and echo upstream, and the example MCP server.

The binaries come from ``NEXUS_BIN`` / ``NEXUS_TESTKIT_BIN`` or the Cargo target directory. When
they are missing the tests skip, unless ``NEXUS_REQUIRE_STACK=1`` (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import pytest

import nexus_sdk
from nexus_sdk import (
    ConnectionCheck,
    NexusClient,
    NexusClientOptions,
    RequestConnectionInput,
    TokenCache,
)

from servers import LoopbackServer, Recorded, Reply, json_reply

REPO = Path(__file__).resolve().parents[2]
STATIC_SECRET = "static-secret-1"


def find_binary(env_var: str, name: str) -> Path | None:
    if os.environ.get(env_var):
        return Path(os.environ[env_var])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    for candidate in (target / "debug" / name, REPO / "target" / "debug" / name):
        if candidate.is_file():
            return candidate
    return None


def require_binaries() -> tuple[Path, Path]:
    nexus = find_binary("NEXUS_BIN", "nexus")
    testkit = find_binary("NEXUS_TESTKIT_BIN", "nexus-testkit")
    if nexus is None or testkit is None:
        message = f"stack binaries missing (nexus: {nexus}, nexus-testkit: {testkit})"
        if os.environ.get("NEXUS_REQUIRE_STACK") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return nexus, testkit


def wait_for_file(path: Path, process: subprocess.Popen[bytes], deadline: float) -> None:
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"nexus dev exited with {process.returncode} before {path}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear in time")
        time.sleep(0.05)  # poll loop with a deadline


def start_testkit(binary: Path, kind: str, log: IO[bytes]) -> tuple[subprocess.Popen[bytes], Any]:
    # stdin stays open: the testkit exits when it closes (when this test process ends).
    process = subprocess.Popen(
        [str(binary), kind], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, f"nexus-testkit {kind} did not announce itself"
    return process, json.loads(line)


def http(method: str, url: str, token: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


@dataclass
class Stack:
    env: dict[str, str]
    echo_url: str
    oauth_url: str
    refresh_token: str = ""
    # What the testkit OAuth provider announced (client id and secret, endpoints).
    oauth_info: dict[str, Any] = field(default_factory=dict)

    @property
    def workspace(self) -> str:
        return self.env["NEXUS_WORKSPACE_ID"]

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        broker = self.env["NEXUS_BROKER_URL"]
        return http(method, f"{broker}{path}", self.env["NEXUS_ADMIN_TOKEN"], body)

    def client(self) -> NexusClient:
        return NexusClient(
            NexusClientOptions(
                gateway_url=self.env["NEXUS_GATEWAY_URL"], api_key=self.env["NEXUS_API_KEY"]
            )
        )

    def echo_require(self, requirement: dict[str, str]) -> None:
        http("POST", f"{self.echo_url}/_control/require", "-", requirement)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    nexus, testkit = require_binaries()
    home = tmp_path_factory.mktemp("nexus-home")
    log = (home / "stack.log").open("wb")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        dev = subprocess.Popen(
            [
                str(nexus),
                "dev",
                "--home",
                str(home),
                "--gateway-addr",
                "127.0.0.1:0",
                "--broker-addr",
                "127.0.0.1:0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        processes.append(dev)
        wait_for_file(home / "dev.env", dev, time.monotonic() + 60)
        env = dict(
            line.split("=", 1)
            for line in (home / "dev.env").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        echo, echo_info = start_testkit(testkit, "echo", log)
        oauth, oauth_info = start_testkit(testkit, "oauth", log)
        processes += [echo, oauth]
        stack = Stack(
            env=env, echo_url=echo_info["url"], oauth_url=oauth_info["url"], oauth_info=oauth_info
        )

        # A static API key provider, and an OAuth provider backed by the testkit's server.
        stack.admin(
            "POST",
            "/admin/v1/providers",
            {
                "name": "echo-key",
                "auth_type": "api_key",
                "api_base_url": stack.echo_url,
                "strategy": {"type": "header", "config": {"header_name": "Authorization"}},
            },
        )
        stack.admin(
            "POST",
            f"/admin/v1/workspaces/{stack.workspace}/connections/import",
            {"provider_name": "echo-key", "kind": "api_key", "secret": STATIC_SECRET},
        )
        stack.admin(
            "POST",
            "/admin/v1/providers",
            {
                "name": "fake-oauth",
                "auth_type": "oauth2",
                "client_id": oauth_info["client_id"],
                "client_secret": oauth_info["client_secret"],
                "auth_url": oauth_info["authorization_endpoint"],
                "token_url": oauth_info["token_endpoint"],
                "api_base_url": stack.echo_url,
            },
        )
        issued = http("POST", f"{stack.oauth_url}/_control/issue", "-", {})
        stack.refresh_token = issued["refresh_token"]
        stack.admin(
            "POST",
            f"/admin/v1/workspaces/{stack.workspace}/connections/import",
            {
                "provider_name": "fake-oauth",
                "kind": "refresh_token",
                "secret": issued["refresh_token"],
            },
        )
        yield stack
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def test_static_key_resolve_and_fetch(stack: Stack) -> None:
    client, cache = stack.client(), TokenCache()
    token = client.get_cached_token(cache, stack.workspace, "echo-key")
    assert token.credentials["api_key"] == STATIC_SECRET
    assert token.api_base_url == stack.echo_url
    stack.echo_require(
        {"kind": "header", "name": "authorization", "value": f"Bearer {STATIC_SECRET}"}
    )
    try:
        status, headers, body = client.authenticated_fetch(
            cache,
            stack.workspace,
            "echo-key",
            f"{stack.echo_url}/v1/items?a=1",
            method="POST",
            headers={"Content-Type": "application/json"},
            data=b'{"x":1}',
        )
    finally:
        stack.echo_require({"kind": "none"})
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    echoed = json.loads(body)
    assert echoed["headers"]["authorization"] == f"Bearer {STATIC_SECRET}"
    assert echoed["query"] == {"a": "1"} and echoed["body"] == '{"x":1}'


def test_proxy_mode_the_gateway_injects_and_the_caller_never_holds_it(stack: Stack) -> None:
    import httpx
    import requests

    from nexus_sdk.httpx import async_proxy_client, proxy_client
    from nexus_sdk.requests import proxy_session

    client = stack.client()

    def check(body: bytes) -> None:
        echoed = json.loads(body)
        # The provider's credential, injected by the gateway; not the Nexus API key.
        assert echoed["headers"]["authorization"] == f"Bearer {STATIC_SECRET}"
        assert "x-api-key" not in echoed["headers"]
        assert echoed["path"] == "/v1/items" and echoed["query"] == {"a": "1"}

    status, _, body = client.authenticated_fetch(
        TokenCache(),
        stack.workspace,
        "echo-key",
        "/v1/items?a=1",
        method="POST",
        headers={"X-API-Key": "caller-own", "Content-Type": "application/json"},
        data=b'{"x":1}',
        proxy=True,
    )
    assert status == 200
    check(body)
    with proxy_client(client, stack.workspace, "echo-key") as http_client:
        check(http_client.get("/v1/items?a=1", headers={"X-API-Key": "caller-own"}).content)
        # The gateway's refusal (a double-encoded `..`, which no client resolves).
        with pytest.raises(nexus_sdk.InvalidProxyPathError):
            http_client.get("/v1/%252e%252e/admin")
        # Refused before sending: an absolute URL, an encoded `..` the HTTP stack would resolve.
        for path in ("https://evil.example/x", "/v1/%2e%2e/admin", "/v1/../admin"):
            with pytest.raises(nexus_sdk.InvalidRequestError) as refused:
                http_client.get(path)
            assert refused.value.code == "invalid_request"

    async def via_async() -> bytes:
        async with async_proxy_client(client, stack.workspace, "echo-key") as http_client:
            response: httpx.Response = await http_client.post("/v1/items?a=1", content=b"{}")
            return response.content

    check(anyio.run(via_async))
    with proxy_session(client, stack.workspace, "echo-key") as session:
        answer: requests.Response = session.get("/v1/items", params={"a": "1"})
        check(answer.content)
        with pytest.raises(nexus_sdk.InvalidProxyPathError):
            session.get("/v1/%252e%252e/admin")
        with pytest.raises(nexus_sdk.InvalidRequestError) as refused:
            session.get("/v1/../admin")
        assert refused.value.code == "invalid_request"


def test_oauth_credential_and_401_refresh_through_the_real_stack(stack: Stack) -> None:
    client, cache = stack.client(), TokenCache()
    token = client.get_cached_token(cache, stack.workspace, "fake-oauth")
    assert token.access_token and token.access_token.startswith("at_")
    assert token.seconds_remaining is not None and token.seconds_remaining > 60
    stats_before = http("GET", f"{stack.oauth_url}/_control/stats", "-")

    # The upstream accepts only a token that no refresh will produce: the SDK sees 401, forces a
    # refresh through gateway -> broker -> provider, retries once, and returns the second 401.
    stack.echo_require({"kind": "header", "name": "authorization", "value": "Bearer never"})
    try:
        status, _, _ = client.authenticated_fetch(
            cache, stack.workspace, "fake-oauth", f"{stack.echo_url}/x"
        )
    finally:
        stack.echo_require({"kind": "none"})
    assert status == 401
    stats_after = http("GET", f"{stack.oauth_url}/_control/stats", "-")
    assert stats_after != stats_before  # the provider saw the forced refresh
    refreshed = client.get_cached_token(cache, stack.workspace, "fake-oauth")
    assert refreshed.access_token != token.access_token


def test_unknown_provider(stack: Stack) -> None:
    with pytest.raises(nexus_sdk.NotFound) as info:
        stack.client().resolve_token(stack.workspace, "no-such-provider")
    assert info.value.code == "provider_not_found"
    assert info.value.status_code == 404
    assert info.value.request_id


def test_wrong_api_key_is_unauthorized(stack: Stack) -> None:
    client = NexusClient(
        NexusClientOptions(gateway_url=stack.env["NEXUS_GATEWAY_URL"], api_key="nxk_wrong")
    )
    with pytest.raises(nexus_sdk.Unauthorized):
        client.resolve_token(stack.workspace, "echo-key")


class GitHubStandIn:
    def __init__(self, token: str) -> None:
        self.token = token
        self.server = LoopbackServer(self._handle).start()

    def _handle(self, request: Recorded) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return json_reply(401, {"message": "Bad credentials"})
        return json_reply(200, [{"full_name": "octo/from-the-stack"}])


def test_mcp_server_against_the_real_stack(stack: Stack, tmp_path: Path) -> None:
    from test_mcp_stdio import assert_stdout_is_only_jsonrpc, call_list_repos, text_of

    github = GitHubStandIn(STATIC_SECRET)
    try:
        env = {
            **stack.env,
            "NEXUS_PROVIDER": "echo-key",
            "GITHUB_API_BASE": github.server.url,
            "NEXUS_LOG": "debug",
        }
        capture = tmp_path / "stdout.jsonl"
        result = anyio.run(call_list_repos, env, capture)
    finally:
        github.server.stop()
    assert not result.is_error, text_of(result)
    assert text_of(result) == "octo/from-the-stack"
    assert_stdout_is_only_jsonrpc(capture)


def test_connection_lifecycle(stack: Stack) -> None:
    client = stack.client()
    request = client.request_connection(
        RequestConnectionInput(user_id="user-1", provider_name="fake-oauth")
    )
    assert request.auth_url.startswith("http") and request.connection_id and request.state
    assert client.check_connection(request.connection_id).status == "pending"
    with pytest.raises(nexus_sdk.NexusTimeout) as info:
        client.wait_for_active(request.connection_id, timeout=0.3, interval=0.05)
    assert info.value.code == "wait_aborted"

    # The person authorizes: following the URL goes through the provider (which approves at
    # once) and back to the broker's callback, which activates the connection.
    with urllib.request.urlopen(request.auth_url, timeout=10) as response:
        assert response.status == 200

    async def wait() -> ConnectionCheck:
        return await client.wait_for_active_async(request.connection_id, timeout=10, interval=0.05)

    active = anyio.run(wait)
    assert active.is_active and active.status == "active"
    token = client.get_token_by_connection_id(request.connection_id)
    assert token.access_token and token.connection_id == request.connection_id
    refreshed = client.refresh_connection(request.connection_id)
    assert refreshed.access_token and refreshed.access_token != token.access_token

    with pytest.raises(nexus_sdk.ConnectionNotFound):
        client.check_connection("00000000-0000-0000-0000-000000000000")


def test_reauth_required_through_the_real_stack(stack: Stack) -> None:
    # Last: it breaks the OAuth connection for good. The provider rejects the next refresh.
    http("POST", f"{stack.oauth_url}/_control/failures", "-", {"kind": "invalid_grant"})
    with pytest.raises(nexus_sdk.ReauthRequired) as info:
        stack.client().resolve_token(stack.workspace, "fake-oauth", force_refresh=True)
    assert info.value.code == "reauth_required"
    assert info.value.status_code == 409
    assert info.value.reauth_url and info.value.reauth_url.startswith(stack.env["NEXUS_BROKER_URL"])
    assert "invalid_grant" in info.value.message
    # The refresh token is never in the error.
    assert stack.refresh_token not in str(info.value)
    assert stack.refresh_token not in repr(info.value.args)
