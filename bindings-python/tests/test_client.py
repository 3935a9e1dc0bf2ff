"""The client against loopback servers: resolve, cache, fetch, retries, errors, adapters."""

from __future__ import annotations

import json

import pytest

import nexus_sdk
from nexus_sdk import NexusClient, TokenCache

from conftest import Upstream, make_client
from servers import FakeGateway, Recorded, Reply, json_reply, resolve_body

WS = "ws-1"


def test_resolve_token_returns_the_credential(client: NexusClient, gateway: FakeGateway) -> None:
    token = client.resolve_token(WS, "github")
    assert token.access_token == "tok-1"
    assert token.token_type == "Bearer"
    assert token.strategy == {"type": "oauth2", "config": {}}
    assert token.credentials == {"access_token": "tok-1"}
    assert token.scopes == ["repo"]
    assert token.api_base_url == "https://api.example.test"
    assert token.connection_id == "conn-1"
    assert token.expires_at is not None and token.seconds_remaining is not None
    assert 3590 <= token.seconds_remaining <= 3600
    # The gateway saw the documented query and the API key.
    request = gateway.server.requests[0]
    assert request.query == {"workspace_id": [WS], "provider_name": ["github"]}
    assert request.headers["authorization"] == "Bearer test-api-key"
    assert request.headers["user-agent"].startswith("nexus-sdk-python/")


def test_repr_never_shows_secrets(client: NexusClient) -> None:
    token = client.resolve_token(WS, "github")
    assert "tok-1" not in repr(token)
    assert "redacted" in repr(token)
    assert "test-api-key" not in repr(client)


def test_resolve_token_bypasses_the_cache(client: NexusClient, gateway: FakeGateway) -> None:
    assert client.resolve_token(WS, "github").access_token == "tok-1"
    assert client.resolve_token(WS, "github", force_refresh=True).access_token == "tok-2"
    assert gateway.resolves == 2
    assert gateway.server.requests[1].query["force_refresh"] == ["true"]


def test_cache_hits_until_cleared(client: NexusClient, gateway: FakeGateway) -> None:
    cache = TokenCache()
    first = client.get_cached_token(cache, WS, "github")
    second = client.get_cached_token(cache, WS, "github")
    assert first.access_token == second.access_token == "tok-1"
    assert gateway.resolves == 1
    assert len(cache) == 1
    client.clear_token(cache, WS, "github")
    assert client.get_cached_token(cache, WS, "github").access_token == "tok-2"
    # Keys are (workspace, provider): another provider is another entry.
    client.get_cached_token(cache, WS, "slack")
    assert gateway.resolves == 3
    assert len(cache) == 2
    cache.clear()
    assert len(cache) == 0


def test_safety_buffer_decides_freshness(client: NexusClient, gateway: FakeGateway) -> None:
    gateway.reply = lambda _req, n: json_reply(200, resolve_body(token=f"tok-{n}", expires_in=20))
    default_cache = TokenCache()  # 30 s buffer: a 20 s token is never fresh
    client.get_cached_token(default_cache, WS, "github")
    client.get_cached_token(default_cache, WS, "github")
    assert gateway.resolves == 2
    short_buffer = TokenCache(buffer_seconds=10)
    assert short_buffer.buffer_seconds == 10
    client.get_cached_token(short_buffer, WS, "github")
    client.get_cached_token(short_buffer, WS, "github")
    assert gateway.resolves == 3


def test_authenticated_fetch_injects_and_returns_everything(
    client: NexusClient, cache: TokenCache, upstream: Upstream
) -> None:
    status, headers, body = client.authenticated_fetch(
        cache,
        WS,
        "github",
        f"{upstream.url}/items?a=1",
        method="POST",
        headers={"Content-Type": "application/json", "X-Trace": "t1"},
        data=b'{"x":1}',
    )
    assert status == 200
    assert headers["x-upstream"] == "yes"
    assert isinstance(body, bytes)
    assert json.loads(body) == {"token": "tok-1", "method": "POST", "body": '{"x":1}'}
    seen = upstream.server.requests[0]
    assert seen.query == {"a": ["1"]}
    assert seen.headers["x-trace"] == "t1"
    assert seen.headers["authorization"] == "Bearer tok-1"


