"""The SDK's cache hit against its floors, in one process and one run (issue 20: hit <= 1.1x a
dict + clock check). Used by scripts/bench/hot-paths.sh.

    python bindings-python/bench/hit.py [--calls N] [--rounds N]

Every variant is called as a user calls ``get_cached_token`` (a call with three arguments),
in alternating rounds, best round of each (``timeit``):

- sdk: ``sdk.get_cached_token(cache, WS, PROVIDER)`` on a warm cache; freshness is decided by
  the Rust core on every call;
- dict_clock: a Python function doing a dict lookup and the freshness test against
  ``time.monotonic()``: the floor the goal names, with the clock check a correct cache cannot
  skip;
- dict: the same without the clock (what the lookup and the call alone cost here).

The gateway is the tests' loopback stand-in (``tests/servers.py``). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import timeit
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from nexus_sdk import NexusClient, NexusClientOptions, RetryPolicy, TokenCache  # noqa: E402

from servers import FakeGateway  # noqa: E402

WS, PROVIDER = "bench-ws", "github"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    gateway = FakeGateway()
    sdk = NexusClient(
        NexusClientOptions(
            gateway_url=gateway.url, api_key="bench", retry_policy=RetryPolicy(retries=0)
        )
    )
    cache = TokenCache()
    credential = sdk.get_cached_token(cache, WS, PROVIDER)

    entries = {(WS, PROVIDER): (time.monotonic() + 3600.0, credential)}
    monotonic = time.monotonic

    def dict_clock(_cache: object, workspace: str, provider: str) -> object:
        entry = entries.get((workspace, provider))
        if entry is not None and entry[0] > monotonic():
            return entry[1]
        raise LookupError("floor entry not fresh")

    def dict_only(_cache: object, workspace: str, provider: str) -> object:
        entry = entries.get((workspace, provider))
        if entry is not None:
            return entry[1]
        raise LookupError("floor entry missing")

    namespace = {
        "sdk": sdk,
        "cache": cache,
        "dict_clock": dict_clock,
        "dict_only": dict_only,
        "WS": WS,
        "PROVIDER": PROVIDER,
    }
    statements = {
        "sdk": "sdk.get_cached_token(cache, WS, PROVIDER)",
        "dict_clock": "dict_clock(cache, WS, PROVIDER)",
        "dict": "dict_only(cache, WS, PROVIDER)",
    }
    timers = {name: timeit.Timer(stmt, globals=namespace) for name, stmt in statements.items()}
    best = dict.fromkeys(timers, float("inf"))
    for _ in range(args.rounds):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.timeit(args.calls) / args.calls)
    ns = {name: seconds * 1e9 for name, seconds in best.items()}
    print(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "calls": args.calls,
                "rounds": args.rounds,
                "hit_ns": ns["sdk"],
                "floor_dict_clock_ns": ns["dict_clock"],
                "floor_dict_ns": ns["dict"],
                "ratio_vs_dict_clock": ns["sdk"] / ns["dict_clock"],
                "ratio_vs_dict": ns["sdk"] / ns["dict"],
            }
        )
    )
    gateway.stop()


if __name__ == "__main__":
    main()
