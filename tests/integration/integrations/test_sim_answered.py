"""The simulator's record of real answers (GET /_control/answered), which the fault suite's invariant "no lead
passed an integration filter without the service's answer" reads: a lead counts as answered only after a 200
with the service's JSON — never after an injected error or a garbage body."""

from __future__ import annotations

import httpx


def test_answered_lists_only_leads_that_got_a_real_answer(integrations_sim) -> None:
    integrations_sim.reset()
    url = integrations_sim.url
    item = {"applicationNo": 101, "phone": "79990000101"}
    integrations_sim.faults("ml", status=503)
    assert httpx.post(f"{url}/ml/api/v1/models/PHONE/score", json=item).status_code == 503
    integrations_sim.faults("ml", status=None, garbage=True)
    assert httpx.post(f"{url}/ml/api/v1/models/PHONE/score", json=item).status_code == 200
    assert integrations_sim.answered() == {}

    integrations_sim.faults("ml", garbage=False)
    r = httpx.post(f"{url}/ml/api/v1/models/PHONE/score-batch", json={"items": [item, {"applicationNo": 102}]})
    assert r.status_code == 200 and len(r.json()["results"]) == 2
    r = httpx.post(f"{url}/blacklist/api/v2/records/search",
                   json={"query": {"$or": [{"phone": "79990000101"}, {"device_id": "d-1"}]}})
    assert r.json() == {"records": [], "total": 0}  # the record of who was asked never leaks into the answer
    httpx.post(f"{url}/products/api/v1/offers", json={"applicationNo": 103, "clientType": "pioneer"})
    assert integrations_sim.answered() == {"ml:PHONE": [101, 102], "blacklist": ["79990000101"], "products": [103]}
    integrations_sim.reset()
    assert integrations_sim.answered() == {}
