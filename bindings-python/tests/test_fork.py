"""Fork safety: a process that imports the SDK and uses it before forking (gunicorn, celery
prefork, ``multiprocessing`` with fork) hands its children a working SDK: each child builds its
own runtime and connection pool on first use, and reuses the cached tokens."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nexus_sdk import NexusClient, NexusClientOptions, TokenCache

from servers import FakeGateway, LoopbackServer, json_reply

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

# Set by the test before the pool forks; the children inherit them.
CLIENT: NexusClient | None = None
CACHE: TokenCache | None = None
UPSTREAM_URL = ""


def fetch_in_child(n: int) -> tuple[int, int, str]:
    assert CLIENT is not None and CACHE is not None
    status, _, body = CLIENT.authenticated_fetch(CACHE, "ws", "github", f"{UPSTREAM_URL}/{n}")
    return os.getpid(), status, body.decode()


def test_os_fork_child_and_parent_both_work_and_exit_cleanly() -> None:
    script = Path(__file__).with_name("fork_script.py")
    for _ in range(5):
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, timeout=60, check=False
        )
        assert (done.returncode, done.stdout) == (0, b""), done.stderr[:4000]


def test_multiprocessing_fork_pool_after_a_call_in_the_parent() -> None:
    global CLIENT, CACHE, UPSTREAM_URL
    gateway = FakeGateway()
    upstream = LoopbackServer(
        lambda req: json_reply(200, {"auth": req.headers.get("authorization")})
    ).start()
    try:
        CLIENT = NexusClient(NexusClientOptions(gateway_url=gateway.url, api_key="k"))
        CACHE = TokenCache()
        UPSTREAM_URL = upstream.url
        assert fetch_in_child(0)[1] == 200  # the parent's runtime and pool are in use
        with multiprocessing.get_context("fork").Pool(2) as pool:
            results = pool.map_async(fetch_in_child, range(1, 9)).get(timeout=60)
            pool.close()
            pool.join()
        assert [status for _, status, _ in results] == [200] * 8
        assert all('"Bearer tok-1"' in body for _, _, body in results)
        assert {pid for pid, _, _ in results} - {os.getpid()}, "ran in the children"
        assert gateway.resolves == 1, "the children reuse the token the parent cached"
        assert fetch_in_child(9)[1] == 200, "the parent still works"
    finally:
        CLIENT = CACHE = None
        gateway.stop()
        upstream.stop()
