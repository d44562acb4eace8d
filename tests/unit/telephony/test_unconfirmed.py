"""What the poller may save as an operator's cursor while call events wait for a replica or a worker."""

from __future__ import annotations

from typing import Any, cast

from telephony import unconfirmed
from telephony.unconfirmed import Unconfirmed


def held() -> Unconfirmed:
    return Unconfirmed(cast(Any, None), "call-events")


def test_the_cursor_stays_before_the_oldest_event_held_for_its_session() -> None:
    u = held()
    assert u.floor("s1", 10) == 10
    u.hold(1, "s1", [(11, "provider-11", b"{}"), (12, "provider-12", b"{}")])
    u.hold(2, "s2", [(40, "provider-40", b"{}")])
    assert u.floor("s1", 12) == 10
    assert u.floor("s2", 41) == 39
    assert u.floor("s3", 7) == 7  # another session is not held back
    u.hold(1, "s1", [(11, "provider-11", b"{}")])  # read again after a restart: held once
    assert len(u.held) == 3


def test_memory_stays_bounded_the_oldest_let_go_first(monkeypatch: Any) -> None:
    monkeypatch.setattr(unconfirmed, "MAX_HELD", 2)
    u = held()
    u.hold(1, "s1", [(1, "provider-1", b"{}"), (2, "provider-2", b"{}"), (3, "provider-3", b"{}")])
    assert list(u.held) == ["provider-2", "provider-3"]
    assert u.floor("s1", 3) == 1
