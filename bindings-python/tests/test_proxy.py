"""Proxy mode's client-side rules through the core: ``proxy_cases`` of tests/vectors/proxy.json
(how the proxy URL is built, and how the gateway's answers are told from the upstream's), run by
every SDK. The real-stack test is ``test_stack.py::test_proxy_mode_*``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nexus_sdk import NexusError, _native

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors" / "proxy.json"
CASES = json.loads(VECTORS.read_text())["proxy_cases"]


def test_the_proxy_cases_are_there() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_proxy_vector(case: dict[str, Any]) -> None:
    if "url" in case:
        u = case["url"]
        try:
            got = _native.proxy_url(u["gateway"], u["workspace_id"], u["provider"], u["path"])
        except NexusError as e:
            got = f"error:{e.code}"
        want = f"error:{case['expect_error']}" if "expect_error" in case else case["expect_url"]
    else:
        a = case["answer"]
        try:
            _native.proxy_check_answer(a["status"], list(a["headers"].items()), a["body"].encode())
            got = "upstream"
        except NexusError as e:
            got = f"gateway:{e.code}"
        want = (
            "upstream" if case["expect_source"] == "upstream" else f"gateway:{case['expect_error']}"
        )
    assert got == want
