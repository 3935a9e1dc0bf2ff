"""A throwaway Nexus stack for the documentation: `nexus dev` plus `nexus-testkit echo`.

The docs build reads the API reference from the running gateway's and broker's `/openapi.json`,
and the
sample runner executes every runnable code block against this stack. Both use `Stack` as a
context manager, so the processes are stopped on every exit path.

Binaries: `NEXUS_BIN` and `NEXUS_TESTKIT_BIN`, else `$CARGO_TARGET_DIR/debug/...` (default
`target/`). A missing binary is an error that says how to build it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parents[2]
START_DEADLINE_SECONDS = 120.0

# What every sample may rely on, seeded once per stack: the README's `example` provider (a
# static API key sent as `X-API-Key`) with one imported key.
EXAMPLE_PROVIDER = "example"
EXAMPLE_API_KEY = "sk_docs_example_0123456789"


class StackError(RuntimeError):
    """The stack could not be started or seeded (the message says what to do)."""


def binary(env_name: str, file_name: str, crate: str) -> Path:
    explicit = os.environ.get(env_name)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    path = Path(explicit) if explicit else target / "debug" / file_name
    if not path.is_file():
        raise StackError(
            f"{path} is missing: run `cargo build -p {crate}` (or set {env_name})"
        )
    return path


class Stack:
    """`nexus dev` on free loopback ports and an echo upstream; `env` is what clients need."""

    def __init__(self) -> None:
        self.nexus = binary("NEXUS_BIN", "nexus", "nexus-cli")
        self.testkit = binary("NEXUS_TESTKIT_BIN", "nexus-testkit", "nexus-testkit")
        self.work = Path(tempfile.mkdtemp(prefix="nexus-docs-"))
        self.home = self.work / "home"
        self.log_path = self.work / "stack.log"
        self.env: dict[str, str] = {}
        self._dev: subprocess.Popen[bytes] | None = None
        self._echo: subprocess.Popen[bytes] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        try:
            self._start_dev()
            self._start_echo()
            self._seed()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for proc in (self._echo, self._dev):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(self.work, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(
                self.log_path.read_text(errors="replace").splitlines()[-lines:]
            )
        except OSError:
            return "(no stack log)"

    # -- start-up ------------------------------------------------------------------------------

    def _start_dev(self) -> None:
        log = self.log_path.open("wb")
        self._dev = subprocess.Popen(
            [
                str(self.nexus),
                "dev",
                "--home",
                str(self.home),
                "--gateway-addr",
                "127.0.0.1:0",
                "--broker-addr",
                "127.0.0.1:0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=self.work,
        )
        dev_env = self.home / "dev.env"
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        # dev.env is written atomically once both listeners serve: poll for it with a deadline.
        while not dev_env.exists():
            if self._dev.poll() is not None:
                raise StackError(f"nexus dev exited early:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise StackError(
                    f"no dev.env after {START_DEADLINE_SECONDS} s:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        for line in dev_env.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.startswith("#"):
                self.env[name.strip()] = value.strip().strip("'\"")
        self.env["NEXUS_HOME"] = str(self.home)

    def _start_echo(self) -> None:
        # The testkit serves until its stdin closes: keep the pipe open for the stack's life.
        self._echo = subprocess.Popen(
            [str(self.testkit), "echo", "--addr", "127.0.0.1:0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self._echo.stdout is not None
        line = self._echo.stdout.readline()
        try:
            self.env["ECHO_URL"] = json.loads(line)["url"]
        except (ValueError, KeyError) as err:
            raise StackError(
                f"nexus-testkit echo did not announce its URL: {line!r}"
            ) from err

    def _seed(self) -> None:
        self.run_cli(["providers", "apply", str(ROOT / "examples" / "providers.yaml")])
        self.run_cli(
            [
                "connections",
                "import",
                "--workspace",
                self.env["NEXUS_WORKSPACE_ID"],
                "--provider",
                EXAMPLE_PROVIDER,
                "--kind",
                "api_key",
            ],
            stdin=EXAMPLE_API_KEY,
        )

    # -- helpers -------------------------------------------------------------------------------

    def client_env(self) -> dict[str, str]:
        """The process environment plus the stack's settings, `nexus` first on PATH."""
        env = dict(os.environ)
        env.update(self.env)
        # Samples that use files of the checkout (the MCP examples) find it here.
        env["NEXUS_REPO"] = str(ROOT)
        env["PATH"] = f"{self.nexus.parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    def run_cli(self, args: list[str], stdin: str | None = None) -> str:
        result = subprocess.run(
            [str(self.nexus), *args],
            input=(stdin or "").encode(),
            capture_output=True,
            env=self.client_env(),
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"nexus {' '.join(args)} failed ({result.returncode}): "
                f"{result.stderr.decode(errors='replace')}"
            )
        return result.stdout.decode()

    def openapi(self, server: str = "gateway") -> dict[str, object]:
        """The OpenAPI document of `server` (`gateway`: the public API; `broker`: admin)."""
        base = self.env[f"NEXUS_{server.upper()}_URL"].rstrip("/")
        with urllib.request.urlopen(base + "/openapi.json", timeout=30) as response:
            document: dict[str, object] = json.load(response)
        return document
