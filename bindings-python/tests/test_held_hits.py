"""The hit path hands back the object it already made for the same token (``src/held.rs``), and
only while the core would serve that token: every cache write, a principal change and the
core's deadline end it. The rule itself is the core's (core/tests/hold.rs drives the deadline
with an explicit clock); these check that the binding never serves a copy the core would not.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from test_sessions import SessionGateway, client_of

from nexus_sdk import NexusClient, TokenCache

from conftest import Upstream
from servers import FakeGateway, json_reply, resolve_body

WS = "ws-1"


def test_hits_return_the_same_object(
    client: NexusClient, cache: TokenCache, gateway: FakeGateway
) -> None:
    first = client.get_cached_token(cache, WS, "github")
    assert client.get_cached_token(cache, WS, "github") is first
    # Equal strings that are other objects name the same key.
    ws, provider = "".join(["ws", "-1"]), "".join(["git", "hub"])
    assert ws is not WS
    assert client.get_cached_token(cache, ws, provider) is first
    assert client.get_cached_token(cache, WS, "slack") is not first
    assert gateway.resolves == 2


def test_invalidate_and_clear_end_the_held_hit(
    client: NexusClient, cache: TokenCache, gateway: FakeGateway
) -> None:
    first = client.get_cached_token(cache, WS, "github")
    client.invalidate(cache, WS, "github")
    second = client.get_cached_token(cache, WS, "github")
    assert second is not first
    assert (first.access_token, second.access_token) == ("tok-1", "tok-2")
    cache.clear()
    third = client.get_cached_token(cache, WS, "github")
    assert third.access_token == "tok-3"
    assert gateway.resolves == 3


def test_a_write_to_another_key_keeps_the_token_and_its_object(
    client: NexusClient, cache: TokenCache, gateway: FakeGateway
) -> None:
    first = client.get_cached_token(cache, WS, "github")
    client.get_cached_token(cache, WS, "slack")  # a store: every held hit is re-checked
    assert client.get_cached_token(cache, WS, "github") is first
    assert gateway.resolves == 2


def test_the_401_rule_ends_the_held_hit(
    client: NexusClient, cache: TokenCache, gateway: FakeGateway, upstream: Upstream
) -> None:
    held = client.get_cached_token(cache, WS, "github")
    replaced = client.replace_rejected(cache, WS, "github", held.generation)
    assert replaced.access_token == "tok-2"
    assert client.get_cached_token(cache, WS, "github").access_token == "tok-2"

    # Through the fetch path: the upstream refuses tok-2, the core refreshes once.
    upstream.valid = {"tok-3"}
    status, _, _ = client.authenticated_fetch(cache, WS, "github", upstream.url)
    assert status == 200
    assert client.get_cached_token(cache, WS, "github").access_token == "tok-3"
    assert gateway.resolves == 3


def test_a_forced_refresh_through_the_adapter_path_ends_the_held_hit(
    client: NexusClient, cache: TokenCache, gateway: FakeGateway, upstream: Upstream
) -> None:
    held = client.get_cached_token(cache, WS, "github")
    _, _, generation = client.prepare_attempt(
        cache, WS, "github", "GET", upstream.url, rejected_generation=held.generation
    )
    assert generation != held.generation
    assert client.get_cached_token(cache, WS, "github").access_token == "tok-2"


def test_a_token_the_core_would_not_serve_is_never_held(
    client: NexusClient, gateway: FakeGateway
) -> None:
    # 20 s tokens inside a 30 s safety buffer: the core's deadline has passed on arrival.
    gateway.reply = lambda _req, n: json_reply(200, resolve_body(token=f"tok-{n}", expires_in=20))
    cache = TokenCache()
    tokens = [client.get_cached_token(cache, WS, "github").access_token for _ in range(3)]
    assert tokens == ["tok-1", "tok-2", "tok-3"]
    assert gateway.resolves == 3


def test_caches_and_clients_do_not_share_held_hits(
    client: NexusClient, gateway: FakeGateway
) -> None:
    a, b = TokenCache(), TokenCache()
    from_a = client.get_cached_token(a, WS, "github")
    from_b = client.get_cached_token(b, WS, "github")
    assert (from_a.access_token, from_b.access_token) == ("tok-1", "tok-2")
    assert client.get_cached_token(a, WS, "github") is from_a


def test_a_write_on_another_thread_ends_this_threads_hit(
    client: NexusClient, cache: TokenCache, gateway: FakeGateway
) -> None:
    first = client.get_cached_token(cache, WS, "github")
    seen: list[str | None] = []

    def other() -> None:
        seen.append(client.get_cached_token(cache, WS, "github").access_token)
        client.invalidate(cache, WS, "github")

    worker = threading.Thread(target=other)
    worker.start()
    worker.join()
    assert seen == ["tok-1"]
    after = client.get_cached_token(cache, WS, "github")
    assert after is not first
    assert after.access_token == "tok-2"


@pytest.fixture
def session_gateway() -> Iterator[SessionGateway]:
    gw = SessionGateway()
    yield gw
    gw.server.stop()


def test_session_start_and_close_end_held_hits(session_gateway: SessionGateway) -> None:
    client, cache = client_of(session_gateway), TokenCache()
    api_key_hit = client.get_cached_token(cache, "ws_1", "github")
    assert client.get_cached_token(cache, "ws_1", "github") is api_key_hit
    client.start_session(["provider:github"], ttl=600)
    under_session = client.get_cached_token(cache, "ws_1", "github")
    assert under_session.access_token == "at-tok_1"
    assert client.get_cached_token(cache, "ws_1", "github") is under_session
    client.close_session()
    back = client.get_cached_token(cache, "ws_1", "github")
    assert back.access_token == api_key_hit.access_token
    assert back.generation == api_key_hit.generation
    assert len(session_gateway.seen("GET", "/v1/resolve")) == 2
