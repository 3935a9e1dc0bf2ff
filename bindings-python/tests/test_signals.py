"""Ctrl-C interrupts a long native wait (the GIL is released, but signals are still handled)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from servers import FakeGateway, json_reply

POLL = "/v1/check-connection/c1"


def test_sigint_interrupts_wait_for_active(gateway: FakeGateway) -> None:
    gateway.routes[POLL] = lambda _req: json_reply(200, {"status": "pending"})
    script = Path(__file__).with_name("interrupt_script.py")
    process = subprocess.Popen(
        [sys.executable, str(script), gateway.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        # Polls arriving prove the child is inside the native wait.
        deadline = time.monotonic() + 30
        while gateway.server.count(POLL) < 2:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the child never polled"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)  # the 120 s wait must end long before
    finally:
        process.kill()
    assert process.returncode == 42, stderr.decode()
    assert stderr == b"interrupted\n"
    assert stdout == b""
