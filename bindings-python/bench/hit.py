"""The SDK's cache hit against its floors, in one process and one run (issue 20: hit <= 1.1x a
dict + clock check). Used by scripts/bench/hot-paths.sh.

    python bindings-python/bench/hit.py [--calls N] [--rounds N]

Every variant is called as a user calls ``get_cached_token`` (a call with three arguments),
in alternating rounds after a warm-up; the figure is the median round:

- sdk: ``sdk.get_cached_token(cache, WS, PROVIDER)`` on a warm cache, no session;
- sdk_session: the same on a second client under an agent session;
- dict_clock: a Python function doing a dict lookup and the freshness test against
  ``time.monotonic()``: the floor the goal names, with the clock check a correct cache cannot
  skip (a monotonic clock: the core's deadline is on one);
- dict_time: the same against ``time.time()`` (the wall clock of the earlier baseline);
- dict: the same without the clock (what the lookup and the call alone cost here).

Each round is timed with this thread's CPU clock (``time.thread_time``), which machine load
barely changes, and with the wall clock beside it. The gateway is the tests' loopback stand-in
(``tests/servers.py``); a hit never reaches it. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import timeit
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from nexus_sdk import NexusClient, NexusClientOptions, RetryPolicy, TokenCache  # noqa: E402

from servers import FakeGateway, json_reply  # noqa: E402

WS, PROVIDER = "bench-ws", "github"


def session_reply(_request: object) -> object:
    return json_reply(
        201,
        {
            "session_token": "sess_tok",
            "token_type": "session",
            "session_id": "sess_1",
            "expires_in": 3600,
            "expires_at": "2026-12-31T00:00:00Z",
            "scopes": [],
            "agent_id": "agt_1",
            "sub": "agt_1",
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    gateway = FakeGateway()
    gateway.routes["/v1/sessions"] = session_reply
    gateway.routes["/v1/sessions/sess_1"] = lambda _request: (204, {}, b"")
    options = NexusClientOptions(
        gateway_url=gateway.url, api_key="bench", retry_policy=RetryPolicy(retries=0)
    )
    sdk, in_session = NexusClient(options), NexusClient(options)
    in_session.start_session()
    cache = TokenCache()
    credential = sdk.get_cached_token(cache, WS, PROVIDER)
    in_session.get_cached_token(cache, WS, PROVIDER)

    monotonic_entries = {(WS, PROVIDER): (time.monotonic() + 3600.0, credential)}
    time_entries = {(WS, PROVIDER): (time.time() + 3600.0, credential)}
    monotonic, wall = time.monotonic, time.time

    def dict_clock(_cache: object, workspace: str, provider: str) -> object:
        entry = monotonic_entries.get((workspace, provider))
        if entry is not None and entry[0] > monotonic():
            return entry[1]
        raise LookupError("floor entry not fresh")

    def dict_time(_cache: object, workspace: str, provider: str) -> object:
        entry = time_entries.get((workspace, provider))
        if entry is not None and entry[0] > wall():
            return entry[1]
        raise LookupError("floor entry not fresh")

    def dict_only(_cache: object, workspace: str, provider: str) -> object:
        entry = monotonic_entries.get((workspace, provider))
        if entry is not None:
            return entry[1]
        raise LookupError("floor entry missing")

    namespace = {
        "sdk": sdk,
        "in_session": in_session,
        "cache": cache,
        "dict_clock": dict_clock,
        "dict_time": dict_time,
        "dict_only": dict_only,
        "WS": WS,
        "PROVIDER": PROVIDER,
    }
    statements = {
        "sdk": "sdk.get_cached_token(cache, WS, PROVIDER)",
        "sdk_session": "in_session.get_cached_token(cache, WS, PROVIDER)",
        "dict_clock": "dict_clock(cache, WS, PROVIDER)",
        "dict_time": "dict_time(cache, WS, PROVIDER)",
        "dict": "dict_only(cache, WS, PROVIDER)",
    }
    cpu_timers = {
        name: timeit.Timer(stmt, timer=time.thread_time, globals=namespace)
        for name, stmt in statements.items()
    }
    wall_timers = {name: timeit.Timer(stmt, globals=namespace) for name, stmt in statements.items()}
    for timer in cpu_timers.values():
        timer.timeit(args.calls // 4)  # warm-up
    cpu: dict[str, list[float]] = {name: [] for name in statements}
    wall_ns: dict[str, list[float]] = {name: [] for name in statements}
    for _ in range(args.rounds):
        for name in statements:
            cpu[name].append(cpu_timers[name].timeit(args.calls) / args.calls * 1e9)
            wall_ns[name].append(wall_timers[name].timeit(args.calls) / args.calls * 1e9)
    ns = {name: statistics.median(values) for name, values in cpu.items()}
    walls = {name: statistics.median(values) for name, values in wall_ns.items()}
    clock_alone = {
        "monotonic": statistics.median(
            timeit.Timer("m()", timer=time.thread_time, globals={"m": monotonic}).timeit(args.calls)
            / args.calls
            * 1e9
            for _ in range(args.rounds)
        ),
        "time": statistics.median(
            timeit.Timer("t()", timer=time.thread_time, globals={"t": wall}).timeit(args.calls)
            / args.calls
            * 1e9
            for _ in range(args.rounds)
        ),
    }
    print(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "calls": args.calls,
                "rounds": args.rounds,
                "load": [round(x, 2) for x in os.getloadavg()],
                "cpu_ns": {k: round(v, 1) for k, v in ns.items()},
                "wall_ns": {k: round(v, 1) for k, v in walls.items()},
                "clock_alone_cpu_ns": {k: round(v, 1) for k, v in clock_alone.items()},
                "hit_ns": ns["sdk"],
                "hit_session_ns": ns["sdk_session"],
                "floor_dict_clock_ns": ns["dict_clock"],
                "floor_dict_time_ns": ns["dict_time"],
                "floor_dict_ns": ns["dict"],
                "ratio_vs_dict_clock": round(ns["sdk"] / ns["dict_clock"], 3),
                "ratio_session_vs_dict_clock": round(ns["sdk_session"] / ns["dict_clock"], 3),
                "ratio_vs_dict_time": round(ns["sdk"] / ns["dict_time"], 3),
                "ratio_vs_dict": round(ns["sdk"] / ns["dict"], 3),
                "wall_ratio_vs_dict_clock": round(walls["sdk"] / walls["dict_clock"], 3),
            }
        )
    )
    in_session.close_session()
    gateway.stop()


if __name__ == "__main__":
    main()
