"""Extract the runnable code blocks of the documentation and run them against a live stack.

A block is runnable when its fence says so after the language::

    ```python runnable
    ```sh runnable
    ```ts runnable
    ```go runnable
    ```rust runnable      (compile-checked only; see docs/sdk/rust.md)

Every other block is illustration and is not run. Blocks run in page order (pages sorted by
path), all against one stack, so a page may set something up in one block and use it in the
next. Each block gets the stack's settings in its environment (`NEXUS_GATEWAY_URL`,
`NEXUS_BROKER_URL`, `NEXUS_API_KEY`, `NEXUS_WORKSPACE_ID`, `NEXUS_ADMIN_TOKEN`, `NEXUS_HOME`,
`ECHO_URL`) and must exit 0; anything else fails the run, naming the page and line.

- `sh`: `bash -e -o pipefail`, working directory the repository root, `nexus` on PATH.
- `python`: the repository's `.venv` interpreter, with the `nexus_sdk` built by suite 20.
- `ts`: compiled together with `tsc --strict` (ES modules, top-level await allowed) against the
  `@dromos/nexus-sdk` package built by suite 30, then each run with `node`.
- `go`: one temporary module with a `replace` to `sdk-go/`; each block is a `main` package.
- `rust`: one temporary crate depending on `core/` (`nexus-sdk`); each block is a binary,
  checked with `cargo check --offline` (not run: see the Rust page).

Usage: `python scripts/docs/samples.py [PAGE.md ...]` (default: every page under docs/).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import ROOT, Stack, StackError

DOCS = ROOT / "docs"
SAMPLE_TIMEOUT_SECONDS = 120
LANGUAGES = {
    "sh": "sh",
    "bash": "sh",
    "python": "python",
    "ts": "ts",
    "typescript": "ts",
}
LANGUAGES |= {"go": "go", "rust": "rust"}
FENCE_OPEN = re.compile(
    r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]+)\s+runnable\s*$"
)


@dataclass
class Sample:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str  # one of the values of LANGUAGES
    code: str
    name: str = ""  # a file-name-safe id, set by number_samples

    @property
    def where(self) -> str:
        page = (
            self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        )
        return f"{page}:{self.line}"


class SampleFailure(Exception):
    """A sample exited non-zero, timed out, or did not compile."""


# -- extraction --------------------------------------------------------------------------------


def extract(page: Path) -> list[Sample]:
    """The runnable blocks of one page, in order. An unclosed runnable fence is an error."""
    samples: list[Sample] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        match = FENCE_OPEN.match(lines[i])
        if not match:
            i += 1
            continue
        lang = match["lang"].lower()
        if lang not in LANGUAGES:
            raise SampleFailure(
                f"{page}:{i + 1}: `{lang} runnable`: no runner for this language"
            )
        fence, indent = match["fence"], len(match["indent"])
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][indent:] if lines[j][:indent].isspace() else lines[j])
            j += 1
        if j == len(lines):
            raise SampleFailure(f"{page}:{i + 1}: runnable block is never closed")
        samples.append(Sample(page, i + 1, LANGUAGES[lang], "\n".join(body) + "\n"))
        i = j + 1
    return samples


def number_samples(samples: list[Sample]) -> None:
    for n, sample in enumerate(samples, start=1):
        stem = re.sub(r"[^a-z0-9]+", "_", sample.page.stem.lower())
        sample.name = f"s{n:03d}_{stem}"


# -- preparation (compiled languages are built once, up front) ---------------------------------


def check_python() -> Path:
    python = ROOT / ".venv" / "bin" / "python"
    probe = subprocess.run(
        [str(python), "-c", "import nexus_sdk, httpx, mcp"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        raise SampleFailure(
            "the Python SDK is not built in .venv (run scripts/test.d/20-python.sh first): "
            + probe.stderr.decode(errors="replace").strip().splitlines()[-1:][0]
        )
    return python


def prepare_ts(samples: list[Sample], work: Path) -> None:
    package = ROOT / "bindings-node"
    built = package / "dist" / "index.mjs"
    if not built.is_file() or not list((package / "native").glob("*.node")):
        raise SampleFailure(
            "the Node SDK is not built (run scripts/test.d/30-node.sh first): "
            f"{built} or bindings-node/native/*.node is missing"
        )
    project = work / "ts"
    modules = project / "node_modules"
    (modules / "@dromos").mkdir(parents=True)
    # The SDK as an installed package, plus the SDK's own dev dependencies (@types/node, the
    # MCP SDK, zod) so samples can import them.
    (modules / "@dromos" / "nexus-sdk").symlink_to(package)
    for entry in (package / "node_modules").iterdir():
        if not entry.name.startswith(".") and not (modules / entry.name).exists():
            (modules / entry.name).symlink_to(entry)
    (project / "package.json").write_text('{"type": "module", "private": true}\n')
    (project / "tsconfig.json").write_text(
        """{
  "compilerOptions": {
    "target": "ES2022", "lib": ["ES2022", "DOM"],
    "module": "nodenext", "moduleResolution": "nodenext",
    "strict": true, "noUncheckedIndexedAccess": true, "skipLibCheck": true,
    "types": ["node"], "outDir": "out"
  },
  "include": ["*.mts"]
}
"""
    )
    for sample in samples:
        (project / f"{sample.name}.mts").write_text(sample.code)
    tsc = package / "node_modules" / ".bin" / "tsc"
    result = subprocess.run(
        [str(tsc), "-p", str(project)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SampleFailure(
            "TypeScript samples do not compile:\n"
            + locate(result.stdout, samples, ".mts")
        )


def prepare_go(samples: list[Sample], work: Path) -> None:
    module = work / "go"
    module.mkdir()
    (module / "go.mod").write_text(
        "module nexus.docs/samples\n\ngo 1.22\n\n"
        "require github.com/dromos/nexus/sdk-go v0.0.0\n\n"
        f"replace github.com/dromos/nexus/sdk-go => {ROOT / 'sdk-go'}\n"
    )
    for sample in samples:
        (module / sample.name).mkdir()
        (module / sample.name / "main.go").write_text(sample.code)
    (module / "bin").mkdir()
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod")
    result = subprocess.run(
        ["go", "build", "-o", str(module / "bin") + "/", "./..."],
        cwd=module,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise SampleFailure(
            "Go samples do not build:\n" + locate(result.stderr, samples, "/")
        )


def check_rust(samples: list[Sample]) -> None:
    """`cargo check` every Rust sample as a binary of one crate that depends on `core/`."""
    # A fixed place under the target dir, so a second run is incremental (the dependencies are
    # built once per feature set; a temporary directory would rebuild the crate every time).
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    crate = target / "nexus-docs-samples"
    shutil.rmtree(crate / "src", ignore_errors=True)
    (crate / "src" / "bin").mkdir(parents=True)
    bins = "".join(
        f'[[bin]]\nname = "{s.name}"\npath = "src/bin/{s.name}.rs"\n\n' for s in samples
    )
    (crate / "Cargo.toml").write_text(
        f"""[package]
