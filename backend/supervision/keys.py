"""Redis keys of the floor: the published version (hashes per part, its seq) and the delta log (a Stream
whose entry ids are ``<seq>-1``, so a web process resumes with XREAD from the seq it holds)."""

from __future__ import annotations

from backend.core.settings import Settings

PART_KEYS = ("operators", "campaigns", "alerts", "chart")


def key(settings: Settings, name: str) -> str:
    return f"{settings.redis_key_prefix}floor:{name}"


def stream(settings: Settings) -> str:
    return key(settings, "deltas")


def seq_key(settings: Settings) -> str:
    return key(settings, "seq")


def leader_key(settings: Settings) -> str:
    return key(settings, "leader")
