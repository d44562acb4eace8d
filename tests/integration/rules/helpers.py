"""Campaigns with rules, done lead imports with chosen snapshots, and a cascade driven in this process (real
PostgreSQL and Redis; the integration services are the simulator)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from backend.campaigns.service import CampaignEntry
from backend.core.db import create_pool, create_redis
from backend.core.settings import Settings
from backend.integrations.api import Integrations
from backend.rules import service
from backend.rules.cascade import Cascade
from backend.rules.config import RulesConfig
from tests.harness import Services, unique

SNAPSHOT_DEFAULTS: dict[str, Any] = {
    "application_status": "registered", "client_type": "pioneer", "citizenship": "RUS",
    "birth_date": date(1990, 5, 17), "grace": 10, "grace_unit": "day", "first_name": "Иван",
    "last_name": "Петров", "product_type": "express", "requested_amount": 1_000_000,
    "face_id": "face-1", "device_id": "dev-1", "passport_series": "4510", "passport_number": "123456",
}
_COLUMNS = ("import_id", "line_no", "stream", "application_no", "created_at", "changed_at", "application_status",
            "client_type", "phone", "citizenship", "birth_date", "grace", "grace_unit", "first_name", "last_name",
            "product_type", "requested_amount", "face_id", "device_id", "passport_series", "passport_number")
_next_app = [int(datetime.now(UTC).timestamp() * 1000) % 10**12 * 1000]


def app_no() -> int:
    _next_app[0] += 1
    return _next_app[0]


def phone(n: int | None = None) -> str:
    """A unique phone matching 7\\d{5}4\\d{4} (the seed's first template)."""
    value = app_no() if n is None else n
    return f"7{value % 100000:05d}4{value // 100000 % 10000:04d}"


def settings_for(services: Services, **overrides: str) -> Settings:
    env = services.web_env(CASCADE_STREAMS="", CASCADE_RETRY_SCALE="0.01", **overrides)
    return Settings.from_env(env)


def stream() -> str:
    return unique("T_").upper()


async def make_campaign(pool: asyncpg.Pool, config: dict[str, Any]) -> tuple[int, int]:
    """A campaign and its first rules version: (campaign id, version id)."""
    campaign_id = await pool.fetchval("INSERT INTO campaigns (name) VALUES ($1) RETURNING id", unique("rules "))
    version = await service.save_config(pool, campaign_id, msgspec.convert(config, RulesConfig), None)
    return int(campaign_id), int(version["id"])


async def make_import(pool: asyncpg.Pool, stream_name: str, leads: list[dict[str, Any]],
                      changed_at: datetime | None = None) -> int:
    """A done import of ``leads`` (snapshot columns over SNAPSHOT_DEFAULTS; phone and application_no made up
    when absent)."""
    digest = hashlib.sha256(unique("file").encode()).hexdigest()
    import_id = await pool.fetchval(
        """INSERT INTO lead_imports (stream, source, file_name, source_path, file_format, content_hash, size_bytes,
                                     state, started_at, finished_at, moved_at, rows_total, rows_accepted)
           VALUES ($1, 'cli', 'test.csv', '/tmp/test.csv', 'csv', $2, 1, 'done', now(), now(), now(), $3, $3)
           RETURNING id""", stream_name, digest, len(leads))
    changed = changed_at or datetime.now(UTC) - timedelta(minutes=5)
    records = []
    for line, lead in enumerate(leads, start=2):
        row = {**SNAPSHOT_DEFAULTS, "application_no": app_no(), **lead}
        row.setdefault("phone", phone(row["application_no"]))
        row.update(import_id=import_id, line_no=line, stream=stream_name, created_at=changed, changed_at=changed)
        records.append(tuple(row[c] for c in _COLUMNS))
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("lead_snapshots", records=records, columns=_COLUMNS)
    return int(import_id)


class Driver:
    """A cascade in this process over this test's streams."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, integrations: Integrations | None) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = create_redis(settings)
        self.integrations = integrations
        self.cascade = Cascade(pool, settings, CampaignEntry(self.redis, settings), integrations)

    @classmethod
    async def start(cls, services: Services, streams: list[str], *, sim_url: str | None = None,
                    **overrides: str) -> Driver:
        env: dict[str, str] = {"CASCADE_STREAMS": ",".join(streams), **overrides}
        if sim_url:
            env["INTEGRATIONS_URL"] = sim_url
        settings = Settings.from_env(services.web_env(CASCADE_RETRY_SCALE="0.01", **env))
        pool = await create_pool(settings)
        integrations = await Integrations.start(settings) if sim_url else None
        return cls(settings, pool, integrations)

    async def close(self) -> None:
        if self.integrations is not None:
            await self.integrations.close()
        await self.redis.aclose()
        await self.pool.close()

    async def paths(self, import_id: int, campaign_id: int) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            """SELECT p.*, t.task_state, t.client_info, t.rules_version_id AS task_version, t.task_time
                 FROM cascade_paths p LEFT JOIN campaign_tasks t ON t.id = p.campaign_task_id
                WHERE p.import_id = $1 AND p.campaign_id = $2 ORDER BY p.line_no""", import_id, campaign_id)
