"""Campaign admin API: list (paged), get (with task counts), rename/describe (409 on a taken name), a
campaign's tasks paged and filtered by state; supervisors read, admins change."""

from __future__ import annotations

from tests.conftest import bearer, login
from tests.harness import unique


async def test_campaign_crud_and_guards(http, web, make_user):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    supervisor = bearer(await login(http, web[0], await make_user("supervisor")))
    operator = bearer(await login(http, web[0], await make_user("operator")))
    url = f"{web[1]}/api/admin/v1/campaigns"

    name = unique("Кампания ")
    created = await http.post(url, json={"name": name, "description": "Скрипт"}, headers=admin)
    assert created.status_code == 201, created.text
    campaign = created.json()["data"]
    assert campaign["name"] == name and campaign["description"] == "Скрипт" and campaign["id"] >= 1
    other = (await http.post(url, json={"name": unique("Другая ")}, headers=admin)).json()["data"]
    dup = await http.post(url, json={"name": name}, headers=admin)
    assert dup.status_code == 409 and dup.json()["error"] == {
        "code": "CAMPAIGN_EXISTS", "message": "A campaign with this name exists", "field": "name"}

    # GET / was 405: now a page of campaigns, in id order
    listed = await http.get(url, params={"limit": 1000}, headers=supervisor)
    assert listed.status_code == 200
    ids = [c["id"] for c in listed.json()["data"]]
    assert campaign["id"] in ids and other["id"] in ids and ids == sorted(ids)
    page = await http.get(url, params={"limit": 1, "offset": ids.index(other["id"])}, headers=admin)
    assert [c["id"] for c in page.json()["data"]] == [other["id"]]
    assert (await http.get(url, params={"limit": 1001}, headers=admin)).status_code == 400
    assert (await http.get(url, params={"offset": -1}, headers=admin)).json()["error"]["field"] == "offset"
    assert (await http.get(url, headers=operator)).status_code == 403
    assert (await http.get(url)).status_code == 401

    one = await http.get(f"{url}/{campaign['id']}", headers=supervisor)
    assert one.status_code == 200
    assert one.json()["data"]["tasks"] == {"NEW": 0, "IN_PROGRESS": 0, "DONE": 0}
    missing = await http.get(f"{url}/999999999999", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "CAMPAIGN_NOT_FOUND"

    renamed = await http.patch(f"{url}/{campaign['id']}", json={"name": name + " 2"}, headers=admin)
    assert renamed.status_code == 200
    assert renamed.json()["data"]["name"] == name + " 2" and renamed.json()["data"]["description"] == "Скрипт"
    described = await http.patch(f"{url}/{campaign['id']}", json={"description": "Новый скрипт"}, headers=admin)
    assert described.json()["data"] == {**described.json()["data"], "name": name + " 2",
                                        "description": "Новый скрипт"}
    cleared = await http.patch(f"{url}/{campaign['id']}", json={"description": None}, headers=admin)
    assert cleared.json()["data"]["description"] is None
    taken = await http.patch(f"{url}/{campaign['id']}", json={"name": other["name"]}, headers=admin)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "CAMPAIGN_EXISTS"
    assert (await http.patch(f"{url}/999999999999", json={"name": "x"}, headers=admin)).status_code == 404
    assert (await http.patch(f"{url}/{campaign['id']}", json={"name": ""}, headers=admin)).status_code == 400
    assert (await http.patch(f"{url}/{campaign['id']}", json={"name": "y"}, headers=supervisor)).status_code == 403


async def test_campaign_tasks_paged_and_filtered(http, web, make_user, db):
    admin = bearer(await login(http, web[0], await make_user("admin")))
    supervisor = bearer(await login(http, web[0], await make_user("supervisor")))
    url = f"{web[0]}/api/admin/v1/campaigns"
    campaign = (await http.post(url, json={"name": unique("Задачи ")}, headers=admin)).json()["data"]["id"]
    # far in the future: the campaign engine leaves them NEW
    added = []
    for i in range(5):
        r = await http.post(f"{url}/{campaign}/tasks", headers=admin, json={
            "phone": f"7900000{i:04d}", "clientInfo": {"firstName": f"Клиент {i}"}, "taskTime": "2099-01-01T10:00:00Z"})
        assert r.status_code == 201, r.text
        added.append(r.json()["data"]["campaignTaskId"])
    await db.execute("UPDATE campaign_tasks SET task_state = 'DONE' WHERE id = $1", added[0])

    tasks = f"{url}/{campaign}/tasks"
    everything = (await http.get(tasks, headers=supervisor)).json()["data"]
    assert [t["id"] for t in everything] == added
    assert everything[1]["phone"] == "79000000001" and everything[1]["clientInfo"] == {"firstName": "Клиент 1"}
    assert everything[1]["taskState"] == "NEW" and everything[1]["taskTime"].startswith("2099-01-01T10:00:00")
    second_page = (await http.get(tasks, params={"limit": 2, "offset": 2}, headers=admin)).json()["data"]
    assert [t["id"] for t in second_page] == added[2:4]
    done = (await http.get(tasks, params={"state": "DONE"}, headers=admin)).json()["data"]
    assert [t["id"] for t in done] == [added[0]]
    new = (await http.get(tasks, params={"state": "NEW", "limit": 10}, headers=admin)).json()["data"]
    assert [t["id"] for t in new] == added[1:]
    assert (await http.get(tasks, params={"state": "LOST"}, headers=admin)).json()["error"]["field"] == "state"
    assert (await http.get(tasks, params={"limit": 0}, headers=admin)).status_code == 400
    assert (await http.get(tasks, params={"limit": 1001}, headers=admin)).status_code == 400
    assert (await http.get(tasks, params={"offset": 100}, headers=admin)).json()["data"] == []
    unknown = await http.get(f"{url}/999999999999/tasks", headers=admin)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "CAMPAIGN_NOT_FOUND"

    counted = (await http.get(f"{url}/{campaign}", headers=admin)).json()["data"]["tasks"]
    assert counted == {"NEW": 4, "IN_PROGRESS": 0, "DONE": 1}
