"""Patrols through the API: a guard's run, its flags, the tags, supervisors, the scan view, and attacks."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from pyzbar import pyzbar

from backend.accounts.tables import Account, StaffScope
from backend.patrol import service as patrol
from backend.patrol.rules import LOCAL
from backend.patrol.tables import CheckpointTag, PatrolFlag, PatrolRun, PatrolScan
from qr import svgraster
from qr.tokens import new_plate_token
from roles import Role


def clock(minutes_from_now: int) -> str:
    return (dt.datetime.now(LOCAL) + dt.timedelta(minutes=minutes_from_now)).strftime("%H:%M")


async def seeded_route(world, side: str = "home") -> dict:
    community = world.home if side == "home" else world.other
    headers = await world.headers(Role.PROPERTY, side)
    response = await world.client.get(f"/api/communities/{community}/patrol/routes", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()[0]


async def shift_now(world, route: dict, side: str = "home") -> int:
    """A shift on now, tolerant enough that the seeded checkpoints' times never flag early or late."""
    headers = await world.headers(Role.PROPERTY, side)
    body = {"name": "测试班", "starts": clock(-5), "ends": clock(180), "tolerance_minutes": 240}
    response = await world.client.post(f"/api/patrol/routes/{route['id']}/shifts", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def start(world, shift_id: int, side: str = "home") -> dict:
    headers = await world.headers(Role.PROPERTY, side)
    response = await world.client.post("/api/patrol/runs", json={"shift_id": shift_id}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def scan(world, run_id: int, token: str, side: str = "home", **extra):
    headers = await world.headers(Role.PROPERTY, side)
    return await world.client.post(
        f"/api/patrol/runs/{run_id}/scans", json={"token": token, **extra}, headers=headers
    )


async def test_a_run_records_scans_and_is_flagged_when_it_ends(world):
    route = await seeded_route(world)
    assert len(route["checkpoints"]) == 5 and route["shifts"][0]["starts"] == "22:00"
    run = await start(world, await shift_now(world, route))
    tags = [c["tag"] for c in route["checkpoints"]]
    first = await scan(world, run["id"], tags[0], latitude=30.64, longitude=114.2)
    assert first.status_code == 201, first.text
    for token in (tags[1], tags[3], tags[2]):  # the fifth skipped, the third after the fourth
        assert (await scan(world, run["id"], token)).status_code == 201
    again = await scan(world, run["id"], tags[0])
    assert again.status_code == 409 and again.json()["extra"]["code"] == "already_scanned"

    ended = await world.client.post(
        f"/api/patrol/runs/{run['id']}/end", headers=await world.headers(Role.PROPERTY)
    )
    assert ended.status_code == 200 and ended.json()["status"] == "closed"
    stored = await PatrolFlag.select(PatrolFlag.checkpoint, PatrolFlag.kind).where(
        PatrolFlag.run == run["id"]
    )
    ids = [c["id"] for c in route["checkpoints"]]
    assert sorted((f["checkpoint"], f["kind"]) for f in stored) == sorted(
        [(ids[2], "out_of_order"), (ids[4], "missed")]
    )
    positioned = await PatrolScan.select().where(PatrolScan.run == run["id"]).order_by(PatrolScan.id).first()
    assert (positioned["latitude"], positioned["longitude"]) == (30.64, 114.2)
    late = await scan(world, run["id"], tags[4])
    assert late.status_code == 409 and late.json()["extra"]["code"] == "run_closed"


async def test_supervisors_see_runs_and_flags_and_police_see_patrols_where_a_plate_hangs(world):
    route = await seeded_route(world)
    run = await start(world, await shift_now(world, route))
    await scan(world, run["id"], route["checkpoints"][1]["tag"])  # 1栋楼下
    await world.client.post(f"/api/patrol/runs/{run['id']}/end", headers=await world.headers(Role.PROPERTY))
    for role in (Role.POLICE, Role.PROPERTY, Role.WARDEN):
        runs = await world.client.get(
            f"/api/communities/{world.home}/patrol/runs", headers=await world.headers(role)
        )
        assert runs.status_code == 200
        assert {f["kind"] for f in runs.json()[0]["flags"]} == {"missed"}
    plate = await world.house_plate(world.home_house)  # a flat in 1栋
    for role in (Role.POLICE, Role.WARDEN):
        seen = await world.client.get(f"/api/plates/{plate}/patrols", headers=await world.headers(role))
        assert [p["checkpoint"] for p in seen.json()] == [route["checkpoints"][1]["name"]]
        assert seen.json()[0]["guard"] == "物业 李强"
    for role, side in ((Role.RESIDENT, "home"), (Role.POLICE, "other"), (Role.COMMUNITY_WORKER, "home")):
        refused = await world.client.get(
            f"/api/plates/{plate}/patrols", headers=await world.headers(role, side)
        )
        assert refused.status_code == 403, role
    assert (await world.client.get(f"/api/plates/{plate}/patrols")).status_code == 401
    # The scan itself stays one statement: patrols are asked for beside it.
    view = (await world.client.get(f"/api/scan/{plate}", headers=await world.headers(Role.POLICE))).json()
    assert "patrols" not in view


async def test_a_run_whose_round_is_over_is_flagged_once_by_concurrent_sweeps(world):
    route = await seeded_route(world)
    run = await start(world, await shift_now(world, route))
    await scan(world, run["id"], route["checkpoints"][0]["tag"])
    await PatrolRun.update({PatrolRun.round_end: dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)}).where(
        PatrolRun.id == run["id"]
    )
    closed = await asyncio.gather(*(patrol.close_due_runs(dt.datetime.now(dt.UTC)) for _ in range(3)))
    assert sum(closed) == 1
    flags = await PatrolFlag.select(PatrolFlag.kind).where(PatrolFlag.run == run["id"])
    assert [f["kind"] for f in flags] == ["missed"] * 4
    assert (await PatrolRun.select(PatrolRun.status).where(PatrolRun.id == run["id"]).first())[
        "status"
    ] == "closed"


async def test_a_run_cannot_start_outside_its_shift(world):
    route = await seeded_route(world)
    headers = await world.headers(Role.PROPERTY)
    body = {"name": "过去", "starts": clock(-180), "ends": clock(-60)}
    shift = (
        await world.client.post(f"/api/patrol/routes/{route['id']}/shifts", json=body, headers=headers)
    ).json()
    response = await world.client.post("/api/patrol/runs", json={"shift_id": shift["id"]}, headers=headers)
    assert response.status_code == 409 and response.json()["extra"]["code"] == "outside_shift"


async def test_the_tag_sheet_decodes_back_to_each_checkpoint_url(world):
    route = await seeded_route(world)
    response = await world.client.get(
        f"/api/patrol/routes/{route['id']}/tags.svg", headers=await world.headers(Role.PROPERTY)
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["x-page-count"] == "1"
    page = svgraster.rasterise(response.text, 3.0)
    decoded = {s.data.decode() for s in pyzbar.decode(page.image, symbols=[pyzbar.ZBarSymbol.QRCODE])}
    origin = world.ctx.settings.public_url.rstrip("/")
    assert decoded == {f"{origin}/p/{c['tag']}" for c in route["checkpoints"]}
    assert all(c["name"] in "".join(t.text for t in page.texts) for c in route["checkpoints"])


# --- attacks ---------------------------------------------------------------------------------


async def test_a_guard_of_another_community_cannot_record_this_communitys_checkpoint(world):
    home = await seeded_route(world)
    other = await seeded_route(world, "other")
    run = await start(world, await shift_now(world, other, "other"), "other")
    response = await scan(world, run["id"], home["checkpoints"][0]["tag"], "other")
    assert response.status_code == 422 and response.json()["extra"]["code"] == "not_on_route"
    # Nor start a run on this community's shift.
    refused = await world.client.post(
        "/api/patrol/runs",
        json={"shift_id": await shift_now(world, home)},
        headers=await world.headers(Role.PROPERTY, "other"),
    )
    assert refused.status_code == 403
    assert await PatrolScan.count() == 0


@pytest.mark.parametrize("token", ["forged", "malformed"])
async def test_forged_and_malformed_tags_are_refused(world, token):
    route = await seeded_route(world)
    run = await start(world, await shift_now(world, route))
    value = new_plate_token() if token == "forged" else "../../etc/passwd\x00"
    response = await scan(world, run["id"], value)
    assert response.status_code in (404, 400) and response.json()["detail"]
    assert await PatrolScan.count() == 0


async def test_a_replaced_tag_stops_counting_and_its_successor_counts(world):
    route = await seeded_route(world)
    checkpoint = route["checkpoints"][0]
    replaced = await world.client.post(
        f"/api/patrol/checkpoints/{checkpoint['id']}/tag/replace", headers=await world.headers(Role.PROPERTY)
    )
    assert replaced.status_code == 200 and replaced.json()["token"] != checkpoint["tag"]
    run = await start(world, await shift_now(world, route))
    old = await scan(world, run["id"], checkpoint["tag"])
    assert old.status_code == 404 and old.json()["extra"]["code"] == "unknown_tag"
    assert (await scan(world, run["id"], replaced.json()["token"])).status_code == 201
    assert await CheckpointTag.count().where(CheckpointTag.revoked_at.is_not_null()) == 1


async def test_only_the_runs_own_guard_records_on_it(world):
    route = await seeded_route(world)
    run = await start(world, await shift_now(world, route))
    colleague = Account(phone="13600000077", name="物业 另一位", role=Role.PROPERTY)
    await colleague.save()
    await StaffScope(account=colleague.id, community=world.home).save()
    tokens = await world.sign_in("13600000077")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    body = {"token": route["checkpoints"][0]["tag"]}
    for role_headers in (headers, await world.headers(Role.POLICE), await world.headers(Role.RESIDENT), {}):
        response = await world.client.post(
            f"/api/patrol/runs/{run['id']}/scans", json=body, headers=role_headers
        )
        assert response.status_code in (401, 403), response.text
    assert await PatrolScan.count() == 0


async def test_residents_and_other_roles_cannot_manage_or_start_patrols(world):
    route = await seeded_route(world)
    shift = route["shifts"][0]["id"]
    for role in (Role.RESIDENT, Role.WARDEN, Role.POLICE, Role.MAINTENANCE):
        headers = await world.headers(role)
        started = await world.client.post("/api/patrol/runs", json={"shift_id": shift}, headers=headers)
        made = await world.client.post(
            f"/api/communities/{world.home}/patrol/routes",
            json={"name": "x", "checkpoints": [{"name": "y"}]},
            headers=headers,
        )
        assert (started.status_code, made.status_code) == (403, 403), role


async def test_a_checkpoint_read_by_its_nfc_tag_counts_on_its_own_route_only(world):
    headers = await world.headers(Role.PROPERTY)
    body = {"name": "NFC 路线", "checkpoints": [{"name": "配电房", "nfc_tag": "04:a2:2b:91"}]}
    made = await world.client.post(f"/api/communities/{world.home}/patrol/routes", json=body, headers=headers)
    assert made.status_code == 201, made.text
    seeded = await seeded_route(world)
    run = await start(world, await shift_now(world, seeded))
    elsewhere = await scan(world, run["id"], "", nfc_tag="04:A2:2B:91")
    assert elsewhere.status_code == 422 and elsewhere.json()["extra"]["code"] == "not_on_route"
    nfc_run = await start(world, await shift_now(world, made.json()))
    recorded = await scan(world, nfc_run["id"], "", nfc_tag="04:a2:2b:91")
    assert recorded.status_code == 201, recorded.text
    stored = await PatrolScan.select(PatrolScan.by_nfc).where(PatrolScan.run == nfc_run["id"])
    assert stored == [{"by_nfc": True}]
