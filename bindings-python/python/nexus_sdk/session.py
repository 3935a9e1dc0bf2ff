"""Agent sessions: the Python shapes of what ``NexusClient.start_session`` returns.

The session itself (its token, renewal at 80 % of its lifetime, its own namespace in the token
cache) lives in the Rust core; the token is never handed to Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Authorization", "Session"]


@dataclass(frozen=True)
class Session:
    """An agent session as the gateway issued it (the current one, after renewals)."""

    session_id: str
    expires_in: int
    expires_at: str
    scopes: tuple[str, ...]
    agent_id: str
    sub: str
    """The agent id, or the user for On-Behalf-Of."""
    act: str | None
    """On-Behalf-Of: the acting agent's id."""

    @classmethod
    def _from_native(cls, raw: dict[str, Any]) -> Session:
        return cls(
            session_id=raw["session_id"],
            expires_in=raw["expires_in"],
            expires_at=raw["expires_at"],
            scopes=tuple(raw["scopes"]),
            agent_id=raw["agent_id"],
            sub=raw["sub"],
            act=raw["act"],
        )


@dataclass(frozen=True)
class Authorization:
    """``POST /v1/authorize`` allowed the scope (a refusal raises ``Forbidden``)."""

    allowed: bool
    scope: str
    session_id: str
