"""The CI-sized fault run: the whole stack (2 web, 2 worker, 2 telephony, the provider and integrations
simulators, a Sentinel-managed Redis and a PostgreSQL cluster of the run's own) under traffic while a fixed
seed's schedule injects ≥ 50 faults of every kind; then every invariant must hold. A failure prints the seed
and the examples; reproduce it with ``python -m bench.faults --faults 60 --seed <seed>``."""

from __future__ import annotations

import os

from tests.faults.faults import KINDS, schedule
from tests.faults.suite import Config, run

CI_SEED = int(os.environ.get("FAULTS_SEED", "18"))


def test_same_seed_same_schedule() -> None:
    """A reported seed reproduces the schedule: times, kinds, targets and durations."""
    assert schedule(7, 200, 2.0, KINDS) == schedule(7, 200, 2.0, KINDS)
    assert schedule(7, 200, 2.0, KINDS) != schedule(8, 200, 2.0, KINDS)
    kinds = {f.kind for f in schedule(7, 200, 2.0, KINDS)}
    assert kinds == set(KINDS)


async def test_fault_run_loses_nothing(service_urls: tuple[str, str]) -> None:
    report = await run(Config(faults=60, seed=CI_SEED, mean_gap=1.5, database_url=service_urls[0]))
    assert report.injected() >= 50, report.tables()
    violated = {i["name"]: i["examples"] for i in report.invariants if i["violations"]}
    assert not violated, f"seed {report.seed}: {violated}\n{report.tables()}"
