"""Agent sessions through the native core against a stand-in gateway on 127.0.0.1, and the
``session_cases`` of tests/vectors/sessions.json.

The behaviour (renewal, single flight, cache namespace) is the core's and is tested in
core/tests/sessions.rs; these check that the binding hands arguments, results and errors
through faithfully.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus_sdk import (
    Forbidden,
    InvalidRequest,
    NexusClient,
    NexusClientOptions,
    TokenCache,
    Unauthorized,
    _native,
)
from nexus_sdk.errors import NexusError

from servers import LoopbackServer, Recorded, Reply, json_reply

KEY = "nxk_test_SECRET"
VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors" / "sessions.json"


class SessionGateway:
    def __init__(self) -> None:
        self.sessions = 0
        self.lock = threading.Lock()
        self.server = LoopbackServer(self.handle).start()

    def handle(self, request: Recorded) -> Reply:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        body: Any = json.loads(request.body) if request.body else {}
        if request.method == "POST" and request.path == "/v1/sessions":
            with self.lock:
                self.sessions += 1
                n = self.sessions
            if "admin" in body.get("scopes", []):
                return json_reply(403, {"error": "scope_not_allowed", "message": "not declared"})
            obo = (body.get("on_behalf_of") or {}).get("subject_token")
            if obo == "expired.user.jwt":
                return json_reply(401, {"error": "invalid_subject_token", "message": "expired"})
            return json_reply(
                201,
                {
                    "session_token": f"tok_{n}",
                    "token_type": "session",
                    "session_id": f"sess_{n}",
                    "expires_in": 900,
                    "expires_at": "2026-11-24T12:15:00Z",
                    "scopes": body.get("scopes", []),
                    "agent_id": "agt_1",
                    "sub": "user_1" if obo else "agt_1",
                    **({"act": {"sub": "agt_1"}} if obo else {}),
                },
            )
        if request.method == "GET" and request.path == "/v1/resolve":
            token = f"at-{bearer}"
            return json_reply(
                200,
                {
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "strategy": {"type": "oauth2"},
                    "credentials": {"access_token": token},
                },
            )
        if request.method == "DELETE" and request.path.startswith("/v1/sessions/"):
            return (204, {}, b"")
        if request.method == "POST" and request.path == "/v1/authorize":
            if body.get("scope") == "provider:github":
                return json_reply(
                    200, {"allowed": True, "scope": "provider:github", "session_id": "sess_1"}
                )
            return json_reply(403, {"error": "user_not_authorized_for_scope", "message": "no"})
        return json_reply(404, {"error": "not_found", "message": "no route"})

    def seen(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.server.requests if r.method == method and r.path == path]


@pytest.fixture
def gateway() -> Iterator[SessionGateway]:
    gw = SessionGateway()
    yield gw
    gw.server.stop()


def client_of(gw: SessionGateway) -> NexusClient:
    return NexusClient(NexusClientOptions(gateway_url=gw.server.url, api_key=KEY))


def test_session_resolves_with_its_token_and_its_own_cache(gateway: SessionGateway) -> None:
    client, cache = client_of(gateway), TokenCache()
    assert client.get_cached_token(cache, "ws_1", "github").access_token == f"at-{KEY}"

    session = client.start_session(["provider:github"], ttl=600)
    assert (session.session_id, session.scopes, session.act) == (
        "sess_1",
        ("provider:github",),
        None,
    )
    assert "tok_1" not in repr(session)
    start = gateway.seen("POST", "/v1/sessions")[0]
    assert start.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(start.body)["ttl_seconds"] == 600
    assert client.session == session

    assert client.get_cached_token(cache, "ws_1", "github").access_token == "at-tok_1"
    assert client.authorize("provider:github").allowed

    client.close_session()
    deletes = gateway.seen("DELETE", "/v1/sessions/sess_1")
    assert [d.headers["authorization"] for d in deletes] == ["Bearer tok_1"]
    assert client.session is None
    assert client.get_cached_token(cache, "ws_1", "github").access_token == f"at-{KEY}"
    assert len(gateway.seen("GET", "/v1/resolve")) == 2


def test_session_errors_are_typed(gateway: SessionGateway) -> None:
    client = client_of(gateway)
    with pytest.raises(Forbidden) as denied:
        client.start_session(["admin"])
    assert denied.value.code == "scope_not_allowed"
    with pytest.raises(Unauthorized) as bad_user:
        client.start_session(on_behalf_of="expired.user.jwt")
    assert bad_user.value.code == "invalid_subject_token"
    assert "expired.user.jwt" not in str(bad_user.value)
    with pytest.raises(InvalidRequest):
        client.authorize("provider:github")

    obo = client.start_session(on_behalf_of="good.user.jwt", agent_credential="nxa_agent")
    assert (obo.sub, obo.act) == ("user_1", "agt_1")
    assert gateway.seen("POST", "/v1/sessions")[-1].headers["authorization"] == "Bearer nxa_agent"
    with pytest.raises(Forbidden) as lacks:
        client.authorize("billing:write")
    assert lacks.value.code == "user_not_authorized_for_scope"
    with pytest.raises(InvalidRequest):
        client.start_session(ttl=0)


def session_cases() -> list[Any]:
    doc = json.loads(VECTORS.read_text())
    return [pytest.param(c, id=c["name"]) for c in doc["session_cases"]]


@pytest.mark.parametrize("case", session_cases())
def test_session_vectors(case: dict[str, Any]) -> None:
    body = case["session"]
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    if "expect_error" in case:
        with pytest.raises(NexusError) as error:
            _native.parse_session_body(raw)
        assert error.value.code == case["expect_error"]
        return
    got = _native.parse_session_body(raw)
    want = case["expect_session"]
    assert {k: got[k] for k in want} == want
