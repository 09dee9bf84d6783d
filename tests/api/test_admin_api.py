"""The admin API: token, request logs, statistics and the blacklist."""

import httpx

from tests.gateway import KEY


async def test_the_admin_api_needs_the_token(gateway):
    bare = httpx.AsyncClient(base_url=str(gateway.admin.base_url))
    assert (await bare.get("/admin/accounts/acme/blacklist")).status_code == 401
    wrong = await bare.get(
        "/admin/accounts/acme/blacklist", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert (await bare.get("/metrics")).status_code == 200, "metrics need no token"


async def test_blacklist_add_list_export_and_remove(gateway):
    added = await gateway.admin.post(
        "/admin/accounts/acme/blacklist",
        json={"msisdn": "+32 470 00 00 01", "note": "asked by phone"},
    )
    assert added.status_code == 201 and added.json()["msisdn"] == "32470000001"
    again = await gateway.admin.post(
        "/admin/accounts/acme/blacklist", json={"msisdn": "32470000001"}
    )
    assert again.status_code == 200 and again.json()["added"] is False
    refused = (await gateway.send(to="32470000001", message="x"))["Messages"][0]
    assert refused["ResultCode"] == 32
    listing = (await gateway.admin.get("/admin/accounts/acme/blacklist")).json()
    assert [(e["msisdn"], e["source"], e["note"]) for e in listing["entries"]] == [
        ("32470000001", "admin", "asked by phone")
    ]
    csv = (await gateway.admin.get("/admin/accounts/acme/blacklist.csv")).text
    assert csv.splitlines()[0] == "msisdn,source,note,time_created"
    assert csv.splitlines()[1].startswith("32470000001,admin,asked by phone,")
    removed = await gateway.admin.delete("/admin/accounts/acme/blacklist/32470000001")
    assert removed.status_code == 200
    assert (
        await gateway.admin.delete("/admin/accounts/acme/blacklist/32470000001")
    ).status_code == 404
    assert (await gateway.send(to="32470000001", message="x"))["Messages"][0]["ResultCode"] == 0
    bad = await gateway.admin.post("/admin/accounts/acme/blacklist", json={"msisdn": "12"})
    assert bad.status_code == 400
    assert (await gateway.admin.get("/admin/accounts/nobody/blacklist")).status_code == 404


async def test_statistics_count_messages_by_day_and_status(gateway):
    await gateway.send(to="32470000001", message="x", timeScheduled="01-01-2099 10:00")
    await gateway.send(to="32470000002", message="y", timeScheduled="01-01-2099 10:00")
    stats = (await gateway.admin.get("/admin/applications/shop/stats?days=1")).json()
    assert stats["days"][0]["statuses"] == {"Scheduled": 2} and stats["days"][0]["total"] == 2
    assert (await gateway.admin.get("/admin/applications/none/stats")).status_code == 404


async def test_logs_are_read_back_for_an_application_in_debug_mode(gateway_factory):
    gateway = await gateway_factory(
        accounts_patch=lambda text: text.replace(
            "    blacklist: true", "    blacklist: true\n    debug: true", 1
        )
    )
    await gateway.send(to="32470000001", message="logged")
    logs = (await gateway.admin.get("/admin/applications/shop/logs?limit=5")).json()["logs"]
    assert len(logs) == 1 and logs[0]["status_code"] == 200
    assert KEY not in logs[0]["request_body"] and "logged" in logs[0]["request_body"]
