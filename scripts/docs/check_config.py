"""Every setting the code reads must be documented in docs/operators/configuration.md.

The settings are the `NEXUS_*` names in the configuration code of the broker, the gateway and
the CLI. A name that is read there but missing from the page fails the docs build, so the
configuration reference cannot silently fall behind the code.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "operators" / "configuration.md"
SOURCES = [
    ROOT / "broker" / "src" / "config.rs",
    ROOT / "gateway" / "src" / "config.rs",
    *sorted((ROOT / "cli" / "src").glob("*.rs")),
]
NAME = re.compile(r"\bNEXUS_[A-Z][A-Z0-9_]*[A-Z0-9]\b")
# Names in the sources that are not settings: a prefix in a comment, and test-only variables.
NOT_SETTINGS = {"NEXUS_NAME", "NEXUS_GATEWAY", "NEXUS_TEST_UNSET_ADDR"}


def settings_in_code() -> set[str]:
    found: set[str] = set()
    for source in SOURCES:
        # Unit tests at the end of a file may use made-up names.
        text = source.read_text().split("#[cfg(test)]", 1)[0]
        found |= set(NAME.findall(text))
    return found - NOT_SETTINGS


def undocumented() -> list[str]:
    page = PAGE.read_text() if PAGE.exists() else ""
    return sorted(name for name in settings_in_code() if f"`{name}`" not in page)


if __name__ == "__main__":
    missing = undocumented()
    for name in missing:
        print(f"undocumented setting: {name}", file=sys.stderr)
    sys.exit(1 if missing else 0)
