"""The async API: never blocks the event loop, and exiting right after awaiting is safe."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import nexus_sdk
from nexus_sdk import NexusClient, TokenCache

from conftest import Upstream
from servers import FakeGateway, Recorded, Reply, json_reply, resolve_body

WS = "ws-1"


def test_async_resolve_and_fetch(client: NexusClient, upstream: Upstream) -> None:
    async def main() -> None:
        cache = TokenCache()
        token = await client.aresolve_token(WS, "github")
        assert token.access_token == "tok-1"
        cached = await client.aget_cached_token(cache, WS, "github")
        assert cached.access_token == "tok-2"
        status, headers, body = await client.authenticated_fetch_async(
            cache, WS, "github", f"{upstream.url}/x", method="POST", data=b"hi"
        )
        assert status == 200 and headers["x-upstream"] == "yes"
        assert b'"body": "hi"' in body
        url, merged = await client.aprepare_request(cache, WS, "github", "GET", upstream.url)
        assert url == upstream.url and ("authorization", "Bearer tok-2") in [
            (k.lower(), v) for k, v in merged
        ]

    asyncio.run(main())


def test_async_errors_are_the_same_exceptions(client: NexusClient, gateway: FakeGateway) -> None:
    gateway.reply = lambda _req, _n: json_reply(
        409, {"error": "reauth_required", "message": "again", "reauth_url": "https://n/r"}
    )
    with pytest.raises(nexus_sdk.ReauthRequired) as info:
        asyncio.run(client.aresolve_token(WS, "github"))
    assert info.value.reauth_url == "https://n/r"


def test_the_event_loop_keeps_running_during_a_slow_resolve(gateway: FakeGateway) -> None:
    """The gateway holds the resolve until the event loop has ticked 5 times; a blocked loop
    could never tick, and the resolve would time out."""
    ticks = 0
    loop_ticked = threading.Event()

    def stall(_req: Recorded, n: int) -> Reply:
        loop_ticked.wait(timeout=10)
        return json_reply(200, resolve_body(token=f"tok-{n}"))

    gateway.reply = stall
    from conftest import make_client

    client = make_client(gateway.url, timeout=15)

    async def ticker() -> None:
        nonlocal ticks
        while ticks < 5:
            await asyncio.sleep(0.001)
            ticks += 1
        loop_ticked.set()

    async def main() -> str | None:
        token, _ = await asyncio.gather(client.aresolve_token(WS, "github"), ticker())
        return token.access_token

    assert asyncio.run(main()) == "tok-1"
    assert ticks == 5


def test_await_then_exit_50_times_cleanly() -> None:
    script = Path(__file__).with_name("async_exit_script.py")
    failures = []
    for run in range(50):
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, timeout=60, check=False
        )
        if done.returncode != 0 or done.stdout:
            failures.append((run, done.returncode, done.stdout[-500:], done.stderr[-2000:]))
    assert failures == []
