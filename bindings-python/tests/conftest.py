"""Shared fixtures: loopback servers and clients pointed at them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nexus_sdk import NexusClient, NexusClientOptions, RetryPolicy, TokenCache

from servers import FakeGateway, LoopbackServer, Recorded, Reply, json_reply


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    server = FakeGateway()
    yield server
    server.stop()


class Upstream:
    """An upstream API that accepts only the tokens in ``valid`` (``tok-1`` … by default)."""

    def __init__(self) -> None:
        self.valid: set[str] | None = None  # None: any bearer token is accepted
        self.server = LoopbackServer(self._handle).start()

    def _handle(self, request: Recorded) -> Reply:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or (self.valid is not None and token not in self.valid):
            return json_reply(401, {"message": "Bad credentials"})
        if request.path == "/status/500":
            return json_reply(500, {"message": "boom"})
        return json_reply(
            200,
            {"token": token, "method": request.method, "body": request.body.decode()},
            {"X-Upstream": "yes"},
        )

    @property
    def url(self) -> str:
        return self.server.url

    def authorizations(self) -> list[str]:
        return [r.headers.get("authorization", "") for r in self.server.requests]


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.server.stop()


def make_client(gateway_url: str, retries: int = 0, timeout: float = 10.0) -> NexusClient:
    return NexusClient(
        NexusClientOptions(
            gateway_url=gateway_url,
            api_key="test-api-key",
            timeout=timeout,
            retry_policy=RetryPolicy(retries=retries, backoff=0.01, max_backoff=0.05),
        )
    )


@pytest.fixture
def client(gateway: FakeGateway) -> NexusClient:
    return make_client(gateway.url)


@pytest.fixture
def cache() -> TokenCache:
    return TokenCache()
