"""The bridge: a WebSocket kept open with a Nexus credential (the Rust core's bridge).

Async iterator form::

    from nexus_sdk import bridge

    async with bridge.websocket(nexus, cache, WORKSPACE_ID, "chat", "wss://chat.example/ws") as ws:
        async for event in ws:
            if isinstance(event, bridge.Connected):
                await ws.send("hello")
            elif isinstance(event, bridge.Message):
                print(event.data, file=sys.stderr)
            elif isinstance(event, bridge.Disconnected):
                ...  # the core reconnects by itself

Callback form: ``await bridge.run_websocket(..., on_message=handle)``.

Reconnects, backoff (``min_backoff``..``max_backoff`` seconds, full jitter), refresh on a 401/403
handshake, keepalive and the proactive reconnect are the core's (see ``docs/bridge.md``). The
iteration ends after ``close()``; it raises the terminal ``NexusError`` (``ReauthRequired``,
``Unauthorized``, ...) when the credential cannot be renewed. Nothing is written to stdout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from . import _native
from ._native import TokenCache

__all__ = [
    "Connected",
    "Disconnected",
    "Event",
    "Message",
    "WebSocketBridge",
    "run_websocket",
    "websocket",
]

# How long one pull waits in the worker thread before giving the event loop a chance to
# cancel the iteration.
_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Connected:
    """A connection is open; ``WebSocketBridge.send`` works until the next ``Disconnected``."""


@dataclass(frozen=True)
class Message:
    """A message from the upstream: ``str`` for text frames, ``bytes`` for binary ones."""

    data: str | bytes


@dataclass(frozen=True)
class Disconnected:
    """A connection ended. ``kind``: ``closed_by_peer`` (with ``code``), ``error``,
    ``credential_expiring`` or ``cancelled``; ``reason`` is the close reason or error text."""

    kind: str
    code: int | None = None
    reason: str = ""


Event = Union[Connected, Message, Disconnected]


def _event(raw: tuple[Any, ...]) -> Event | None:
    """The event for a native tuple; ``None`` for the end of the stream."""
    tag = raw[0]
    if tag == "connected":
        return Connected()
    if tag == "message":
        return Message(raw[1])
    if tag == "disconnected":
        return Disconnected(kind=raw[1], code=raw[2], reason=raw[3])
    return None  # "stopped"


class WebSocketBridge:
    """A bridged WebSocket: iterate its events (sync or ``async``), ``send`` on the current
    connection, ``close`` to stop (normal close frame; the iteration then ends)."""

    def __init__(self, native: _native.WebSocketBridge) -> None:
        self._native = native
        self._stopped = False

    # -- sync API -------------------------------------------------------------------------
    def next_event(self, timeout: float = _POLL_SECONDS) -> Event | None:
        """The next event within ``timeout`` seconds, or ``None``. Raises ``StopIteration``-free:
        check ``stopped`` after ``None``; raises the terminal ``NexusError``."""
        if self._stopped:
            return None
        raw = self._native.next_event(timeout)
        if raw is None:
            return None
        event = _event(raw)
        if event is None:
            self._stopped = True
        return event

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def connected(self) -> bool:
        return self._native.connected

    def send_sync(self, data: str | bytes) -> None:
        """Send text (``str``) or binary (``bytes``); ``TransportError`` when not connected."""
        self._native.send(data)

    def close_sync(self) -> None:
        self._native.close()

    # -- async API ------------------------------------------------------------------------
    async def send(self, data: str | bytes) -> None:
        await asyncio.to_thread(self._native.send, data)

    async def close(self) -> None:
        await asyncio.to_thread(self._native.close)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        while not self._stopped:
            event = await asyncio.to_thread(self.next_event, _POLL_SECONDS)
            if event is not None:
                yield event

    async def __aenter__(self) -> WebSocketBridge:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __enter__(self) -> WebSocketBridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_sync()


def websocket(
    client: _native.Client,
    cache: TokenCache,
    workspace_id: str,
    provider_name: str,
    url: str,
    *,
    min_backoff: float | None = None,
    max_backoff: float | None = None,
    stable_after: float | None = None,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
    max_message_size: int | None = None,
    write_timeout: float | None = None,
    reconnect_before_expiry: bool = False,
    expiry_margin: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> WebSocketBridge:
    """Start bridging ``url`` with the credential of (``workspace_id``, ``provider_name``).
    Durations are seconds; ``None`` keeps the core's default (``docs/bridge.md``)."""
    native = _native.open_websocket(
        client,
        cache,
        workspace_id,
        provider_name,
        url,
        min_backoff=min_backoff,
        max_backoff=max_backoff,
        stable_after=stable_after,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_message_size=max_message_size,
        write_timeout=write_timeout,
        reconnect_before_expiry=reconnect_before_expiry,
        expiry_margin=expiry_margin,
        headers=list(headers.items()) if headers else None,
    )
    return WebSocketBridge(native)


async def run_websocket(
    client: _native.Client,
    cache: TokenCache,
    workspace_id: str,
    provider_name: str,
    url: str,
    *,
    on_connect: Callable[[WebSocketBridge], Awaitable[None] | None] | None = None,
    on_message: Callable[[str | bytes], Awaitable[None] | None] | None = None,
    on_disconnect: Callable[[Disconnected], Awaitable[None] | None] | None = None,
    **options: Any,
) -> None:
    """Callback form: run until cancelled (the socket is then closed normally) or until the
    credential cannot be renewed (the terminal ``NexusError`` is raised). Callbacks may be
    plain functions or coroutines."""
    bridge = websocket(client, cache, workspace_id, provider_name, url, **options)
    try:
        async for event in bridge:
            if isinstance(event, Connected) and on_connect is not None:
                result: Any = on_connect(bridge)
            elif isinstance(event, Message) and on_message is not None:
                result = on_message(event.data)
            elif isinstance(event, Disconnected) and on_disconnect is not None:
                result = on_disconnect(event)
            else:
                continue
            if asyncio.iscoroutine(result):
                await result
    finally:
        # Also on cancellation: close normally and stop the core's tasks.
        await asyncio.shield(asyncio.to_thread(bridge.close_sync))
