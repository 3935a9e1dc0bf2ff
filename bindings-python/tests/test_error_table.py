"""The Python exception classes against the core's error table (``_native.ERROR_TABLE``, which is
``nexus_sdk::error::ERROR_TABLE``): this fails when they drift, in the native module, in
``nexus_sdk.errors`` / ``nexus_sdk`` exports, or in what an error of each code raises."""

from __future__ import annotations

import json

import pytest

import nexus_sdk
from nexus_sdk import _native, errors

API_ROWS = [row for row in _native.ERROR_TABLE if row["kind"] == "api"]


@pytest.mark.parametrize("row", _native.ERROR_TABLE, ids=lambda r: f"{r['code']}-{r['kind']}")
def test_every_class_of_the_table_is_exported_under_its_parent(row: dict[str, str]) -> None:
    cls = getattr(_native, row["class"])
    assert cls.__name__ == row["class"]
    assert issubclass(cls, getattr(_native, row["parent"]))
    assert issubclass(cls, _native.NexusError)
    assert getattr(errors, row["class"]) is cls
    assert getattr(nexus_sdk, row["class"]) is cls
    assert row["class"] in errors.__all__ and row["class"] in nexus_sdk.__all__


@pytest.mark.parametrize("row", API_ROWS, ids=lambda r: r["code"])
def test_a_gateway_error_of_each_code_raises_the_class_of_the_table(row: dict[str, str]) -> None:
    body = json.dumps({"error": row["code"], "message": "m"}).encode()
    error = _native.gateway_error(400, body)
    assert type(error).__name__ == row["class"]
    assert error.code == row["code"]


def test_an_unknown_code_raises_the_fallback_class() -> None:
    error = _native.gateway_error(418, b'{"error": "brand_new_code", "message": "m"}')
    assert type(error).__name__ == _native.UNKNOWN_API_CODE_CLASS
    assert error.code == "brand_new_code"


def test_the_exported_classes_are_exactly_the_table_and_the_documented_extras() -> None:
    table = {row["class"] for row in _native.ERROR_TABLE}
    exported = {
        name
        for name in errors.__all__
        if isinstance(getattr(errors, name), type) and getattr(errors, name).__name__ == name
    }
    # NexusError is the root; NexusTimeout is Python's base of the two timeout classes.
    assert exported == table | {"NexusError", "NexusTimeout"}


def test_older_python_names_stay_as_aliases() -> None:
    assert errors.ReauthRequired is errors.ReauthRequiredError
    assert errors.ServerError is errors.InternalServerError
    assert issubclass(errors.PayloadTooLargeError, errors.InvalidRequest)
    assert issubclass(errors.ScopeNotAllowedError, errors.Forbidden)
    for cls in (errors.NexusTimeoutError, errors.WaitAbortedError):
        assert issubclass(cls, errors.NexusTimeout)
    assert issubclass(errors.NexusTimeoutError, errors.TransportError)
