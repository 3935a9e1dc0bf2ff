"""Use the SDK, fork, use it in the child and the parent, then let both interpreters exit
normally (run by test_fork.py).

The child exits 0 only if its calls returned the right answers; the parent exits 0 only if the
child did and its own calls still work. A child that inherits a dead runtime hangs (the test's
timeout catches it) and one that crashes at exit shows as a signal.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from nexus_sdk import NexusClient, NexusClientOptions, TokenCache

from servers import FakeGateway, LoopbackServer, json_reply


def fetch_ok(client: NexusClient, cache: TokenCache, url: str) -> bool:
    status, _, body = client.authenticated_fetch(cache, "ws", "github", url)
    return status == 200 and b"tok-1" in body


gateway = FakeGateway()
upstream = LoopbackServer(
    lambda req: json_reply(200, {"auth": req.headers.get("authorization")})
).start()
client = NexusClient(NexusClientOptions(gateway_url=gateway.url, api_key="k"))
cache = TokenCache()
assert fetch_ok(client, cache, upstream.url)  # the runtime and the pool are in use

pid = os.fork()
if pid == 0:
    # A child that hangs (a dead runtime) must not outlive the test: SIGALRM ends it.
    signal.alarm(30)
    # The child: the cached token is reused (no second resolve), the runtime and the
    # connection pool are the child's own; a client built in the child works too.
    fresh = NexusClient(NexusClientOptions(gateway_url=gateway.url, api_key="k"))
    ok = fetch_ok(client, cache, upstream.url) and fetch_ok(fresh, cache, upstream.url)
    ok = ok and client.resolve_token("ws", "github").access_token == "tok-2"
    sys.exit(0 if ok else 3)

_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, f"child: {status}"
assert fetch_ok(client, cache, upstream.url)
assert gateway.resolves == 2, gateway.resolves  # the first fetch, and the child's resolve_token
