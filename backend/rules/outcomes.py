"""After the call: the campaign's result taxonomy (seed 004: status → level 1 → level 2) checks what the
operator saves, and the outcome it carries decides the task's next step.

The seed's result block is kept: ``result`` holds the status's key, ``reason`` the level-1 key and the new
optional ``reasonDetail`` the level-2 key (``comment`` stays free text). A campaign without a taxonomy keeps
free-text results and no next step (the task stays DONE, as before rules existed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from backend.core.errors import BadRequest
from backend.rules.config import RECALL_OUTCOMES, RulesConfig
from backend.rules.hours import next_allowed

FIELDS = {"status": "communicationResult.result", "level1": "communicationResult.reason",
          "level2": "communicationResult.reasonDetail"}


def _bad(level: str, message: str, allowed: list[str]) -> BadRequest:
    return BadRequest(message, code="RESULT_NOT_IN_TAXONOMY", field=FIELDS[level],
                      data={"level": level, "allowed": allowed})


def outcome_of(config: RulesConfig, details: dict[str, Any]) -> str | None:
    """The outcome of a result that follows the campaign's tree (400 naming the level where it leaves it);
    None when the campaign has no taxonomy."""
    tree = config.result_taxonomy
    if not tree:
        return None
    statuses = {s.key: s for s in tree}
    status = statuses.get(str(details.get("result") or ""))
    if status is None:
        raise _bad("status", "result is not a status of the campaign's result taxonomy", list(statuses))
    level1_key = details.get("reason")
    if not status.children:
        if level1_key:
            raise _bad("level1", f"status {status.key} has no level-1 choices", [])
        return status.outcome
    level1s = {c.key: c for c in status.children}
    level1 = level1s.get(str(level1_key or ""))
    if level1 is None:
        raise _bad("level1", f"reason must be a level-1 choice of status {status.key}", list(level1s))
    level2_key = details.get("reasonDetail")
    if level1.children:
        level2s = [c.key for c in level1.children]
        if level2_key not in level2s:
            raise _bad("level2", f"reasonDetail must be a level-2 choice of {status.key} / {level1.key}", level2s)
    elif level2_key:
        raise _bad("level2", f"{status.key} / {level1.key} has no level-2 choices", [])
    return level1.outcome or status.outcome


@dataclass(frozen=True)
class NextStep:
    state: str  # NEW (recall) | DONE
    close_reason: str | None
    task_time: datetime | None = None
    do_not_call: bool = False


def next_step(config: RulesConfig, outcome: str, attempts: int, now: datetime, zone: ZoneInfo) -> NextStep:
    """No answer, busy, dropped: call again after the campaign's delay, moved into calling hours, unless the
    task has had its maximum attempts. Success, refusal: done. Do not call: done, and the phone goes on the
    do-not-call list for good."""
    if outcome in RECALL_OUTCOMES:
        if attempts >= config.max_attempts:
            return NextStep("DONE", "MAX_ATTEMPTS")
        delay = timedelta(minutes=config.recall_delay_minutes.for_outcome(outcome))
        return NextStep("NEW", None, next_allowed(config, now + delay, zone))
    if outcome == "DO_NOT_CALL":
        return NextStep("DONE", "DO_NOT_CALL", do_not_call=True)
    return NextStep("DONE", outcome)
