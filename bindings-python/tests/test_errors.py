"""The exception hierarchy and the mapping of gateway answers onto it."""

from __future__ import annotations

import json

import pytest

import nexus_sdk
from nexus_sdk import _native, errors


def envelope(code: str, **extra: object) -> bytes:
    return json.dumps({"error": code, "message": f"{code} happened", **extra}).encode()


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "invalid_request", errors.InvalidRequest),
        # Their own classes since the core's table (subclasses of the older ones).
        (413, "payload_too_large", errors.PayloadTooLargeError),
        (401, "unauthorized", errors.Unauthorized),
        (403, "forbidden", errors.Forbidden),
        (403, "scope_not_allowed", errors.ScopeNotAllowedError),
        (404, "not_found", errors.NotFound),
        (404, "provider_not_found", errors.ProviderNotFound),
        (404, "connection_not_found", errors.ConnectionNotFound),
        (409, "reauth_required", errors.ReauthRequired),
        (409, "connection_not_active", errors.ConnectionNotActive),
        (429, "rate_limited", errors.RateLimited),
        (502, "upstream_unavailable", errors.UpstreamUnavailable),
        (500, "internal_error", errors.ServerError),
        (500, "a_code_from_the_future", errors.ServerError),
    ],
)
def test_gateway_codes_map_to_classes(status: int, code: str, cls: type) -> None:
    exc = _native.gateway_error(status, envelope(code, request_id="req-1"))
    assert type(exc) is cls
    assert isinstance(exc, nexus_sdk.NexusError)
    assert exc.code == code
    assert exc.message == f"{code} happened"
    assert exc.status_code == status
    assert exc.request_id == "req-1"
    assert code in str(exc)


def test_reauth_required_carries_reauth_url() -> None:
    exc = _native.gateway_error(409, envelope("reauth_required", reauth_url="https://n/reauth/1"))
    assert isinstance(exc, nexus_sdk.ReauthRequired)
    assert exc.reauth_url == "https://n/reauth/1"
    assert exc.retry_after is None


def test_rate_limited_carries_retry_after() -> None:
    exc = _native.gateway_error(429, envelope("rate_limited", retry_after=7))
    assert isinstance(exc, nexus_sdk.RateLimited)
    assert exc.retry_after == 7.0


def test_a_body_that_is_not_an_envelope_is_invalid_response() -> None:
    exc = _native.gateway_error(502, b"<html>Bad Gateway</html>")
    assert isinstance(exc, nexus_sdk.InvalidResponse)
    assert exc.code == "invalid_response"
    assert exc.status_code == 502
    assert "html" not in exc.message.lower() or "content-type" in exc.message


def test_subclass_relationships() -> None:
    assert issubclass(nexus_sdk.ProviderNotFound, nexus_sdk.NotFound)
    assert issubclass(nexus_sdk.ConnectionNotFound, nexus_sdk.NotFound)
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, nexus_sdk.NexusError)
        assert getattr(nexus_sdk, name) is cls


def test_exceptions_raised_from_python_still_have_the_attributes() -> None:
    exc = nexus_sdk.ReauthRequired("made by hand")
    assert exc.code == ""
    assert exc.status_code is None
    assert exc.reauth_url is None


def test_bad_options_are_invalid_request() -> None:
    from nexus_sdk import NexusClient, NexusClientOptions

    with pytest.raises(nexus_sdk.InvalidRequest) as info:
        NexusClient(NexusClientOptions(gateway_url="not a url", api_key="k"))
    assert info.value.code == "invalid_request"
    with pytest.raises(nexus_sdk.InvalidRequest):
        NexusClient(NexusClientOptions(gateway_url="http://127.0.0.1:1", api_key=""))
    with pytest.raises(nexus_sdk.InvalidRequest):
        NexusClient(NexusClientOptions(gateway_url="http://127.0.0.1:1", api_key="k", timeout=-1))
    with pytest.raises(nexus_sdk.InvalidRequest):
        nexus_sdk.TokenCache(buffer_seconds=float("nan"))


def test_the_api_key_never_appears_in_an_error() -> None:
    from nexus_sdk import NexusClient, NexusClientOptions

    secret = "sk-very-secret\nvalue"
    with pytest.raises(nexus_sdk.InvalidRequest) as info:
        NexusClient(NexusClientOptions(gateway_url="http://127.0.0.1:1", api_key=secret))
    assert "sk-very-secret" not in str(info.value)
    assert "sk-very-secret" not in repr(NexusClientOptions(gateway_url="http://x", api_key=secret))
