"""The integration clients against the simulator over real HTTP: verdicts, retries, timeouts, garbage, the
circuit breaker and the bound on requests in flight — what the cascade (and so a supervisor's per-filter
counts) sees."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from backend.core.settings import Settings
from backend.integrations.api import Check, IntegrationLead, Integrations

LEADS = [IntegrationLead(5000 + i, f"7913{i:07d}", "pioneer" if i % 2 else "repeater", device_id=f"dev-{i}")
         for i in range(30)]


@pytest.fixture(autouse=True)
def clean_sim(integrations_sim: Any) -> Any:
    integrations_sim.reset()
    return integrations_sim


@pytest.fixture
async def start(integrations_sim: Any) -> AsyncIterator[Callable[..., Any]]:
    started: list[Integrations] = []

    async def make(**overrides: Any) -> Integrations:
        values: dict[str, Any] = {"integrations_url": integrations_sim.url, "integration_timeout_seconds": 1.0,
                                  **overrides}
        integrations = await Integrations.start(Settings(**values))
        started.append(integrations)
        return integrations

    yield make
    for integrations in started:
        await integrations.close()


def outcomes(checks: list[Check]) -> list[str]:
    return [c.outcome for c in checks]


@pytest.mark.parametrize("batch_size", [200, 7, 0])
async def test_each_service_passes_and_rejects(integrations_sim, start, batch_size):
    integrations_sim.verdicts(blacklist_phones=[LEADS[3].phone], blacklist_devices=["dev-5"],
                              ml_reject={"FACE": [LEADS[7].application_no]}, products={"pioneer": [],
                              "repeater": ["express", "consumer"]},
                              client_data={LEADS[0].phone: {"segment": "VIP"}}, client_data_synthesize=False)
    integrations = await start(integration_batch_size=batch_size)

    black = await integrations.phone_black_list(LEADS)
    assert [i for i, c in enumerate(black) if c.outcome == "REJECT"] == [3, 5]
    assert {c.reason for c in black if c.outcome == "REJECT"} == {"BLACK_LISTED"}
    assert all(c.value for c in black if c.outcome == "REJECT")

    face = await integrations.ml("FACE", LEADS)
    assert [i for i, c in enumerate(face) if c.outcome == "REJECT"] == [7]
    assert face[7].reason == "ML_SCORE_LOW" and face[7].value == "0.05"
    assert outcomes(await integrations.ml("DEVICE", LEADS)) == ["PASS"] * len(LEADS)

    offers = await integrations.available_products(LEADS, ["consumer", "overdraft"])
    assert outcomes(offers) == ["PASS" if i % 2 == 0 else "REJECT" for i in range(len(LEADS))]
    assert offers[0].data is not None and [p["code"] for p in offers[0].data["products"]] == ["consumer"]
    assert offers[1].reason == "NO_PRODUCTS"

    enriched = await integrations.client_data(LEADS)
    assert enriched[0] == Check("PASS", data={"segment": "VIP"})
    assert enriched[1:] == [Check("PASS")] * (len(LEADS) - 1)

    stats = integrations_sim.stats()
    expected = (len(LEADS) + batch_size - 1) // batch_size if batch_size else len(LEADS)
    assert stats["ml"]["requests"] == 2 * expected
    assert stats["products"]["leads"] == len(LEADS)


async def test_ml_reject_rate_is_the_same_for_a_lead_every_time(integrations_sim, start):
    integrations_sim.verdicts(ml_reject_rate={"PHONE": 0.3})
    integrations = await start()
    first = outcomes(await integrations.ml("PHONE", LEADS))
    assert 0 < first.count("REJECT") < len(LEADS)
    assert outcomes(await integrations.ml("PHONE", list(reversed(LEADS)))) == list(reversed(first))
    assert outcomes(await integrations.ml("DOCUMENT", LEADS)) == ["PASS"] * len(LEADS)  # rate is per model


async def test_a_transient_5xx_is_retried_and_the_lead_passes(integrations_sim, start):
    integrations_sim.faults("ml", fail_next=2, error_status=503)
    integrations = await start(integration_attempts=3)
    assert outcomes(await integrations.ml("PHONE", LEADS[:5])) == ["PASS"] * 5
    assert integrations_sim.stats()["ml"]["requests"] == 3


async def test_a_5xx_that_lasts_is_an_error_after_the_tries(integrations_sim, start):
    integrations_sim.faults("blacklist", status=503)
    integrations = await start(integration_attempts=3)
    checks = await integrations.phone_black_list(LEADS[:4])
    assert checks == [Check("ERROR", "HTTP_503")] * 4
    assert integrations_sim.stats()["blacklist"]["requests"] == 3
    assert integrations.health()["blacklist"]["errors"] == {"HTTP_503": 1}


async def test_a_hung_service_times_out_and_is_tried_again(integrations_sim, start):
    integrations_sim.faults("products", hang=True)
    integrations = await start(integration_attempts=2, integration_timeout_seconds=0.3)
    started = time.monotonic()
    checks = await integrations.available_products(LEADS[:3], [])
    assert checks == [Check("ERROR", "TIMEOUT")] * 3
    assert integrations_sim.stats()["products"]["requests"] == 2
    assert time.monotonic() - started < 5  # two 0.3 s tries and one backoff, not the hang


async def test_garbage_is_a_bad_response_and_not_retried(integrations_sim, start):
    integrations_sim.faults("client-data", garbage=True)
    integrations = await start(integration_attempts=3)
    for _ in range(3):  # the simulator varies its garbage: HTML, wrong shapes, cut-off JSON
        checks = await integrations.client_data(LEADS[:2])
        assert checks == [Check("ERROR", "BAD_RESPONSE")] * 2
    assert integrations_sim.stats()["client-data"]["requests"] == 3


async def test_a_4xx_is_final(integrations_sim, start):
    integrations_sim.faults("ml", status=422)
    integrations = await start(integration_attempts=3)
    assert await integrations.ml("FACE", LEADS[:1]) == [Check("ERROR", "HTTP_422")]
    assert integrations_sim.stats()["ml"]["requests"] == 1
    assert integrations.health()["ml"]["state"] == "closed"  # the service is up; our request was wrong


async def test_breaker_opens_stops_traffic_and_closes_after_recovery(integrations_sim, start):
    integrations_sim.faults("ml", status=500)
    integrations = await start(integration_attempts=1, integration_batch_size=0, integration_concurrency=1,
                               integration_breaker_failures=3, integration_breaker_reset_seconds=2.0)
    first = await integrations.ml("DEVICE", LEADS[:5])
    assert outcomes(first) == ["ERROR"] * 5
    assert [c.reason for c in first] == ["HTTP_500"] * 3 + ["CIRCUIT_OPEN"] * 2
    assert integrations_sim.stats()["ml"]["requests"] == 3
    assert integrations.health()["ml"]["state"] == "open"

    # While open, nothing reaches the service, whatever the batch (the reset is 2 s: a loaded machine took over
    # 0.5 s to answer the batch's checks one by one, and the breaker let a trial through before its end).
    assert await integrations.ml("PHONE", LEADS) == [Check("ERROR", "CIRCUIT_OPEN")] * len(LEADS)
    assert integrations_sim.stats()["ml"]["requests"] == 3
    # Other services have their own breakers.
    assert outcomes(await integrations.phone_black_list(LEADS[:2])) == ["PASS", "PASS"]

    # Still failing at the trial: open again, one request spent.
    await asyncio.sleep(2.1)
    assert (await integrations.ml("DEVICE", LEADS[:2]))[0] == Check("ERROR", "HTTP_500")
    assert integrations_sim.stats()["ml"]["requests"] == 4
    assert integrations.health()["ml"]["state"] == "open"
    assert integrations.health()["ml"]["timesOpened"] == 2

    # Recovered: the trial succeeds and the breaker closes.
    integrations_sim.faults("ml", status=None)
    await asyncio.sleep(2.1)
    assert outcomes(await integrations.ml("DEVICE", LEADS[:5])) == ["PASS"] * 5
    assert integrations.health()["ml"]["state"] == "closed"
    assert integrations_sim.stats()["ml"]["requests"] == 9


async def test_half_open_sends_one_trial_while_others_fail_fast(integrations_sim, start):
    integrations_sim.faults("products", status=503)
    integrations = await start(integration_attempts=1, integration_batch_size=0, integration_concurrency=8,
                               integration_breaker_failures=1, integration_breaker_reset_seconds=0.3)
    await integrations.available_products(LEADS[:1], [])
    assert integrations.health()["products"]["state"] == "open"
    integrations_sim.faults("products", status=None, latency_ms=100)
    await asyncio.sleep(0.4)
    checks = await integrations.available_products(LEADS[:8], [])
    assert sorted(c.reason or "" for c in checks) == [""] + ["CIRCUIT_OPEN"] * 7  # 7 arrived while the trial ran
    assert integrations_sim.stats()["products"]["requests"] == 2


async def test_requests_in_flight_stay_within_the_bound(integrations_sim, start):
    integrations_sim.faults("ml", latency_ms=50)
    integrations = await start(integration_batch_size=0, integration_concurrency=4)
    assert outcomes(await integrations.ml("FACE", LEADS)) == ["PASS"] * len(LEADS)
    assert integrations_sim.stats()["ml"]["maxInFlight"] == 4
    assert integrations.health()["ml"]["maxInFlight"] == 4


async def test_without_a_url_every_check_is_an_error_and_nothing_is_sent(start):
    integrations = await start(integrations_url="")
    assert await integrations.phone_black_list(LEADS[:2]) == [Check("ERROR", "NOT_CONFIGURED")] * 2
    assert await integrations.ml("PHONE", []) == []
    assert integrations.health() == {"configured": False}
