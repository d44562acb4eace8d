from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Services, WebProcess
from tests.integration.telephony.conftest import stack  # noqa: F401 - the telephony tests' own stack

# Short enough for tests: pushes looked for every 0.1 s, an attempt waits 2 s for an answer, a dead worker's
# claim lapses after 3 s, retries at most 1 s apart, and a push unanswered for 8 s is FAILED.
EXCHANGE_ENV = {"EXCHANGE_POLL_SECONDS": "0.1", "EXCHANGE_PUSH_TIMEOUT_SECONDS": "2",
                "EXCHANGE_PUSH_LEASE_SECONDS": "3", "EXCHANGE_RETRY_MAX_SECONDS": "1",
                "EXCHANGE_PUSH_MAX_AGE_SECONDS": "8"}


def exchange_worker(services: Services, name: str = "exchange") -> WebProcess:
    return WebProcess(services.web_env(**EXCHANGE_ENV), name, module="backend.worker")


@pytest.fixture(scope="module")
def worker(services: Services, shared_worker: list[WebProcess]) -> Iterator[list[WebProcess]]:
    """The shared worker replaced by one with the exchange's short timings (a test may kill it and put
    another in its place; the session's fixture stops whatever is there at the end)."""
    shared_worker[0].stop()
    shared_worker[0] = exchange_worker(services)
    yield shared_worker
