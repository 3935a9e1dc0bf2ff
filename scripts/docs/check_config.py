"""Every setting the code reads must be documented in docs/operators/configuration.md.

The settings are the `"NEXUS_*"` string literals in the sources of the vault, the broker, the
gateway and the CLI (outside unit tests and test support). A name that is read there but missing from the page fails the docs
build, so the configuration reference cannot silently fall behind the code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "operators" / "configuration.md"
SOURCE_DIRS = [
    ROOT / "broker" / "src",
    ROOT / "vault" / "src",
    ROOT / "gateway" / "src",
    ROOT / "cli" / "src",
]
# A setting is read through a string literal: `var("NEXUS_…")`, clap's `env = "NEXUS_…"`.
NAME = re.compile(r'"(NEXUS_[A-Z][A-Z0-9_]*[A-Z0-9])"')


def settings_in_code() -> set[str]:
    found: set[str] = set()
    for directory in SOURCE_DIRS:
        for source in sorted(directory.rglob("*.rs")):
            # Test support (the vault's `testing` feature) reads the test suite's settings.
            if source.name == "testing.rs":
                continue
            # Unit tests at the end of a file may use made-up names.
            text = source.read_text().split("#[cfg(test)]", 1)[0]
            found |= set(NAME.findall(text))
    return found


def undocumented() -> list[str]:
    page = PAGE.read_text() if PAGE.exists() else ""
    return sorted(name for name in settings_in_code() if f"`{name}`" not in page)


if __name__ == "__main__":
    missing = undocumented()
    for name in missing:
        print(f"undocumented setting: {name}", file=sys.stderr)
    sys.exit(1 if missing else 0)
