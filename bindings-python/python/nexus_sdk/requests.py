"""``requests`` integration: ``requests.get(url, auth=NexusAuth(...))``.

::

    from nexus_sdk.requests import NexusAuth

    session = requests.Session()
    session.auth = NexusAuth(nexus, cache, WORKSPACE_ID, "github")
    session.get("https://api.github.com/user/repos")

The credential is injected by the core's ``prepare_attempt``. On a 401 from the upstream the
core's rule applies (``nexus_sdk::policy``): the rejected token is replaced by one forced refresh
through the cache's single flight and the request is sent once more; a second 401 is returned
as it is. This module is only the ``requests`` glue. Importing it requires ``requests``;
``import nexus_sdk`` alone never does.

Proxy mode (docs/proxy.md): ``proxy_session(nexus, WORKSPACE_ID, "crm")`` is a
``requests.Session`` whose requests take a path relative to the provider's API
(``session.get("/contacts/42")``) and go through the gateway, which injects the credential: this
process never holds it. The upstream's answer is returned whatever its status; the gateway's own
answers raise the typed exception; redirects are returned, not followed.
"""

from __future__ import annotations

import logging
from typing import Any

from requests import Session
from requests.auth import AuthBase
from requests.models import PreparedRequest, Response
from requests.structures import CaseInsensitiveDict

from . import _native
from ._native import TokenCache
from .client import NexusClient, is_rejection

__all__ = ["NexusAuth", "ProxySession", "proxy_session"]

logger = logging.getLogger(__name__)


class NexusAuth(AuthBase):
    """A ``requests`` auth that injects a Nexus credential into every request."""

    def __init__(
        self, client: NexusClient, cache: TokenCache, workspace_id: str, provider_name: str
    ) -> None:
        self._client = client
        self._cache = cache
        self._workspace_id = workspace_id
        self._provider_name = provider_name

    def _inject(
        self,
        request: PreparedRequest,
        url: str,
        headers: dict[str, str],
        rejected: int | None = None,
    ) -> int:
        """Apply the credential to ``request``; the generation of the token applied."""
        body = request.body
        if not isinstance(body, (bytes, str, type(None))):
            # Signing strategies read the exact body; a stream or file cannot be replayed.
            raise TypeError("nexus_sdk.requests.NexusAuth needs a bytes or str request body")
        prepared_url, merged_headers, generation = self._client.prepare_attempt(
            self._cache,
            self._workspace_id,
            self._provider_name,
            request.method or "GET",
            url,
            headers,
            body.encode() if isinstance(body, str) else body,
            rejected_generation=rejected,
        )
        request.url = prepared_url
        request.headers = CaseInsensitiveDict(dict(merged_headers))
        return generation

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        # Keep the caller's URL and headers so that a retry starts from them, not from the
        # already-injected request.
        original_url = request.url or ""
        original_headers = {
            name: value if isinstance(value, str) else value.decode("latin-1")
            for name, value in request.headers.items()
        }
        generation = self._inject(request, original_url, original_headers)

        def retry_once_on_401(response: Response, **kwargs: Any) -> Response:
            if not is_rejection(response.status_code) or getattr(
                response.request, "_nexus_retried", False
            ):
                return response
            logger.debug("upstream answered 401; retrying once with a fresh credential")
            response.content  # noqa: B018 - read the body so the connection can be reused
            response.close()
            retry = response.request.copy()
            retry._nexus_retried = True  # type: ignore[attr-defined]
            self._inject(retry, original_url, original_headers, rejected=generation)
            connection = response.connection
            new_response: Response = connection.send(retry, **kwargs)
            new_response.history.append(response)
            new_response.request = retry
            return new_response

        request.register_hook("response", retry_once_on_401)
        return request


_REPLACED = frozenset(_native.proxy_replaced_headers())


class ProxySession(Session):
    """A ``requests.Session`` in proxy mode for one (workspace, provider). See
    :func:`proxy_session`."""

    def __init__(
        self,
        client: NexusClient,
        workspace_id: str,
        provider_name: str,
        host: str | None = None,
    ) -> None:
        super().__init__()
        self._nexus = client
        self._workspace_id = workspace_id
        self._provider_name = provider_name
        self._host = host

    def request(  # type: ignore[override]
        self, method: str, url: str | bytes, **kwargs: Any
    ) -> Response:
        path = url.decode() if isinstance(url, bytes) else str(url)
        # The core builds the URL (and refuses an absolute one) and supplies the credential.
        target, nexus_headers = _native.proxy_prepare(
            self._nexus, self._workspace_id, self._provider_name, path, self._host
        )
        headers = {
            name: value
            for name, value in dict(kwargs.pop("headers", None) or {}).items()
            if name.lower() not in _REPLACED
        }
        headers.update(dict(nexus_headers))
        kwargs["allow_redirects"] = False
        response: Response = super().request(method, target, headers=headers, **kwargs)
        if "nexus-error" in response.headers:
            _native.proxy_check_answer(
                response.status_code, list(response.headers.items()), response.content
            )
        return response


def proxy_session(
    client: NexusClient, workspace_id: str, provider_name: str, *, host: str | None = None
) -> ProxySession:
    """A ``requests.Session`` in proxy mode for (workspace, provider)."""
    return ProxySession(client, workspace_id, provider_name, host)