def test_str_body_is_sent_as_utf8(
    client: NexusClient, cache: TokenCache, upstream: Upstream
) -> None:
    status, _, body = client.authenticated_fetch(
        cache, WS, "github", upstream.url, method="PUT", data="héllo"
    )
    assert status == 200
    assert json.loads(body)["body"] == "héllo"


def test_upstream_401_refreshes_and_retries_once(
    client: NexusClient, cache: TokenCache, gateway: FakeGateway, upstream: Upstream
) -> None:
    upstream.valid = {"tok-2"}
    status, _, body = client.authenticated_fetch(cache, WS, "github", upstream.url)
    assert status == 200
    assert json.loads(body)["token"] == "tok-2"
    assert upstream.authorizations() == ["Bearer tok-1", "Bearer tok-2"]
    assert gateway.resolves == 2
    assert gateway.server.requests[1].query.get("force_refresh") == ["true"]
    # The fresh token is what the cache holds now.
    assert client.get_cached_token(cache, WS, "github").access_token == "tok-2"


def test_upstream_401_twice_is_returned_not_raised(
    client: NexusClient, cache: TokenCache, upstream: Upstream
) -> None:
    upstream.valid = set()
    status, _, _ = client.authenticated_fetch(cache, WS, "github", upstream.url)
    assert status == 401
    assert len(upstream.server.requests) == 2  # the original and exactly one retry


def test_upstream_500_is_a_status(
    client: NexusClient, cache: TokenCache, upstream: Upstream
) -> None:
    status, _, body = client.authenticated_fetch(cache, WS, "github", f"{upstream.url}/status/500")
    assert status == 500
    assert json.loads(body) == {"message": "boom"}


def test_prepare_request_merges_headers(client: NexusClient, cache: TokenCache) -> None:
    url, headers = client.prepare_request(
        cache,
        WS,
        "github",
        "GET",
        "https://api.example.test/x",
        {"Accept": "application/json", "authorization": "Bearer caller-supplied"},
    )
    assert url == "https://api.example.test/x"
    assert ("Accept", "application/json") in headers
    auth = [v for k, v in headers if k.lower() == "authorization"]
    assert auth == ["Bearer tok-1"]  # the injected header replaces the caller's


def reply_with(status: int, body: object) -> object:
    return lambda _req, _n: json_reply(status, body)


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (404, {"error": "provider_not_found", "message": "no provider"}, "ProviderNotFound", None),
        (404, {"error": "connection_not_found", "message": "none"}, "ConnectionNotFound", None),
        (401, {"error": "unauthorized", "message": "bad key"}, "Unauthorized", None),
        (403, {"error": "forbidden", "message": "no"}, "Forbidden", None),
        (
            409,
            {"error": "reauth_required", "message": "again", "reauth_url": "https://n/r"},
            "ReauthRequired",
            None,
        ),
        (500, {"error": "internal_error", "message": "oops"}, "ServerError", None),
        (200, {"not": "a resolve body"}, "InvalidResponse", "invalid_response"),
    ],
)
def test_gateway_errors_raise_typed_exceptions(
    client: NexusClient,
    cache: TokenCache,
    gateway: FakeGateway,
    upstream: Upstream,
    status: int,
    body: dict[str, str],
    cls: str,
    code: str | None,
) -> None:
    gateway.reply = reply_with(status, body)  # type: ignore[assignment]
    with pytest.raises(getattr(nexus_sdk, cls)) as info:
        client.authenticated_fetch(cache, WS, "github", upstream.url)
    assert info.value.code == (code or body["error"])
    if cls == "ReauthRequired":
        assert info.value.reauth_url == "https://n/r"
    assert upstream.server.requests == []  # nothing went upstream without a credential
    assert len(cache) == 0  # and no error was cached


def test_garbage_from_the_gateway(
    client: NexusClient, cache: TokenCache, gateway: FakeGateway
) -> None:
    gateway.reply = lambda _req, _n: (200, {"Content-Type": "application/json"}, b"\x00{{nope")
    with pytest.raises(nexus_sdk.InvalidResponse) as info:
        client.get_cached_token(cache, WS, "github")
    assert info.value.code == "invalid_response"
    assert "nope" not in str(info.value)


