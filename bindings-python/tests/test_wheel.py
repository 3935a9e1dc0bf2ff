"""The distribution: `maturin build` makes one abi3 wheel that installs alone into a fresh venv."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]

SMOKE = """
import sys
import nexus_sdk
from nexus_sdk import NexusClient, NexusClientOptions, TokenCache, TransportError

assert nexus_sdk.__file__.startswith(sys.prefix), nexus_sdk.__file__
cache = TokenCache(buffer_seconds=10)
assert cache.buffer_seconds == 10 and len(cache) == 0
client = NexusClient(NexusClientOptions(gateway_url="http://127.0.0.1:9", api_key="k", timeout=2))
try:
    client.get_cached_token(cache, "ws", "github")
except TransportError as err:
    assert err.code == "connection_error"
else:
    raise AssertionError("expected a TransportError")
sys.stderr.write("wheel ok\\n")
"""


def test_one_abi3_wheel_installs_alone(tmp_path: Path) -> None:
    # maturin is a dev requirement (scripts/requirements-dev.txt), next to this interpreter.
    maturin = shutil.which("maturin", path=str(Path(sys.executable).parent)) or shutil.which(
        "maturin"
    )
    assert maturin, "maturin is not installed"
    dist = tmp_path / "dist"
    subprocess.run(
        [maturin, "build", "--quiet", "--out", str(dist), "--interpreter", sys.executable],
        cwd=PACKAGE,
        check=True,
        capture_output=True,
    )
    wheels = list(dist.glob("*.whl"))
    assert len(wheels) == 1, wheels
    assert "-abi3-" in wheels[0].name and wheels[0].name.startswith("nexus_sdk-")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", str(wheels[0])],
        check=True,
        capture_output=True,
    )
    installed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    # Zero runtime dependencies: nothing but the SDK (and the venv's own pip/setuptools).
    assert {line.split("==")[0].lower() for line in installed} - {"pip", "setuptools"} == {
        "nexus-sdk"
    }
    done = subprocess.run(
        [str(python), "-c", SMOKE], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "wheel ok" in done.stderr
