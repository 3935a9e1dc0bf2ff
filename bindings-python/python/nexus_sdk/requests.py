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
"""

from __future__ import annotations

import logging
from typing import Any

from requests.auth import AuthBase
from requests.models import PreparedRequest, Response
from requests.structures import CaseInsensitiveDict

from ._native import TokenCache
from .client import NexusClient, is_rejection

__all__ = ["NexusAuth"]

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