def test_gateway_down_is_a_transport_error(cache: TokenCache) -> None:
    gateway = FakeGateway()
    url = gateway.url
    gateway.stop()  # the port is now closed
    client = make_client(url)
    with pytest.raises(nexus_sdk.TransportError) as info:
        client.get_cached_token(cache, WS, "github")
    assert info.value.code == "connection_error"
    assert info.value.status_code is None


def test_transient_gateway_failures_are_retried(cache: TokenCache, gateway: FakeGateway) -> None:
    def flaky(_req: Recorded, n: int) -> Reply:
        if n < 3:
            return json_reply(503, {"error": "upstream_unavailable", "message": "busy"})
        return json_reply(200, resolve_body(token="after-retries"))

    gateway.reply = flaky
    assert make_client(gateway.url, retries=2).get_cached_token(cache, WS, "gh").access_token == (
        "after-retries"
    )
    assert gateway.resolves == 3
    # Without retries the first 503 is the answer.
    gateway.resolves = 0
    with pytest.raises(nexus_sdk.UpstreamUnavailable):
        make_client(gateway.url, retries=0).get_cached_token(TokenCache(), WS, "gh")
    assert gateway.resolves == 1


def test_strategy_errors(client: NexusClient, cache: TokenCache, gateway: FakeGateway) -> None:
    gateway.reply = lambda _req, _n: json_reply(
        200, resolve_body(strategy={"type": "carrier_pigeon"})
    )
    with pytest.raises(nexus_sdk.StrategyError) as info:
        client.prepare_request(cache, WS, "x", "GET", "https://api.example.test/")
    assert info.value.code == "unknown_strategy"

    gateway.reply = lambda _req, _n: json_reply(
        200, resolve_body(strategy={"type": "header", "config": {"header_name": "X-Key"}})
    )
    with pytest.raises(nexus_sdk.StrategyError) as info:
        client.prepare_request(cache, WS, "y", "GET", "https://api.example.test/")
    assert info.value.code == "missing_credential_field"


def test_bad_request_arguments_are_typed(client: NexusClient, cache: TokenCache) -> None:
    with pytest.raises(nexus_sdk.InvalidRequest):
        client.authenticated_fetch(cache, WS, "github", "https://x.test/", data=12345)  # type: ignore[arg-type]
    with pytest.raises(nexus_sdk.InvalidRequest):
        client.authenticated_fetch(cache, WS, "github", "https://x.test/", headers={"a": 1})  # type: ignore[dict-item]
    with pytest.raises(nexus_sdk.InvalidRequest):
        client.authenticated_fetch(cache, WS, "github", "not a url")
    with pytest.raises(nexus_sdk.InvalidRequest):
        client.authenticated_fetch(cache, WS, "github", "https://x.test/", method="BAD METHOD")


def test_wait_for_active_stops_on_a_terminal_state(
    client: NexusClient, gateway: FakeGateway
) -> None:
    polls = []

    def check(request: Recorded) -> Reply:
        polls.append(request)
        status = "pending" if len(polls) < 3 else "needs_reauth"
        return json_reply(200, {"status": status, "reauth_url": "https://n/reauth/c1"})

    gateway.routes["/v1/check-connection/c%2F1"] = check
    with pytest.raises(nexus_sdk.ConnectionFailed) as info:
        client.wait_for_active("c/1", timeout=10, interval=0.01)
    assert info.value.code == "connection_failed"
    assert info.value.reauth_url == "https://n/reauth/c1"
    assert len(polls) == 3  # polled until the terminal state, then stopped


def test_request_connection_sends_the_documented_body(
    client: NexusClient, gateway: FakeGateway
) -> None:
    from nexus_sdk import RequestConnectionInput

    gateway.routes["/v1/request-connection"] = lambda _req: json_reply(
        200,
        {
            "authUrl": "https://p/authorize?x=1",
            "connection_id": "c1",
            "state": "s1",
            "scopes": ["repo"],
            "provider_id": "p1",
        },
    )
    answer = client.request_connection(
        RequestConnectionInput(
            user_id="u1", provider_name="github", scopes=["repo"], return_url="https://app/done"
        )
    )
    assert answer.auth_url == "https://p/authorize?x=1" and answer.connection_id == "c1"
    sent = json.loads(gateway.server.requests[-1].body)
    assert sent == {
        "user_id": "u1",
        "provider_name": "github",
        "scopes": ["repo"],
        "return_url": "https://app/done",
    }
