"""Calling hours: the first moment at or after a given one when a client may be called, in the client's time
zone where it is known, else the campaign's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend.rules.config import RulesConfig


def client_zone(config: RulesConfig, client_time_zone: object) -> ZoneInfo:
    """The client's zone (client_info["timeZone"], e.g. from the client-data service) if it is a real one."""
    if isinstance(client_time_zone, str) and client_time_zone:
        try:
            return ZoneInfo(client_time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return config.zone()


def next_allowed(config: RulesConfig, moment: datetime, zone: ZoneInfo | None = None) -> datetime:
    """``moment`` itself when it is inside the calling hours of a calling day, else the start of the next
    calling window (in UTC)."""
    zone = zone or config.zone()
    start, end = config.calling_hours.bounds()
    days = set(config.calling_days)
    local = moment.astimezone(zone)
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        if day.isoweekday() not in days:
            continue
        opens = datetime.combine(day, start, zone)
        closes = datetime.combine(day, end, zone)
        if offset == 0 and opens <= local < closes:
            return moment.astimezone(UTC)
        if local < opens:
            return opens.astimezone(UTC)
    raise AssertionError("calling-days has at least one day")  # pragma: no cover - checked on save


def inside(config: RulesConfig, moment: datetime, zone: ZoneInfo | None = None) -> bool:
    return next_allowed(config, moment, zone) == moment.astimezone(UTC)
