"""A phone put on the do-not-call list is dialled no more, also when its task already waits in the provider's
queue: the hand-over's check alone let such a client be rung once (the faults suite counted it apart)."""

from __future__ import annotations

from tests.conftest import bearer, login
from tests.integration.telephony.test_faults import _campaign_task, _provider_tasks


async def test_a_phone_put_on_the_list_is_withdrawn_from_the_providers_queue(http, stack):
    st = await stack()
    await st.sim(http, "POST", "/_config", {"autoDial": False})  # the tasks wait at the provider, unrung
    barred, other = await _campaign_task(http, st, "79990007001"), await _campaign_task(http, st, "79990007002")

    async def queued(task):
        async def at_provider():
            tasks = await _provider_tasks(http, st, task)
            return tasks if tasks and tasks[0]["status"] == "NEW" else None
        return await st.wait_for(at_provider, timeout=15)
    await queued(barred)
    await queued(other)

    admin = bearer(await login(http, st.web.url, await st.user("admin")))
    r = await http.post(f"{st.web.url}/api/admin/v1/do-not-call", headers=admin,
                        json={"phone": "79990007001", "reason": "Клиент просил не звонить"})
    assert r.status_code == 200, r.text

    async def cancelled():
        tasks = await _provider_tasks(http, st, barred)
        return tasks if tasks[0]["status"] == "CANCELLED" else None
    await st.wait_for(cancelled, timeout=15)
    row = await st.db.fetchrow("SELECT task_state, close_reason FROM campaign_tasks WHERE id = $1", barred)
    assert (row["task_state"], row["close_reason"]) == ("DONE", "DO_NOT_CALL")
    # The other client's dial stays queued.
    assert [t["status"] for t in await _provider_tasks(http, st, other)] == ["NEW"]
    assert await st.db.fetchval("SELECT task_state FROM campaign_tasks WHERE id = $1", other) == "IN_PROGRESS"


async def test_a_list_imported_from_csv_closes_the_waiting_tasks_of_its_phones(http, stack):
    st = await stack()
    admin = bearer(await login(http, st.web.url, await st.user("admin")))
    campaign = (await http.post(f"{st.web.url}/api/admin/v1/campaigns", json={"name": "recall"},
                                headers=admin)).json()["data"]["id"]
    later = {"taskTime": "2099-01-01T10:00:00+03:00"}  # a recall far ahead: not handed over yet
    tasks = [(await http.post(f"{st.web.url}/api/admin/v1/campaigns/{campaign}/tasks", headers=admin,
                              json={"phone": phone, **later})).json()["data"]["campaignTaskId"]
             for phone in ("79990007011", "79990007012")]
    r = await http.post(f"{st.web.url}/api/admin/v1/do-not-call/import", headers=admin,
                        json={"csv": "phone,until,reason\n79990007011,,жалоба\n"})
    assert r.status_code == 200 and r.json()["data"]["stored"] == 1, r.text
    rows = await st.db.fetch("SELECT id, task_state, close_reason FROM campaign_tasks WHERE id = ANY($1) ORDER BY id",
                             tasks)
    assert [(r["task_state"], r["close_reason"]) for r in rows] == [("DONE", "DO_NOT_CALL"), ("NEW", None)]
    assert not await st.db.fetchval("SELECT count(*) FROM telephony_tasks WHERE task_type = 'DELETE'")
