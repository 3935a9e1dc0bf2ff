"""Logs: the `nexus_sdk` logger and the core's logs (NEXUS_LOG) go to stderr, never stdout."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from nexus_sdk import NexusClient, TokenCache

from conftest import Upstream

SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from servers import FakeGateway, LoopbackServer, json_reply
from nexus_sdk import NexusClient, NexusClientOptions, TokenCache

gateway = FakeGateway()
upstream = LoopbackServer(lambda req: json_reply(401, {{}})).start()
client = NexusClient(NexusClientOptions(gateway_url=gateway.url, api_key="k"))
status, _, _ = client.authenticated_fetch(TokenCache(), "ws", "github", upstream.url)
assert status == 401
"""


def run(env_extra: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    code = SCRIPT.format(tests=str(Path(__file__).parent))
    env = {name: value for name, value in os.environ.items() if name != "NEXUS_LOG"}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=60)


def test_core_logs_are_silent_by_default() -> None:
    done = run({})
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"" and done.stderr == b""


def test_core_logs_go_to_stderr_when_asked() -> None:
    done = run({"NEXUS_LOG": "debug"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""
    assert b"401" in done.stderr  # the core's "upstream answered 401; refreshing" event
    assert b"tok-1" not in done.stderr and b"tok-2" not in done.stderr  # never a credential


def test_adapter_logs_through_the_nexus_sdk_logger(
    client: NexusClient, cache: TokenCache, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    from nexus_sdk.httpx import NexusAuth

    upstream.valid = {"tok-2"}
    with caplog.at_level(logging.DEBUG, logger="nexus_sdk"):
        with httpx.Client(auth=NexusAuth(client, cache, "ws", "github")) as http:
            assert http.get(upstream.url).status_code == 200
    records = [r for r in caplog.records if r.name.startswith("nexus_sdk")]
    assert [r.getMessage() for r in records] == [
        "upstream answered 401; retrying once with a fresh credential"
    ]
    assert all(r.levelno == logging.DEBUG for r in records)  # silent at INFO
