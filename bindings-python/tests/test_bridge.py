"""Smoke tests of the WebSocket bridge through the binding, against the testkit's
credential-checking WebSocket server (``nexus-testkit ws``, which also issues the tokens as a
stand-in gateway). Skipped when the binary is missing, unless ``NEXUS_REQUIRE_STACK=1``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus_sdk import (
    NexusClient,
    NexusClientOptions,
    ReauthRequired,
    RetryPolicy,
    TokenCache,
    bridge,
)

REPO = Path(__file__).resolve().parents[2]


def find_testkit() -> Path:
    if os.environ.get("NEXUS_TESTKIT_BIN"):
        return Path(os.environ["NEXUS_TESTKIT_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    for candidate in (
        target / "debug" / "nexus-testkit",
        REPO / "target" / "debug" / "nexus-testkit",
    ):
        if candidate.is_file():
            return candidate
    message = "nexus-testkit binary missing"
    if os.environ.get("NEXUS_REQUIRE_STACK") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def ws_server() -> Iterator[dict[str, Any]]:
    process = subprocess.Popen(
        [str(find_testkit()), "ws"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "nexus-testkit ws did not announce itself"
    yield json.loads(line)
    process.terminate()
    process.wait(timeout=10)


def control(info: dict[str, Any], method: str, path: str) -> Any:
    request = urllib.request.Request(
        info["control_url"] + path, method=method, data=b"" if method == "POST" else None
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def client_for(info: dict[str, Any]) -> NexusClient:
    return NexusClient(
        NexusClientOptions(
            gateway_url=info["gateway_url"],
            api_key="test-api-key",
            retry_policy=RetryPolicy(retries=0),
        )
    )


def test_async_iterator_connects_echoes_reconnects_and_closes(ws_server: dict[str, Any]) -> None:
    async def main() -> list[bridge.Event]:
        seen: list[bridge.Event] = []
        ws = bridge.websocket(
            client_for(ws_server),
            TokenCache(buffer_seconds=0),
            "ws_1",
            "chat",
            ws_server["url"],
            min_backoff=0.02,
            max_backoff=0.2,
        )
        async with ws:
            connects = 0
            async for event in ws:
                seen.append(event)
                if isinstance(event, bridge.Connected):
                    connects += 1
                    if connects == 1:
                        await ws.send("hello")
                    else:
                        await ws.send(b"\x00bin")
                elif isinstance(event, bridge.Message):
                    if event.data == "hello":
                        # Rotate the upstream token and drop the connection: the reconnect must
                        # present the new token.
                        control(ws_server, "POST", "/_control/rotate")
                        control(ws_server, "POST", "/_control/drop")
                    else:
                        await ws.close()
        return seen

    seen = asyncio.run(asyncio.wait_for(main(), timeout=20))
    kinds = [type(e).__name__ for e in seen]
    assert kinds == ["Connected", "Message", "Disconnected", "Connected", "Message", "Disconnected"]
    assert seen[1] == bridge.Message("hello")
    assert seen[2] == bridge.Disconnected(kind="error", code=None, reason=seen[2].reason)  # type: ignore[union-attr]
    assert seen[4] == bridge.Message(b"\x00bin")
    assert seen[5] == bridge.Disconnected(kind="cancelled")
    attempts = control(ws_server, "GET", "/_control/attempts")
    assert [a["accepted"] for a in attempts] == [True, True]
    assert attempts[0]["token"] != attempts[1]["token"]


def test_callback_form_stops_with_reauth_required(ws_server: dict[str, Any]) -> None:
    events: list[str] = []

    def on_connect(ws: bridge.WebSocketBridge) -> None:
        events.append("connect")
        control(ws_server, "POST", "/_control/revoke")
        control(ws_server, "POST", "/_control/drop")

    async def main() -> None:
        await bridge.run_websocket(
            client_for(ws_server),
            TokenCache(),
            "ws_1",
            "chat",
            ws_server["url"],
            min_backoff=0.02,
            max_backoff=0.2,
            on_connect=on_connect,
            on_disconnect=lambda d: events.append(d.kind),
        )

    with pytest.raises(ReauthRequired):
        asyncio.run(asyncio.wait_for(main(), timeout=20))
    assert events == ["connect", "error"]
