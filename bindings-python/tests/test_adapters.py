"""The httpx and requests adapters: injection, 401 refresh-and-retry, and lazy imports."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import httpx
import requests

from nexus_sdk import NexusClient, TokenCache

from conftest import Upstream
from servers import FakeGateway

WS = "ws-1"


def test_importing_the_sdk_does_not_import_httpx_or_requests() -> None:
    code = (
        "import sys, nexus_sdk; print(sorted(m for m in ('httpx', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_httpx_sync(client: NexusClient, cache: TokenCache, upstream: Upstream) -> None:
    from nexus_sdk.httpx import NexusAuth

    with httpx.Client(auth=NexusAuth(client, cache, WS, "github")) as http:
        response = http.post(f"{upstream.url}/x", content=b"payload", headers={"X-A": "1"})
    assert response.status_code == 200
    assert response.json() == {"token": "tok-1", "method": "POST", "body": "payload"}
    assert upstream.server.requests[0].headers["x-a"] == "1"


def test_httpx_sync_retries_once_on_401(
    client: NexusClient, cache: TokenCache, gateway: FakeGateway, upstream: Upstream
) -> None:
    from nexus_sdk.httpx import NexusAuth

    upstream.valid = {"tok-2"}
    with httpx.Client(auth=NexusAuth(client, cache, WS, "github")) as http:
        response = http.get(upstream.url)
    assert response.status_code == 200
    assert upstream.authorizations() == ["Bearer tok-1", "Bearer tok-2"]
    assert gateway.resolves == 2


def test_httpx_async(client: NexusClient, cache: TokenCache, upstream: Upstream) -> None:
    from nexus_sdk.httpx import NexusAuth

    upstream.valid = {"tok-2"}

    async def main() -> list[int]:
        async with httpx.AsyncClient(auth=NexusAuth(client, cache, WS, "github")) as http:
            first = await http.get(upstream.url)  # 401 with tok-1, then tok-2
            second = await http.get(upstream.url)  # tok-2 from the cache
            return [first.status_code, second.status_code]

    assert asyncio.run(main()) == [200, 200]
    assert upstream.authorizations() == ["Bearer tok-1", "Bearer tok-2", "Bearer tok-2"]


def test_requests_auth(client: NexusClient, cache: TokenCache, upstream: Upstream) -> None:
    from nexus_sdk.requests import NexusAuth

    session = requests.Session()
    session.auth = NexusAuth(client, cache, WS, "github")
    response = session.put(f"{upstream.url}/y?q=1", data="body", timeout=10)
    assert response.status_code == 200
    assert json.loads(response.content) == {"token": "tok-1", "method": "PUT", "body": "body"}
    assert upstream.server.requests[0].query == {"q": ["1"]}


def test_requests_retries_once_on_401(
    client: NexusClient, cache: TokenCache, gateway: FakeGateway, upstream: Upstream
) -> None:
    from nexus_sdk.requests import NexusAuth

    upstream.valid = {"tok-2"}
    response = requests.get(upstream.url, auth=NexusAuth(client, cache, WS, "github"), timeout=10)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert upstream.authorizations() == ["Bearer tok-1", "Bearer tok-2"]

    upstream.valid = set()  # every token rejected: exactly one retry, then the 401 is returned
    response = requests.get(upstream.url, auth=NexusAuth(client, cache, WS, "github"), timeout=10)
    assert response.status_code == 401
    assert len(upstream.server.requests) == 4
