"""Typed settings, read once from the environment and validated at start-up.

Every variable is listed in ``FIELDS`` with its meaning; README's table is generated from the same
information (``python -m backend.settings``), so the two cannot drift apart.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}")
        return value

    return parse


def _float(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}")
        return value

    return parse


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in schemes:
            raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
        return raw

    return parse


def _secret(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("must be at least 32 characters (use a random value, e.g. `openssl rand -hex 32`)")
    return raw


def _zone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("must be an IANA time zone such as Europe/Moscow") from exc
    return raw


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _log_level(raw: str) -> str:
    value = raw.upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
    return value


def _str(raw: str) -> str:
    if not raw:
        raise ValueError("must not be empty")
    return raw


@dataclass(frozen=True)
class Field:
    env: str
    attr: str
    parse: Callable[[str], Any]
    default: str | None
    doc: str


FIELDS: tuple[Field, ...] = (
    Field("DATABASE_URL", "database_url", _url("postgresql", "postgres"), None,
          "PostgreSQL URL. Unset: the run/test commands start an embedded server and set it."),
    Field("REDIS_URL", "redis_url", _url("redis", "rediss", "unix"), None,
          "Redis URL. Unset: the run/test commands start an embedded server and set it."),
    Field("REDIS_KEY_PREFIX", "redis_key_prefix", str, "tm:",
          "Prefix of every Redis key, so that several deployments (or test runs) can share one Redis."),
    Field("HOST", "host", _str, "0.0.0.0",  # noqa: S104 - a 12-factor web process binds all interfaces
          "Address the web process listens on (the run command uses 127.0.0.1)."),
    Field("PORT", "port", _int(1, 65535), "8000", "Port the web process listens on."),
    Field("JWT_SECRET", "jwt_secret", _secret, None,
          "HMAC key that signs access tokens (HS256); at least 32 characters. Required."),
    Field("JWT_ISSUER", "jwt_issuer", _str, "telemarketing", "`iss` claim put in and required of tokens."),
    Field("JWT_AUDIENCE", "jwt_audience", _str, "arm", "`aud` claim put in and required of tokens."),
    Field("SESSION_IDLE_TIMEOUT", "session_idle_timeout", _int(2, 7 * 86400), "1800",
          "Seconds without activity after which a session ends; activity and checkAccess(updateExpire) slide it."),
    Field("SESSION_ABSOLUTE_TIMEOUT", "session_absolute_timeout", _int(2, 30 * 86400), "43200",
          "Seconds after login after which a session ends whatever the activity (a shift)."),
    Field("RESULT_WINDOW_SECONDS", "result_window_seconds", _int(1, 3600), "60",
          "Seconds an operator has after a call ends to save its result."),
    Field("OPERATOR_TIMEZONE", "operator_timezone", _zone, "Europe/Moscow",
          "Time zone of the dd.MM.yyyy HH:mm times shown to operators."),
    Field("LOGIN_MAX_FAILURES_PER_LOGIN", "login_max_failures_per_login", _int(1, 10000), "5",
          "Failed logins for one login name within the window before further attempts get 429."),
    Field("LOGIN_MAX_FAILURES_PER_ADDRESS", "login_max_failures_per_address", _int(1, 100000), "100",
          "Failed logins from one client address within the window before 429 (offices share one address)."),
    Field("LOGIN_THROTTLE_WINDOW", "login_throttle_window", _int(1, 86400), "900",
          "Seconds the failed-login counters live."),
    Field("PASSWORD_HASH_CONCURRENCY", "password_hash_concurrency", _int(1, 64), "2",
          "Argon2 hashes computed at once per process (each takes 19 MiB and one core for ~20 ms)."),
    Field("MAX_REQUEST_BODY_BYTES", "max_request_body_bytes", _int(1024, 64 * 1024 * 1024), "1048576",
          "Largest accepted request body; larger gets 413."),
    Field("DB_POOL_MIN_SIZE", "db_pool_min_size", _int(0, 100), "1", "Connections each process keeps open."),
    Field("DB_POOL_MAX_SIZE", "db_pool_max_size", _int(1, 500), "10", "Most connections one process opens."),
    Field("DEPENDENCY_TIMEOUT", "dependency_timeout", _float(0.1, 60), "3",
          "Seconds to wait for a PostgreSQL/Redis connection before answering 503."),
    Field("ALLOWED_ORIGINS", "allowed_origins", _csv, "",
          "Comma-separated browser origins allowed besides the server's own (CORS and WebSocket Origin)."),
    Field("LOG_LEVEL", "log_level", _log_level, "INFO", "DEBUG, INFO, WARNING or ERROR."),
    Field("TELEPHONY_WEBHOOK_SECRET", "telephony_webhook_secret", _secret, None,
          "Shared HMAC-SHA256 key of POST /api/telephony/v1/events; unset: that endpoint answers 503."),
    Field("TELEPHONY_WEBHOOK_TOLERANCE", "telephony_webhook_tolerance", _int(1, 3600), "300",
          "Seconds a signed telephony request's timestamp may differ from ours (replay window)."),
    Field("WS_HEARTBEAT_SECONDS", "ws_heartbeat_seconds", _float(0.5, 300), "15",
          "Seconds between WebSocket PINGs; a socket silent for three of them is closed."),
    Field("EVENT_RETENTION_HOURS", "event_retention_hours", _int(1, 24 * 90), "72",
          "Hours operator events are kept for resuming; an older lastSeq is told to resync."),
    Field("PROVIDER_URL", "provider_url", _url("http", "https"), None,
          "Base URL of the telephony provider's API (the telephony process needs it; the run command starts the "
          "simulator and sets it)."),
    Field("PROVIDER_API_KEY", "provider_api_key", str, "", "Sent to the provider as X-Api-Key when set."),
    Field("PROVIDER_TIMEOUT", "provider_timeout", _float(0.1, 120), "5",
          "Seconds before a provider request counts as failed (and is retried)."),
    Field("TELEPHONY_PORT", "telephony_port", _int(1, 65535), "8010",
          "Port of the telephony process's /health and /metrics."),
    Field("POLL_INTERVAL_SECONDS", "poll_interval_seconds", _float(0.05, 60), "0.5",
          "How often the telephony process polls each active operator's provider events."),
    Field("POLL_CONCURRENCY", "poll_concurrency", _int(1, 1000), "20",
          "Provider polls in flight at once."),
    Field("CAMPAIGN_ENGINE_INTERVAL", "campaign_engine_interval", _float(0.1, 3600), "1",
          "Seconds between the worker's passes that hand due campaign tasks to telephony."),
)


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    redis_key_prefix: str
    host: str
    port: int
    jwt_secret: str
    jwt_issuer: str
    jwt_audience: str
    session_idle_timeout: int
    session_absolute_timeout: int
    result_window_seconds: int
    operator_timezone: str
    login_max_failures_per_login: int
    login_max_failures_per_address: int
    login_throttle_window: int
    password_hash_concurrency: int
    max_request_body_bytes: int
    db_pool_min_size: int
    db_pool_max_size: int
    dependency_timeout: float
    allowed_origins: tuple[str, ...]
    log_level: str
    telephony_webhook_secret: str
    telephony_webhook_tolerance: int
    ws_heartbeat_seconds: float
    event_retention_hours: int
    provider_url: str
    provider_api_key: str
    provider_timeout: float
    telephony_port: int
    poll_interval_seconds: float
    poll_concurrency: int
    campaign_engine_interval: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require: tuple[str, ...] = ()) -> Settings:
        """Parse every field; a required-but-missing or malformed one raises SettingsError naming it.

        ``require`` lists the variables this process needs (the web needs all three of the
        DATABASE_URL/REDIS_URL/JWT_SECRET trio, the migrator only DATABASE_URL).
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in FIELDS:
            raw = env.get(field.env)
            if raw is None or raw == "":
                if field.default is None:
                    if field.env in require:
                        raise SettingsError(f"{field.env} is not set: {field.doc}")
                    values[field.attr] = ""
                    continue
                raw = field.default
            try:
                values[field.attr] = field.parse(raw)
            except ValueError as exc:
                reason = str(exc) if "invalid literal" not in str(exc) and "could not convert" not in str(exc) \
                    else "must be a number"
                raise SettingsError(f"{field.env}={_shown(field, raw)!s} is invalid: {reason}") from None
        if values["db_pool_min_size"] > values["db_pool_max_size"]:
            raise SettingsError("DB_POOL_MIN_SIZE is invalid: must not exceed DB_POOL_MAX_SIZE")
        if values["session_idle_timeout"] > values["session_absolute_timeout"]:
            raise SettingsError("SESSION_IDLE_TIMEOUT is invalid: must not exceed SESSION_ABSOLUTE_TIMEOUT")
        return cls(**values)


WEB_REQUIRES = ("DATABASE_URL", "REDIS_URL", "JWT_SECRET")


def _shown(field: Field, raw: str) -> str:
    """Never echo secrets or credentials embedded in URLs into logs."""
    if field.env.endswith("_SECRET"):
        return "<hidden>"
    if field.env.endswith("_URL"):
        parts = urlsplit(raw)
        if parts.password:
            return raw.replace(parts.password, "***")
    return raw


def load_or_exit(require: tuple[str, ...] = WEB_REQUIRES) -> Settings:
    """Entry points call this: a bad setting prints one clear line and exits with status 2."""
    try:
        return Settings.from_env(require=require)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def markdown_table() -> str:
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for field in FIELDS:
        if field.default is None:
            default = "(required)" if field.env in WEB_REQUIRES else "(unset)"
        else:
            default = f"`{field.default}`" if field.default else "(empty)"
        rows.append(f"| `{field.env}` | {default} | {field.doc} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
