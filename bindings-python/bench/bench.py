"""Benchmark: the SDK (Rust core) versus a pure-standard-library client of the same algorithm.

    python bindings-python/bench/bench.py [--testkit PATH] [--hits N] [--fetches N]

Measures, in one run on one machine:

1. a cache hit (``get_cached_token`` on a warm cache), per call, best of 15 alternating rounds;
2. ``authenticated_fetch`` requests/s against a local upstream (the testkit's Rust echo server,
   so the upstream is not the bottleneck), sequential and from 8 threads, best of 5 alternating
   rounds of 2,000 requests each;
3. a cold stampede: 200 threads ask for the same token at once; how many gateway calls.

The gateway is the tests' loopback stand-in (``tests/servers.py``), answering resolves after a
50 ms delay so that the stampede really overlaps. Results go to stdout as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import timeit
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from nexus_sdk import NexusClient, NexusClientOptions, RetryPolicy, TokenCache  # noqa: E402

from servers import FakeGateway  # noqa: E402
from stdlib_client import StdlibNexusClient  # noqa: E402

WS, PROVIDER = "bench-ws", "github"


def start_echo(testkit: str) -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(
        [testkit, "echo"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())["url"]


def per_call_pair(
    statements: tuple[str, str], namespace: dict[str, object], n: int, rounds: int = 15
) -> tuple[float, float]:
    """Seconds per call of two statements, measured in alternation (so that both see the same
    machine load) and reported as the best round of each."""
    timers = [timeit.Timer(stmt, globals=namespace) for stmt in statements]
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for i, timer in enumerate(timers):
            best[i] = min(best[i], timer.timeit(n) / n)
    return best[0], best[1]


def rate(fn: Callable[[], object], n: int, threads: int) -> float:
    """Calls per second of n calls spread over `threads` threads."""
    per_thread = n // threads

    def run(_: int) -> None:
        for _ in range(per_thread):
            fn()

    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        list(pool.map(run, range(threads)))
        return per_thread * threads / (time.perf_counter() - start)


def rate_pair(
    fns: tuple[Callable[[], object], Callable[[], object]], n: int, threads: int, rounds: int = 5
) -> tuple[float, float]:
    """Best calls/s of each function over `rounds` alternating rounds of n calls (alternating so
    that both see the same machine load)."""
    best = [0.0, 0.0]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = max(best[i], rate(fn, n, threads))
    return best[0], best[1]


def stampede(get: Callable[[], object], callers: int = 200) -> None:
    barrier = threading.Barrier(callers)

    def call(_: int) -> object:
        barrier.wait()
        return get()

    with ThreadPoolExecutor(callers) as pool:
        list(pool.map(call, range(callers)))


def main() -> None:
    parser = argparse.ArgumentParser()
    default_testkit = Path(os.environ.get("CARGO_TARGET_DIR", HERE.parents[1] / "target"))
    parser.add_argument("--testkit", default=str(default_testkit / "debug" / "nexus-testkit"))
    parser.add_argument("--hits", type=int, default=200_000)
    parser.add_argument("--fetches", type=int, default=2_000)
    args = parser.parse_args()

    gateway = FakeGateway()
    gateway.delay = 0.05
    echo, echo_url = start_echo(args.testkit)
    url = f"{echo_url}/user/repos?per_page=10"
    rows: list[tuple[str, str, str, str]] = []
    try:
        sdk = NexusClient(
            NexusClientOptions(
                gateway_url=gateway.url, api_key="bench", retry_policy=RetryPolicy(retries=0)
            )
        )
        cache = TokenCache()
        base = StdlibNexusClient(gateway.url, "bench")

        # 1. Cache hit.
        sdk.get_cached_token(cache, WS, PROVIDER)
        base.get_cached_token(WS, PROVIDER)
        sdk_hit, base_hit = per_call_pair(
            (
                "sdk.get_cached_token(cache, WS, PROVIDER)",
                "base.get_cached_token(WS, PROVIDER)",
            ),
            {"sdk": sdk, "base": base, "cache": cache, "WS": WS, "PROVIDER": PROVIDER},
            args.hits // 10,
        )
        rows.append(
            (
                "cache hit (`get_cached_token`), per call",
                f"{sdk_hit * 1e9:.0f} ns",
                f"{base_hit * 1e9:.0f} ns",
                f"{base_hit / sdk_hit:.2f}x",
            )
        )

        # 2. authenticated_fetch throughput (warm cache; the upstream is the Rust echo server).
        def sdk_fetch() -> None:
            status, _, _ = sdk.authenticated_fetch(cache, WS, PROVIDER, url)
            assert status == 200

        def base_fetch() -> None:
            status, _, _ = base.authenticated_fetch(WS, PROVIDER, url)
            assert status == 200

        for threads in (1, 8):
            sdk_rate, base_rate = rate_pair((sdk_fetch, base_fetch), args.fetches, threads)
            rows.append(
                (
                    f"`authenticated_fetch`, {threads} thread{'s' if threads > 1 else ''}",
                    f"{sdk_rate:,.0f} req/s",
                    f"{base_rate:,.0f} req/s",
                    f"{sdk_rate / base_rate:.2f}x",
                )
            )

        # 3. Cold stampede: 200 callers, one key, empty caches.
        gateway.resolves = 0
        cold = TokenCache()
        stampede(lambda: sdk.get_cached_token(cold, WS, "cold"))
        sdk_calls = gateway.resolves
        gateway.resolves = 0
        stampede(lambda: base.get_cached_token(WS, "cold"))
        base_calls = gateway.resolves
        rows.append(
            (
                "cold stampede, 200 callers: gateway calls",
                str(sdk_calls),
                str(base_calls),
                "goal: 1",
            )
        )
    finally:
        echo.terminate()
        echo.wait()
        gateway.stop()

    print("| measurement | SDK (Rust core) | stdlib baseline | SDK vs baseline |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
