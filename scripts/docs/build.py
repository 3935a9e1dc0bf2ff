"""Build the documentation site and run its samples, against one throwaway stack.

1. start `nexus dev` and `nexus-testkit echo` (scripts/docs/stack.py);
2. write docs/reference/api.md from the running gateway's and broker's /openapi.json
   (scripts/docs/gen_api_reference.py);
3. check that every setting the code reads is in the configuration reference;
4. `mkdocs build --strict` into site/ (broken links and anchors fail it);
5. run every runnable code block (scripts/docs/samples.py), unless --no-samples.

    python scripts/docs/build.py [--no-samples] [--site-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_config
import gen_api_reference
import samples
from stack import ROOT, Stack, StackError

API_PAGE = ROOT / "docs" / "reference" / "api.md"


class BuildError(Exception):
    """A step of the build failed; the message says which."""


def write_api_reference(stack: Stack) -> None:
    documents = [stack.openapi("gateway"), stack.openapi("broker")]
    with tempfile.TemporaryDirectory() as tmp:
        arguments = []
        for server, openapi in zip(("gateway", "broker"), documents, strict=True):
            path = Path(tmp) / f"{server}.json"
            path.write_text(json.dumps(openapi))
            arguments += ["--openapi", str(path)]
        status = subprocess.run(
            [
                sys.executable,
                gen_api_reference.__file__,
                *arguments,
                "--out",
                str(API_PAGE),
            ],
            check=False,
        ).returncode
    if status != 0:
        raise BuildError("the API reference could not be generated")
    # Every operation either server documents must have its section in the page.
    page = API_PAGE.read_text()
    missing = []
    for openapi in documents:
        paths: dict[str, dict[str, object]] = openapi.get("paths", {})  # type: ignore[assignment]
        if not paths:
            missing.append("all")
        missing += [
            f"{method.upper()} {path}"
            for path, operations in paths.items()
            for method in operations
            if f"### `{method.upper()} {path}`" not in page
        ]
    if missing:
        raise BuildError(f"the API reference lacks operations: {missing}")


def mkdocs_build(site_dir: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--clean",
            "--site-dir",
            str(site_dir),
            "--config-file",
            str(ROOT / "mkdocs.yml"),
        ],
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise BuildError("mkdocs build --strict failed (see the warnings above)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-samples", action="store_true", help="build the site only")
    parser.add_argument("--site-dir", type=Path, default=ROOT / "site")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        missing = check_config.undocumented()
        if missing:
            raise BuildError(
                f"settings read by the code but missing from {check_config.PAGE}: "
                + ", ".join(missing)
            )
        with Stack() as stack:
            write_api_reference(stack)
            mkdocs_build(args.site_dir)
            print(f"docs: site built in {args.site_dir}", file=sys.stderr)
            if not args.no_samples:
                found = samples.collect(sorted((ROOT / "docs").rglob("*.md")))
                samples.run_samples(found, stack)
    except (BuildError, StackError, samples.SampleFailure, OSError) as err:
        print(f"docs: FAILED: {err}", file=sys.stderr)
        return 1
    print(f"docs: done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
