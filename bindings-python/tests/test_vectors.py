"""The shared conformance vectors (tests/vectors/*.json) through the native strategy engine.

Every case runs the core's own code: the resolve body is parsed as the client parses a gateway
answer, its expiry computed as the cache computes it, and its strategy applied at the case's
``now``. Error cases go through the same error mapping as a live gateway answer.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

import nexus_sdk
from nexus_sdk import _native

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors"
DEFAULT_NOW = "2026-11-24T12:00:00Z"


def load_cases() -> list[Any]:
    cases = []
    for path in sorted(VECTORS.glob("*.json")):
        for case in json.loads(path.read_text())["cases"]:
            cases.append(pytest.param(case, id=f"{path.stem}:{case['name']}"))
    return cases


CASES = load_cases()


def test_the_vectors_are_there() -> None:
    assert len(CASES) >= 50, f"expected the shared vectors in {VECTORS}"


def request_body(request: dict[str, Any]) -> bytes | None:
    if "body_base64" in request:
        return base64.b64decode(request["body_base64"])
    if "body" in request:
        return str(request["body"]).encode()
    return None


def raise_for_case(case: dict[str, Any]) -> tuple[str, list[tuple[str, str]], int]:
    if "resolve_error" in case:
        error = case["resolve_error"]
        body = error["body"]
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        raise _native.gateway_error(error["status"], raw, error.get("headers"))
    request = case.get("request") or {"method": "GET", "url": "https://api.example.com/"}
    url, headers, ttl, _token = _native.apply_resolve_body(
        json.dumps(case["resolve"]).encode(),
        case.get("now", DEFAULT_NOW),
        request["method"],
        request["url"],
        request.get("headers") or {},
        request_body(request),
    )
    return url, headers, ttl


@pytest.mark.parametrize("case", CASES)
def test_vector(case: dict[str, Any]) -> None:
    if "expect_error" in case:
        with pytest.raises(nexus_sdk.NexusError) as info:
            raise_for_case(case)
        assert info.value.code == case["expect_error"]
        fields = case.get("expect_error_fields", {})
        if "status" in fields:
            assert info.value.status_code == fields["status"]
        for name in ("request_id", "reauth_url", "retry_after"):
            if name in fields:
                assert getattr(info.value, name) == fields[name]
        return

    url, headers, ttl = raise_for_case(case)
    expect = case["expect"]
    if "headers" in expect:
        got = {name.lower(): value for name, value in headers}
        want = {name.lower(): value for name, value in expect["headers"].items()}
        assert got == want
    if "url" in expect:
        assert url == expect["url"]
    if "ttl_seconds" in expect:
        assert ttl == expect["ttl_seconds"]
