"""Run a command, pass its stdin/stdout through, and keep an exact copy of its stdout.

    python stdout_tee.py CAPTURE_FILE -- COMMAND [ARGS...]

Used by the MCP test to see every byte an MCP server wrote to stdout (the JSON-RPC channel),
independently of how the MCP client parses it. stderr passes straight through.
"""

from __future__ import annotations

import subprocess
import sys


def main() -> int:
    capture_path, separator, *command = sys.argv[1:]
    assert separator == "--" and command, __doc__
    child = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert child.stdout is not None
    out = sys.stdout.buffer
    with open(capture_path, "wb") as capture:
        while chunk := child.stdout.read1(65536):
            capture.write(chunk)
            capture.flush()
            out.write(chunk)
            out.flush()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
