"""The two Redis Streams between the telephony process and the backend: call events in (consumer group
``backend``) and commands out (consumer group ``telephony``). Their names are the contract both sides
import from here."""

from __future__ import annotations

from backend.core.settings import Settings

EVENTS_GROUP = "backend"
COMMANDS_GROUP = "telephony"


def events_stream(settings: Settings) -> str:
    return settings.redis_key_prefix + "call-events"


def commands_stream(settings: Settings) -> str:
    return settings.redis_key_prefix + "telephony-commands"
