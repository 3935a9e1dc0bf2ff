"""Block in `wait_for_active` against the gateway at argv[1] (run by test_signals.py).

Prints nothing on stdout; exits 42 when the wait ended with KeyboardInterrupt.
"""

from __future__ import annotations

import sys

from nexus_sdk import NexusClient, NexusClientOptions

client = NexusClient(NexusClientOptions(gateway_url=sys.argv[1], api_key="k"))
try:
    client.wait_for_active("c1", timeout=120, interval=0.05)
except KeyboardInterrupt:
    sys.stderr.write("interrupted\n")
    sys.exit(42)
