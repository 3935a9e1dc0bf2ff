"""Threads: one cache shared by many threads, cold stampedes, and the GIL released during I/O."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from nexus_sdk import NexusClient, TokenCache

from conftest import make_client
from servers import FakeGateway, LoopbackServer, Recorded, Reply, json_reply

WS = "ws-1"


def test_32_threads_hammering_one_cache(client: NexusClient, gateway: FakeGateway) -> None:
    cache = TokenCache()
    providers = ["github", "slack", "google", "notion"]
    start = threading.Barrier(32)
    calls_per_thread = 500

    def hammer(i: int) -> set[tuple[str, str | None]]:
        start.wait()
        seen = set()
        for j in range(calls_per_thread):
            provider = providers[(i + j) % len(providers)]
            token = client.get_cached_token(cache, WS, provider)
            seen.add((provider, token.access_token))
            if j % 100 == 99 and i % 8 == 0:
                client.clear_token(cache, WS, provider)  # invalidations racing with hits
        return seen

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(hammer, range(32)))

    tokens = {token for seen in results for _, token in seen}
    # Every token handed out is one the gateway issued, and every thread saw every provider.
    assert tokens <= {f"tok-{n}" for n in range(1, gateway.resolves + 1)}
    assert all({p for p, _ in seen} == set(providers) for seen in results)
    # Invalidations cause re-resolves, but far fewer than calls: the cache held.
    assert len(providers) <= gateway.resolves < 32 * calls_per_thread // 10
    # After the storm the cache is consistent: one entry per provider once each is asked for.
    for provider in providers:
        client.get_cached_token(cache, WS, provider)
    assert len(cache) == len(providers)


def test_cold_stampede_of_200_callers_makes_one_gateway_call(gateway: FakeGateway) -> None:
    # The gateway answers slowly, so all 200 callers are waiting on the same miss.
    gateway.delay = 0.3
    client = make_client(gateway.url)
    cache = TokenCache()
    start = threading.Barrier(200)

    def call(_: int) -> str | None:
        start.wait()
        return client.get_cached_token(cache, WS, "github").access_token

    with ThreadPoolExecutor(200) as pool:
        tokens = list(pool.map(call, range(200)))

    assert tokens == ["tok-1"] * 200
    assert gateway.resolves == 1
    stats = cache.stats()
    assert stats["fetches"] == 1
    assert stats["misses"] == stats["joined"] + 1


def test_the_gil_is_released_while_a_request_is_in_flight(
    client: NexusClient, cache: TokenCache
) -> None:
    """The upstream holds the request until another *Python* thread has made progress. If the
    native call held the GIL, that thread (and the Python upstream server itself) could not run,
    and the request would time out instead of answering 200."""
    arrived = threading.Event()
    released = threading.Event()

    def slow(_req: Recorded) -> Reply:
        arrived.set()
        if not released.wait(timeout=10):
            return json_reply(504, {"message": "nobody released the request"})
        return json_reply(200, {"ok": True})

    upstream = LoopbackServer(slow).start()
    progress = 0

    def other_python_thread() -> None:
        nonlocal progress
        assert arrived.wait(timeout=10), "the request never reached the upstream"
        for _ in range(1000):
            progress += 1  # pure-Python work, needs the GIL
        released.set()

    helper = threading.Thread(target=other_python_thread)
    helper.start()
    try:
        status, _, _ = client.authenticated_fetch(cache, WS, "github", f"{upstream.url}/slow")
    finally:
        released.set()
        helper.join()
        upstream.stop()
    assert status == 200
    assert progress == 1000


def test_a_cold_miss_also_releases_the_gil(gateway: FakeGateway) -> None:
    """Same proof for the resolve path: the gateway stalls until another thread runs."""
    arrived = threading.Event()
    released = threading.Event()

    def stall(_req: Recorded, n: int) -> Reply:
        arrived.set()
        released.wait(timeout=10)
        return json_reply(200, {"access_token": f"tok-{n}", "strategy": {"type": "oauth2"}})

    gateway.reply = stall
    client = make_client(gateway.url)
    done: list[str | None] = []

    def resolve() -> None:
        done.append(client.get_cached_token(TokenCache(), WS, "github").access_token)

    worker = threading.Thread(target=resolve)
    worker.start()
    assert arrived.wait(timeout=10)
    assert done == []  # still in flight, and this thread is running: the GIL is free
    released.set()
    worker.join(timeout=10)
    assert done == ["tok-1"]
