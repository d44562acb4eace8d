"""What happens elsewhere when a session begins or ends. Auth owns this interface and calls it; the
workstation's presence implements it (an operator comes online, goes offline, their sockets close and
their telephony session ends), and the process wiring connects the two. Auth never imports the layers
that react to it."""

from __future__ import annotations

import uuid
from typing import Protocol


class SessionHooks(Protocol):
    async def session_opened(self, operator_id: int, role: str) -> None: ...

    async def sessions_ended(self, operator_id: int, session_ids: list[uuid.UUID], reason: str) -> None: ...


class NoHooks:
    """For processes with nobody to tell (the CLI)."""

    async def session_opened(self, operator_id: int, role: str) -> None:
        return None

    async def sessions_ended(self, operator_id: int, session_ids: list[uuid.UUID], reason: str) -> None:
        return None
