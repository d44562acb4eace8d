from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from backend.core.db import create_pool
from tests.integration.rules.helpers import settings_for


@pytest.fixture(scope="session")
async def pool(services) -> AsyncIterator[asyncpg.Pool]:
    """A pool as the processes open it (json/jsonb as Python values)."""
    opened = await create_pool(settings_for(services))
    yield opened
    await opened.close()
