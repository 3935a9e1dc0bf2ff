"""Runs ``tests/vectors/client_behaviour.json`` (format: ``tests/vectors/README.md``) through every
Python entry point that sends upstream requests: ``authenticated_fetch`` (sync and async), the
``httpx`` adapter (sync and async) and the ``requests`` adapter, each against a scripted gateway
and a scripted upstream on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from nexus_sdk import NexusClient, NexusError, TokenCache, _native
from nexus_sdk.httpx import NexusAuth as HttpxAuth
from nexus_sdk.requests import NexusAuth as RequestsAuth

from conftest import make_client
from servers import LoopbackServer, Recorded, Reply, json_reply

VECTORS = json.loads(
    (Path(__file__).parents[2] / "tests" / "vectors" / "client_behaviour.json").read_text()
)
WORKSPACE, PROVIDER = "ws_vec", "github"
API_KEY = "test-api-key"  # what conftest.make_client sends


def scripted(items: list[Reply]) -> Callable[[], Reply]:
    """Answers in order; a request beyond the script gets 500 (and fails the case)."""
    lock, queue = threading.Lock(), list(items)

    def next_reply() -> Reply:
        with lock:
            if queue:
                return queue.pop(0)
        return 500, {"Content-Type": "text/plain"}, b"more requests than the vector scripts"

    return next_reply


def resolve_reply(item: dict[str, Any]) -> Reply:
    error = item.get("resolve_error")
    return json_reply(error["status"], error["body"]) if error else json_reply(200, item)


def gateway_for(case: dict[str, Any]) -> LoopbackServer:
    resolves = scripted([resolve_reply(item) for item in case["resolves"]])

    def handle(request: Recorded) -> Reply:
        if request.method == "GET" and request.path == "/v1/resolve":
            return resolves()
        if request.method == "POST" and request.path == "/v1/sessions":
            return json_reply(201, case["session"])
        if request.method == "DELETE" and request.path.startswith("/v1/sessions/"):
            return 204, {}, b""
        return json_reply(404, {"error": "not_found", "message": "not scripted"})

    return LoopbackServer(handle).start()


def upstream_for(case: dict[str, Any]) -> LoopbackServer:
    answers = scripted(
        [
            (a["status"], {"Content-Type": "text/plain"}, a.get("body", "").encode())
            for a in case["upstream"]
        ]
    )
    return LoopbackServer(lambda _request: answers()).start()


Fetch = Callable[[NexusClient, TokenCache, str], tuple[int, str]]


def via_authenticated_fetch(client: NexusClient, cache: TokenCache, url: str) -> tuple[int, str]:
    status, _headers, body = client.authenticated_fetch(cache, WORKSPACE, PROVIDER, url)
    return status, body.decode()


def via_authenticated_fetch_async(
    client: NexusClient, cache: TokenCache, url: str
) -> tuple[int, str]:
    status, _headers, body = asyncio.run(
        client.authenticated_fetch_async(cache, WORKSPACE, PROVIDER, url)
    )
    return status, body.decode()


def via_httpx(client: NexusClient, cache: TokenCache, url: str) -> tuple[int, str]:
    with httpx.Client(auth=HttpxAuth(client, cache, WORKSPACE, PROVIDER)) as http:
        response = http.get(url)
        return response.status_code, response.text


def via_httpx_async(client: NexusClient, cache: TokenCache, url: str) -> tuple[int, str]:
    async def main() -> tuple[int, str]:
        async with httpx.AsyncClient(auth=HttpxAuth(client, cache, WORKSPACE, PROVIDER)) as http:
            response = await http.get(url)
            return response.status_code, response.text

    return asyncio.run(main())


def via_requests(client: NexusClient, cache: TokenCache, url: str) -> tuple[int, str]:
    with requests.Session() as session:
        response = session.get(url, auth=RequestsAuth(client, cache, WORKSPACE, PROVIDER))
        return response.status_code, response.text


ENTRY_POINTS: dict[str, Fetch] = {
    "authenticated_fetch": via_authenticated_fetch,
    "authenticated_fetch_async": via_authenticated_fetch_async,
    "httpx_sync": via_httpx,
    "httpx_async": via_httpx_async,
    "requests": via_requests,
}


def class_of(code: str) -> str:
    for row in VECTORS["error_classes"]:
        if row["code"] == code:
            return str(row["class"])
    return str(VECTORS["fallback_class"]["api"])


def outcome(fetch: Fetch, client: NexusClient, cache: TokenCache, url: str) -> dict[str, Any]:
    try:
        status, body = fetch(client, cache, url)
    except NexusError as error:
        return {"error": error.code, "class": type(error).__name__}
    return {"status": status, "body": body}


@pytest.fixture(params=sorted(ENTRY_POINTS))
def entry_point(request: pytest.FixtureRequest) -> Iterator[Fetch]:
    yield ENTRY_POINTS[request.param]


@pytest.mark.parametrize("case", VECTORS["behaviour_cases"], ids=lambda c: c["name"])
def test_client_behaviour_vector(case: dict[str, Any], entry_point: Fetch) -> None:
    gateway, upstream = gateway_for(case), upstream_for(case)
    try:
        client, cache = make_client(gateway.url), TokenCache()
        url = f"{upstream.url}/resource"
        results = []
        for step in case["steps"]:
            if step == "fetch":
                results.append(outcome(entry_point, client, cache, url))
            elif step == "invalidate":
                client.invalidate(cache, WORKSPACE, PROVIDER)
            elif step == "start_session":
                client.start_session()
            elif step == "end_session":
                client.close_session()
            else:
                raise AssertionError(f"unknown step {step}")
        session_token = (case.get("session") or {}).get("session_token")
        principals = {f"Bearer {API_KEY}": "api_key", f"Bearer {session_token}": "session"}
        resolve_calls = [
            {
                "force_refresh": r.query.get("force_refresh") == ["true"],
                "authorization": principals.get(r.headers.get("authorization", ""), "other"),
            }
            for r in gateway.requests
            if r.path == "/v1/resolve"
        ]
        expect = case["expect"]
        assert resolve_calls == expect["resolve_calls"]
        assert [r.headers.get("authorization") for r in upstream.requests] == expect[
            "upstream_auth"
        ]
        assert len(results) == len(expect["results"])
        for got, want in zip(results, expect["results"]):
            if "error" in want:
                assert got == {"error": want["error"], "class": class_of(want["error"])}
            else:
                assert got.get("status") == want["status"], got
                if "body" in want:
                    assert got["body"] == want["body"]
    finally:
        gateway.stop()
        upstream.stop()


def test_the_native_error_table_is_the_vector_table() -> None:
    assert _native.ERROR_TABLE == VECTORS["error_classes"]
    assert VECTORS["fallback_class"] == {"api": _native.UNKNOWN_API_CODE_CLASS}
