"""Header names on the wire (issue 15): the httpx and requests adapters send the caller's
headers named as written and the credential header named as the provider declared it;
``authenticated_fetch`` (the core's HTTP/1 client) sends them as written too. The upstream reads
names as they arrived (the stdlib parser keeps their case)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import requests

from nexus_sdk import NexusClient, TokenCache

from servers import FakeGateway, LoopbackServer, Recorded, Reply, json_reply, resolve_body

WS = "ws-1"
DECLARED = "X-API-Key"


@pytest.fixture
def raw_upstream() -> Iterator[LoopbackServer]:
    server = LoopbackServer(lambda _request: json_reply(200, {})).start()
    yield server
    server.stop()


@pytest.fixture
def header_gateway(gateway: FakeGateway) -> FakeGateway:
    def reply(_request: Recorded, n: int) -> Reply:
        return json_reply(
            200,
            resolve_body(
                token=f"k-{n}",
                strategy={
                    "type": "header",
                    "config": {"header_name": DECLARED, "value_prefix": ""},
                },
                credentials={"api_key": f"k-{n}"},
            ),
        )

    gateway.reply = reply
    return gateway


def names(server: LoopbackServer) -> list[list[str]]:
    return [r.raw_header_names for r in server.requests]


def test_httpx_sends_names_as_written(
    client: NexusClient,
    cache: TokenCache,
    header_gateway: FakeGateway,
    raw_upstream: LoopbackServer,
) -> None:
    from nexus_sdk.httpx import NexusAuth

    with httpx.Client(auth=NexusAuth(client, cache, WS, "trial")) as http:
        response = http.get(raw_upstream.url, headers={"X-Trace-Id": "t-1", "x-api-key": "caller"})
    assert response.status_code == 200
    [seen] = names(raw_upstream)
    assert DECLARED in seen and "X-Trace-Id" in seen, seen
    assert "x-api-key" not in seen, seen


def test_requests_sends_names_as_written(
    client: NexusClient,
    cache: TokenCache,
    header_gateway: FakeGateway,
    raw_upstream: LoopbackServer,
) -> None:
    from nexus_sdk.requests import NexusAuth

    session = requests.Session()
    session.auth = NexusAuth(client, cache, WS, "trial")
    response = session.get(raw_upstream.url, headers={"X-Trace-Id": "t-1"}, timeout=10)
    assert response.status_code == 200
    [seen] = names(raw_upstream)
    assert DECLARED in seen and "X-Trace-Id" in seen, seen


def test_authenticated_fetch_sends_names_as_written(
    client: NexusClient, cache: TokenCache, gateway: FakeGateway, raw_upstream: LoopbackServer
) -> None:
    status, _headers, _body = client.authenticated_fetch(
        cache, WS, "github", raw_upstream.url, headers={"x-trace-id": "t-1"}
    )
    assert status == 200
    [seen] = names(raw_upstream)
    # The core keeps each name's case as written: the caller's lower-case name stays lower case
    # and the injected Authorization keeps its own.
    assert "Authorization" in seen and "x-trace-id" in seen, seen