name = "nexus-docs-samples"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
nexus-sdk = {{ path = "{ROOT / "core"}" }}
tokio = {{ version = "1", features = ["full"] }}
reqwest = {{ version = "0.13", default-features = false }}

{bins}"""
    )
    # The repository's lock file pins the same versions the workspace builds (and has cached).
    shutil.copy(ROOT / "Cargo.lock", crate / "Cargo.lock")
    for sample in samples:
        (crate / "src" / "bin" / f"{sample.name}.rs").write_text(sample.code)
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    result = subprocess.run(
        ["cargo", "check", "--offline", "--quiet", "--bins"],
        cwd=crate,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise SampleFailure(
            "Rust samples do not compile:\n" + locate(result.stderr, samples, ".rs")
        )


def locate(output: str, samples: list[Sample], suffix: str) -> str:
    """Compiler output with each temporary file name followed by the page line it came from."""
    for sample in samples:
        output = output.replace(
            f"{sample.name}{suffix}", f"{sample.name}{suffix} [{sample.where}]"
        )
    return output


# -- running -----------------------------------------------------------------------------------


def command_for(
    sample: Sample, work: Path, python: Path | None
) -> tuple[list[str], Path]:
    if sample.lang == "sh":
        script = work / f"{sample.name}.sh"
        script.write_text(sample.code)
        return ["bash", "-e", "-o", "pipefail", str(script)], ROOT
    if sample.lang == "python":
        script = work / f"{sample.name}.py"
        script.write_text(sample.code)
        assert python is not None
        return [str(python), str(script)], work
    if sample.lang == "ts":
        return ["node", str(work / "ts" / "out" / f"{sample.name}.mjs")], work / "ts"
    if sample.lang == "go":
        return [str(work / "go" / "bin" / sample.name)], work
    raise AssertionError(sample.lang)


def run_one(sample: Sample, stack: Stack, work: Path, python: Path | None) -> float:
    argv, cwd = command_for(sample, work, python)
    env = stack.client_env()
    env["TMPDIR"] = str(work)
    started = time.monotonic()
    try:
        result = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=SAMPLE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise SampleFailure(
            f"{sample.where}: timed out after {SAMPLE_TIMEOUT_SECONDS} s"
        ) from err
    if result.returncode != 0:
        raise SampleFailure(
            f"{sample.where}: {sample.lang} sample exited {result.returncode}\n"
            f"--- code ---\n{sample.code}--- stdout ---\n{result.stdout}"
            f"--- stderr ---\n{result.stderr}--- stack log (tail) ---\n{stack.log_tail()}"
        )
    return time.monotonic() - started


def collect(pages: list[Path]) -> list[Sample]:
    samples = [s for page in sorted(pages) for s in extract(page)]
    number_samples(samples)
    return samples


def run_samples(samples: list[Sample], stack: Stack) -> None:
    """Build the compiled samples, then run every sample in order; raise on the first failure."""
    by_lang: dict[str, list[Sample]] = {}
    for sample in samples:
        by_lang.setdefault(sample.lang, []).append(sample)
    work = Path(tempfile.mkdtemp(prefix="nexus-docs-samples-"))
    try:
        python = check_python() if "python" in by_lang else None
        if "ts" in by_lang:
            prepare_ts(by_lang["ts"], work)
        if "go" in by_lang:
            prepare_go(by_lang["go"], work)
        if "rust" in by_lang:
            started = time.monotonic()
            check_rust(by_lang["rust"])
            print(
                f"rust: {len(by_lang['rust'])} samples compile "
                f"({time.monotonic() - started:.1f} s)",
                file=sys.stderr,
            )
        for sample in samples:
            if sample.lang == "rust":
                continue
            seconds = run_one(sample, stack, work, python)
            print(
                f"ok  {sample.where} ({sample.lang}, {seconds:.1f} s)", file=sys.stderr
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_lang.items()))
    print(f"samples: all {len(samples)} passed ({counts})", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "pages", nargs="*", type=Path, help="Markdown pages (default: docs/)"
    )
    args = parser.parse_args()
    pages = [p.resolve() for p in args.pages] or sorted(DOCS.rglob("*.md"))
    try:
        samples = collect(pages)
        if not samples:
            print("samples: no runnable block found", file=sys.stderr)
            return 1
        with Stack() as stack:
            run_samples(samples, stack)
    except (SampleFailure, StackError) as err:
        print(f"samples: FAILED: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
