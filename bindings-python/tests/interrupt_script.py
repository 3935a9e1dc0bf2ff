"""Block in `wait_for_active` against the gateway at argv[1] (run by test_signals.py).

Prints nothing on stdout; exits 42 when the wait ended with KeyboardInterrupt.
"""

from __future__ import annotations

import signal
import sys

from nexus_sdk import NexusClient, NexusClientOptions

# Python installs its KeyboardInterrupt handler only when SIGINT is not ignored at start-up, and a
# job started in the background by a non-interactive shell (`cmd &`, as CI runners do) inherits
# SIGINT ignored: the child then never saw the signal and the test hung. Ctrl-C in a terminal
# is what this checks, so install the handler Python would have installed there.
signal.signal(signal.SIGINT, signal.default_int_handler)

client = NexusClient(NexusClientOptions(gateway_url=sys.argv[1], api_key="k"))
try:
    client.wait_for_active("c1", timeout=120, interval=0.05)
except KeyboardInterrupt:
    sys.stderr.write("interrupted\n")
    sys.exit(42)
