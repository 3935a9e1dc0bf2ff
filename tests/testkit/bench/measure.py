"""Measure the nexus-testkit binary.

Two figures: spawn-to-announcement time (what every Python/Node/Go test that spawns the binary
pays) and the token endpoint round trip of a refresh grant.

    python3 tests/testkit/bench/measure.py [path/to/nexus-testkit]
"""

import base64
import http.client
import json
import statistics
import subprocess
import sys
import time
import urllib.parse

STARTS = 20
REFRESHES = 1000


def spawn(binary: str, kind: str) -> tuple[subprocess.Popen, dict]:
    """Start one server and read its announcement line."""
    child = subprocess.Popen(
        [binary, kind], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    return child, json.loads(child.stdout.readline())


def stop(child: subprocess.Popen) -> None:
    """Closing stdin is the binary's stop signal."""
    assert child.stdin is not None
    child.stdin.close()
    child.wait()


def measure_startup(binary: str) -> None:
    millis = []
    for _ in range(STARTS):
        started = time.perf_counter()
        child, _ = spawn(binary, "echo")
        millis.append((time.perf_counter() - started) * 1000)
        stop(child)
    millis.sort()
    p90 = millis[int(len(millis) * 0.9) - 1]
    print(
        f"startup ms: median {statistics.median(millis):.1f}  p90 {p90:.1f}  max {millis[-1]:.1f}"
    )


def measure_refresh(binary: str) -> None:
    child, info = spawn(binary, "oauth")
    connection = http.client.HTTPConnection(urllib.parse.urlparse(info["url"]).netloc)

    def call(path: str, body: str, headers: dict[str, str]) -> tuple[int, bytes]:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()

    _, issued = call(
        "/_control/issue",
        json.dumps({"scopes": ["read"]}),
        {"content-type": "application/json"},
    )
    refresh_token = json.loads(issued)["refresh_token"]
    credentials = f"{info['client_id']}:{info['client_secret']}".encode()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "authorization": "Basic " + base64.b64encode(credentials).decode(),
    }
    micros = []
    for _ in range(REFRESHES):
        form = urllib.parse.urlencode(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        started = time.perf_counter()
        status, body = call("/token", form, headers)
        micros.append((time.perf_counter() - started) * 1e6)
        assert status == 200, body
        refresh_token = json.loads(body)["refresh_token"]
    micros.sort()
    median, p99 = micros[len(micros) // 2], micros[int(len(micros) * 0.99)]
    print(
        f"refresh round trip us (keep-alive, http.client): median {median:.0f}  p99 {p99:.0f}"
    )
    stop(child)


def main() -> None:
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/nexus-testkit"
    measure_startup(binary)
    measure_refresh(binary)


if __name__ == "__main__":
    main()
