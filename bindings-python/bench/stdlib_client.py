"""A pure-standard-library Nexus client: the baseline the benchmark compares the SDK against.

Same algorithm as the core, written the way a careful Python developer would without the SDK:
a dict cache keyed by (workspace, provider) with the same 30 s safety buffer, a lock per key so
that concurrent cold callers make one gateway call, ``urllib`` for HTTP (a new connection per
request, as urllib does), and the ``oauth2``/``header`` strategies applied by hand. Not part of
the SDK; only ``bench/bench.py`` uses it.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

BUFFER_SECONDS = 30.0
DEFAULT_TTL_SECONDS = 300.0


class StdlibNexusClient:
    def __init__(self, gateway_url: str, api_key: str, timeout: float = 30.0) -> None:
        self._gateway_url = gateway_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.gateway_calls = 0

    def _resolve(self, workspace_id: str, provider: str) -> dict[str, Any]:
        query = urllib.parse.urlencode({"workspace_id": workspace_id, "provider_name": provider})
        request = urllib.request.Request(
            f"{self._gateway_url}/v1/resolve?{query}",
            headers={"Authorization": f"Bearer {self._api_key}"},
        )
        self.gateway_calls += 1
        with urllib.request.urlopen(request, timeout=self._timeout) as response:
            body: dict[str, Any] = json.loads(response.read())
        return body

    def get_cached_token(self, workspace_id: str, provider: str) -> dict[str, Any]:
        key = (workspace_id, provider)
        hit = self._cache.get(key)
        if hit is not None and hit[0] - BUFFER_SECONDS > time.time():
            return hit[1]
        with self._locks_guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] - BUFFER_SECONDS > time.time():
                return hit[1]
            body = self._resolve(workspace_id, provider)
            ttl = float(body.get("expires_in") or DEFAULT_TTL_SECONDS)
            self._cache[key] = (time.time() + ttl, body)
            return body

    def clear_token(self, workspace_id: str, provider: str) -> None:
        self._cache.pop((workspace_id, provider), None)

    @staticmethod
    def _inject(token: dict[str, Any], headers: dict[str, str]) -> None:
        strategy = token.get("strategy", {})
        config = strategy.get("config", {})
        credentials = token.get("credentials", {})
        kind = strategy.get("type")
        if kind in ("oauth2", "bearer"):
            field = config.get("credential_field", "access_token")
            value = credentials.get(field) or token.get("access_token")
            name = config.get("header_name", "Authorization")
            headers[name] = config.get("value_prefix", "Bearer ") + str(value)
        elif kind in ("header", "api_key"):
            name = config.get("header_name", "Authorization")
            default_prefix = "Bearer " if name.lower() == "authorization" else ""
            field = config.get("credential_field", "api_key")
            headers[name] = config.get("value_prefix", default_prefix) + str(credentials[field])
        else:
            raise ValueError(f"strategy {kind!r} not supported by the baseline")

    def authenticated_fetch(
        self,
        workspace_id: str,
        provider: str,
        url: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(2):
            token = self.get_cached_token(workspace_id, provider)
            request_headers = dict(headers or {})
            self._inject(token, request_headers)
            request = urllib.request.Request(url, data=data, headers=request_headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as response:
                    return response.status, dict(response.headers.items()), response.read()
            except urllib.error.HTTPError as err:
                if err.code == 401 and attempt == 0:
                    self.clear_token(workspace_id, provider)
                    continue
                return err.code, dict(err.headers.items()), err.read()
        raise AssertionError("unreachable")
