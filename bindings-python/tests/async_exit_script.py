"""Await the SDK's async API, then let the interpreter exit at once (run by test_async.py).

Exits 0 with nothing on stdout when all went well; any crash at exit shows as a signal or a
non-zero status in the test.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from nexus_sdk import NexusClient, NexusClientOptions, TokenCache

from servers import FakeGateway, LoopbackServer, json_reply

in_flight: list[asyncio.Future[object]] = []


async def main() -> None:
    gateway = FakeGateway()
    upstream = LoopbackServer(lambda _req: json_reply(200, {"ok": True})).start()
    client = NexusClient(NexusClientOptions(gateway_url=gateway.url, api_key="k"))
    cache = TokenCache()
    token = await client.aresolve_token("ws", "github")
    assert token.access_token == "tok-1"
    results = await asyncio.gather(
        *(client.authenticated_fetch_async(cache, "ws", "github", upstream.url) for _ in range(8))
    )
    assert [status for status, _, _ in results] == [200] * 8
    # Leave a request in flight on purpose when the loop closes: exit must still be clean.
    in_flight.append(
        asyncio.ensure_future(client.authenticated_fetch_async(cache, "ws", "github", upstream.url))
    )


asyncio.run(main())
