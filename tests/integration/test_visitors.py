"""Visitor passes: invitations, walk-ins, the share link and doors that verify passes offline.

Doors are real: the share link's "open" goes through the access domain's signed command over
Mosquitto to a simulated device, and a pass shown at a simulated door is verified there with
only the community's public key, then reported through the bridge.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from backend.access.tables import AccessRecord, Door
from backend.audit.tables import AuditEntry
from backend.devices.tables import Device
from backend.registry.enums import ResidencyStatus
from backend.registry.tables import House, Residency
from backend.visitors.tables import Visit, VisitorPass
from qr import passes
from roles import Role
from tests.integration.test_bridge import eventually
from tests.integration.test_doors import opened, simulated, unit_door
from tests.integration.test_registration import FORM

REFUSED_AT_DOOR = (AccessRecord.method == "qr_pass") & (AccessRecord.granted == False)  # noqa: E712


def _at(hours: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def invitation(world, **changes) -> dict:
    return {
        "house_id": world.home_house,
        "visitor_name": "李 访客",
        "phone": "13611112222",
        "valid_from": _at(-0.1),
        "valid_until": _at(4),
        **changes,
    }


async def invite(world, **changes) -> dict:
    response = await world.client.post(
        "/api/passes", json=invitation(world, **changes), headers=await world.headers(Role.RESIDENT)
    )
    assert response.status_code == 201, response.text
    return response.json()


def share_of(issued: dict) -> str:
    return issued["share_url"].rsplit("/v/", 1)[1]


async def gate(world, community=None) -> dict:
    return (
        await Door.select()
        .where((Door.community == (community or world.home)) & (Door.kind == "gate"))
        .first()
    )


async def device_code(door: dict) -> str:
    return (await Device.select(Device.code).where(Device.id == door["device"]).first())["code"]


async def open_by_link(world, share: str, door_id: int, key: str | None = None):
    headers = {"Idempotency-Key": key} if key else {}
    return await world.client.post(f"/api/shared-passes/{share}/doors/{door_id}/open", headers=headers)


async def uses_left(pass_id: int) -> int:
    return (await VisitorPass.select(VisitorPass.uses_left).where(VisitorPass.id == pass_id).first())[
        "uses_left"
    ]


# --- issuing -------------------------------------------------------------------------------------


async def test_a_resident_invites_a_visitor_to_the_gate_and_their_unit_door(world):
    issued = await invite(world, plate="鄂AD12345")
    visitor_pass = issued["visitor_pass"]
    assert {d["kind"] for d in visitor_pass["doors"]} == {"gate", "unit"}
    assert (await unit_door(world))["id"] in [d["id"] for d in visitor_pass["doors"]]
    assert visitor_pass["status"] == "active" and visitor_pass["plate"] == "鄂AD12345"
    row = await VisitorPass.objects().get(VisitorPass.id == visitor_pass["id"])
    # The phone (FK_SJHM) is sealed at rest; the share token is kept only as a keyed digest.
    assert "13611112222" not in row.phone_sealed and world.ctx.keys.unseal(row.phone_sealed) == "13611112222"
    assert share_of(issued) not in row.share_hash and row.share_hash == world.ctx.keys.secret_digest(
        share_of(issued)
    )
    listed = (await world.client.get("/api/passes", headers=await world.headers(Role.RESIDENT))).json()
    assert [p["id"] for p in listed][0] == visitor_pass["id"]
    assert listed[0]["phone"] != "13611112222"  # masked in the list


async def test_a_resident_with_one_home_need_not_name_it(world):
    body = {k: v for k, v in invitation(world).items() if k != "house_id"}
    response = await world.client.post("/api/passes", json=body, headers=await world.headers(Role.RESIDENT))
    assert response.status_code == 201 and response.json()["visitor_pass"]["house_id"] == world.home_house
    staff = await world.client.post("/api/passes", json=body, headers=await world.headers(Role.PROPERTY))
    assert staff.status_code == 403


async def test_a_resident_cannot_issue_for_doors_they_cannot_open(world):
    headers = await world.headers(Role.RESIDENT)
    next_unit = (
        await Door.select().where((Door.community == world.home) & (Door.kind == "unit")).order_by(Door.id)
    )[1]
    refused = await world.client.post(
        "/api/passes", json=invitation(world, door_ids=[next_unit["id"]]), headers=headers
    )
    assert refused.status_code == 403 and refused.json()["extra"]["code"] == "door_not_allowed"
    other_gate = await gate(world, world.other)
    refused = await world.client.post(
        "/api/passes", json=invitation(world, door_ids=[other_gate["id"]]), headers=headers
    )
    assert refused.status_code == 403
    assert await VisitorPass.count().where(VisitorPass.issued_by != None) == 2  # noqa: E711 - the seed's only


async def test_no_pass_for_another_communitys_flat_nor_by_staff(world):
    other = await world.client.post(
        "/api/passes",
        json=invitation(world, house_id=world.other_house),
        headers=await world.headers(Role.RESIDENT),
    )
    assert other.status_code == 403
    for role in (Role.WARDEN, Role.PROPERTY):
        staff = await world.client.post(
            "/api/passes", json=invitation(world), headers=await world.headers(role)
        )
        assert staff.status_code == 403, role


async def test_an_unverified_resident_is_refused(world):
    headers = await world.headers(Role.RESIDENT)
    await Residency.update({Residency.status: ResidencyStatus.PENDING}).where(
        Residency.house == world.home_house
    )
    response = await world.client.post("/api/passes", json=invitation(world), headers=headers)
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"valid_until": _at(24 * 8)}, "pass_too_long"),
        ({"valid_until": _at(-1)}, "invalid_period"),
        ({"plate": "鄂A1234"}, "invalid_plate"),
        ({"plate": "鄂AI2345"}, "invalid_plate"),  # no letter I on plates
        ({"phone": "12345"}, "invalid_phone"),
        ({"visitor_name": "李\u202e访客"}, "invalid_characters"),
    ],
)
async def test_bad_passes_are_clear_422s(world, changes, code):
    response = await world.client.post(
        "/api/passes", json=invitation(world, **changes), headers=await world.headers(Role.RESIDENT)
    )
    assert response.status_code == 422 and response.json()["extra"]["code"] == code, response.text


@pytest.mark.parametrize("plate", ["鄂A12345", "鄂AD12345", "鄂A12345F", "京B1234学"])
async def test_chinese_plates_are_accepted(world, plate):
    assert (await invite(world, plate=plate))["visitor_pass"]["plate"] == plate


# --- walk-ins ----------------------------------------------------------------------------------


def walk_in(house_id: int, **changes) -> dict:
    return {
        "house_id": house_id,
        "visitor_name": "赵 访客",
        "id_type": "111",
        "id_number": FORM["id_number"],
        "valid_until": _at(2),
        **changes,
    }


async def test_a_walk_in_waits_for_the_household_where_the_community_asks_it(world):
    guard = await world.headers(Role.PROPERTY)
    response = await world.client.post("/api/walk-ins", json=walk_in(world.home_house), headers=guard)
    assert response.status_code == 201, response.text
    issued = response.json()
    pass_id, share = issued["visitor_pass"]["id"], share_of(issued)
    row = await VisitorPass.objects().get(VisitorPass.id == pass_id)
    assert FORM["id_number"] not in row.id_number_sealed
    assert world.ctx.keys.unseal(row.id_number_sealed) == FORM["id_number"]
    waiting = (await world.client.get(f"/api/shared-passes/{share}")).json()
    assert waiting["refusal"] == "not_confirmed" and waiting["token"] == "" and waiting["qr_image"] == ""
    refused = await open_by_link(world, share, (await gate(world))["id"])
    assert refused.status_code == 403 and refused.json()["extra"]["code"] == "not_confirmed"

    resident = await world.headers(Role.RESIDENT)
    confirmed = await world.client.post(f"/api/passes/{pass_id}/confirm", headers=resident)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "active"
    shown = (await world.client.get(f"/api/shared-passes/{share}")).json()
    assert shown["refusal"] == "" and shown["token"] and shown["qr_image"].startswith("data:image/svg+xml")
    again = await world.client.post(f"/api/passes/{pass_id}/confirm", headers=resident)
    assert again.status_code == 409


async def test_walk_ins_elsewhere_need_no_confirmation_and_only_their_guard_desk(world):
    other_house = world.other_house
    own_guard = await world.headers(Role.PROPERTY, "other")
    response = await world.client.post("/api/walk-ins", json=walk_in(other_house), headers=own_guard)
    assert response.status_code == 201 and response.json()["visitor_pass"]["status"] == "active"
    for role, community in ((Role.PROPERTY, "home"), (Role.WARDEN, "other"), (Role.RESIDENT, "home")):
        refused = await world.client.post(
            "/api/walk-ins", json=walk_in(other_house), headers=await world.headers(role, community)
        )
        assert refused.status_code == 403, (role, community)


async def test_the_guard_desk_picks_from_its_own_communitys_flats_only(world):
    path = f"/api/communities/{world.home}/desk/houses"
    response = await world.client.get(path, headers=await world.headers(Role.PROPERTY))
    assert response.status_code == 200
    listed = response.json()
    flats = await House.select(House.id, House.address.text).where(House.community == world.home)
    assert sorted(f["id"] for f in listed) == sorted(f["id"] for f in flats)
    assert {f["address"] for f in listed} == {f["address.text"] for f in flats}
    assert all(set(f) == {"id", "address"} for f in listed)  # addresses, no one's name
    for role, community in ((Role.PROPERTY, "other"), (Role.RESIDENT, "home"), (Role.POLICE, "home")):
        refused = await world.client.get(path, headers=await world.headers(role, community))
        assert refused.status_code == 403, (role, community)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"id_number": "11010519491231002Y"}, "invalid_id_number"),
        ({"id_number": "110105194912310021"}, "invalid_id_number"),  # wrong check digit
        ({"id_type": "414"}, "invalid_id_type"),
    ],
)
async def test_a_walk_in_needs_a_valid_resident_id(world, changes, code):
    response = await world.client.post(
        "/api/walk-ins", json=walk_in(world.home_house, **changes), headers=await world.headers(Role.PROPERTY)
    )
    assert response.status_code == 422 and response.json()["extra"]["code"] == code, response.text


# --- the share link ------------------------------------------------------------------------------


async def test_the_share_link_opens_the_gate_through_the_door_device_and_counts_uses(world, settings):
    issued = await invite(world, uses=2)
    pass_id, share = issued["visitor_pass"]["id"], share_of(issued)
    door = await gate(world)
    shown = (await world.client.get(f"/api/shared-passes/{share}")).json()
    claims = passes.verify(
        shown["token"],
        passes.public_key(world.ctx.keys.pass_public_key(world.home)),
        door["id"],
        datetime.now(UTC),
    )
    assert isinstance(claims, passes.Claims) and claims.pass_id == pass_id
    async with simulated(world, settings) as simulator:
        first = await open_by_link(world, share, door["id"], key="tap-visitor-0001")
        assert first.status_code == 200 and first.json()["opened"] is True, first.text
        assert first.json()["command_id"] in opened(simulator)
        retried = await open_by_link(world, share, door["id"], key="tap-visitor-0001")
        assert retried.json()["command_id"] == first.json()["command_id"]
        assert await uses_left(pass_id) == 1  # a retried tap takes no second use
        second = await open_by_link(world, share, door["id"])
        assert second.status_code == 200
        used_up = await open_by_link(world, share, door["id"])
        assert used_up.status_code == 403 and used_up.json()["extra"]["code"] == "used_up"
    records = await AccessRecord.select().where(AccessRecord.credential == f"pass:{pass_id}")
    assert len(records) == 2 and all(
        r["method"] == "qr_pass" and r["door"] == door["id"] and r["granted"] for r in records
    )
    visits = await Visit.select().where(Visit.visitor_pass == pass_id).order_by(Visit.id)
    assert [(v["granted"], v["reason"]) for v in visits] == [(True, ""), (True, ""), (False, "used_up")]
    assert await uses_left(pass_id) == 0


async def test_wrong_door_revoked_and_expired_are_refused_with_a_reason(world):
    issued = await invite(world)
    pass_id, share = issued["visitor_pass"]["id"], share_of(issued)
    next_unit = (
        await Door.select().where((Door.community == world.home) & (Door.kind == "unit")).order_by(Door.id)
    )[1]
    wrong = await open_by_link(world, share, next_unit["id"])
    assert wrong.status_code == 403 and wrong.json()["extra"]["code"] == "wrong_door"
    assert "This pass does not open this door" in wrong.json()["detail"]
    revoked = await world.client.post(
        f"/api/passes/{pass_id}/revoke", headers=await world.headers(Role.RESIDENT)
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    refused = await open_by_link(world, share, (await gate(world))["id"])
    assert refused.status_code == 403 and refused.json()["extra"]["code"] == "revoked"
    assert (await world.client.get(f"/api/shared-passes/{share}")).json()["refusal"] == "revoked"
    past = datetime.now(UTC) - timedelta(hours=1)
    await VisitorPass.update({VisitorPass.status: "active", VisitorPass.valid_until: past}).where(
        VisitorPass.id == pass_id
    )
    expired = await open_by_link(world, share, (await gate(world))["id"])
    assert expired.status_code == 403 and expired.json()["extra"]["code"] == "expired"
    assert await uses_left(pass_id) == 4


async def test_the_household_and_field_staff_see_the_visits_and_staff_reads_are_audited(world):
    issued = await invite(world)
    pass_id, share = issued["visitor_pass"]["id"], share_of(issued)
    next_unit = (
        await Door.select().where((Door.community == world.home) & (Door.kind == "unit")).order_by(Door.id)
    )[1]
    await open_by_link(world, share, next_unit["id"])
    seen = await world.client.get(f"/api/passes/{pass_id}/visits", headers=await world.headers(Role.RESIDENT))
    assert [(v["door_id"], v["granted"], v["reason"], v["via"]) for v in seen.json()] == [
        (next_unit["id"], False, "wrong_door", "link")
    ]
    warden = await world.client.get(f"/api/passes/{pass_id}/visits", headers=await world.headers(Role.WARDEN))
    assert warden.json() == seen.json()
    audited = await AuditEntry.select().where(AuditEntry.action == "view_visits")
    assert [(a["subject"], a["actor_role"]) for a in audited] == [(f"pass:{pass_id}", "warden")]
    other = await world.client.get(
        f"/api/passes/{pass_id}/visits", headers=await world.headers(Role.WARDEN, "other")
    )
    assert other.status_code == 403


async def test_an_offline_gate_takes_no_use_and_the_try_is_recorded(world):
    issued = await invite(world)
    pass_id, share = issued["visitor_pass"]["id"], share_of(issued)
    door = await gate(world)
    await Device.update({Device.online: False}).where(Device.id == door["device"])
    response = await open_by_link(world, share, door["id"], key="tap-offline-01")
    assert response.status_code == 503 and response.json()["extra"]["code"] == "device_offline"
    assert await uses_left(pass_id) == 4
    visit = await Visit.objects().get(Visit.visitor_pass == pass_id)
    assert (visit.granted, visit.reason) == (False, "device_offline")
    # The retry tries the door again (and would take the use if it opened).
    again = await open_by_link(world, share, door["id"], key="tap-offline-01")
    assert again.status_code == 503 and await Visit.count().where(Visit.visitor_pass == pass_id) == 2
    assert await uses_left(pass_id) == 4


async def test_a_retried_refusal_is_refused_again_without_touching_the_door(world):
    issued = await invite(world)
    share = share_of(issued)
    next_unit = (
        await Door.select().where((Door.community == world.home) & (Door.kind == "unit")).order_by(Door.id)
    )[1]
    for _ in range(2):
        response = await open_by_link(world, share, next_unit["id"], key="tap-wrong-door")
        assert response.status_code == 403 and response.json()["extra"]["code"] == "wrong_door"
    assert await Visit.count().where(Visit.visitor_pass == issued["visitor_pass"]["id"]) == 1
    assert await AccessRecord.count() == 0


# --- attackers ------------------------------------------------------------------------------------


async def test_guessed_share_tokens_find_nothing_and_run_out_of_budget(world):
    await invite(world)
    statuses = []
    for _ in range(world.ctx.settings.scan_misses_per_minute + 2):
        guess = secrets.token_urlsafe(16)
        statuses.append((await world.client.get(f"/api/shared-passes/{guess}")).status_code)
    assert set(statuses[:-2]) == {404} and statuses[-1] == 429
    assert (await world.client.post(f"/api/shared-passes/{'x' * 22}/doors/1/open")).status_code == 429


async def test_a_resident_cannot_revoke_or_confirm_someone_elses_pass(world):
    neighbour = (await House.select(House.id).where(House.community == world.home).order_by(House.id))[1][
        "id"
    ]
    guard = await world.headers(Role.PROPERTY)
    theirs = (await world.client.post("/api/walk-ins", json=walk_in(neighbour), headers=guard)).json()
    pass_id = theirs["visitor_pass"]["id"]
    resident = await world.headers(Role.RESIDENT)
    for action in ("revoke", "confirm"):
        response = await world.client.post(f"/api/passes/{pass_id}/{action}", headers=resident)
        assert response.status_code == 403, action
    other = await VisitorPass.select(VisitorPass.id).where(VisitorPass.community == world.other).first()
    assert (await world.client.post(f"/api/passes/{other['id']}/revoke", headers=resident)).status_code == 403
    assert await VisitorPass.count().where(VisitorPass.status == "revoked") == 0
    listed = (await world.client.get("/api/passes", headers=resident)).json()
    assert pass_id not in [p["id"] for p in listed]


async def test_anonymous_callers_list_and_change_nothing(world):
    issued = await invite(world)
    pass_id = issued["visitor_pass"]["id"]
    assert (await world.client.get("/api/passes")).status_code == 401
    assert (await world.client.post(f"/api/passes/{pass_id}/revoke")).status_code == 401
    assert (await world.client.post("/api/passes", json=invitation(world))).status_code == 401
    # The share link shows its own pass and nothing of the household's.
    shown = (await world.client.get(f"/api/shared-passes/{share_of(issued)}")).json()
    assert set(shown) == {
        "visitor_name",
        "community",
        "status",
        "doors",
        "valid_from",
        "valid_until",
        "uses_left",
        "refusal",
        "token",
        "qr_image",
    }


# --- offline at the door ---------------------------------------------------------------------------


async def test_a_door_verifies_a_pass_offline_and_the_server_counts_and_refuses(world, settings):
    issued = await invite(world, uses=1)
    pass_id, share = issued["visitor_pass"]["id"], share_of(issued)
    token = (await world.client.get(f"/api/shared-passes/{share}")).json()["token"]
    door = await gate(world)
    code = await device_code(door)
    key = (await world.client.get(f"/api/communities/{world.home}/pass-key")).json()
    async with simulated(world, settings) as simulator:
        assert simulator.devices[code].spec.pass_key == base64.b64decode(key["public_key"])
        assert isinstance(await simulator.present(code, token), passes.Claims)
        await eventually(lambda: Visit.count().where(Visit.visitor_pass == pass_id), 5)
        assert await uses_left(pass_id) == 0
        # Offline the door cannot know the pass is used up: it opens, the server records the refusal.
        assert isinstance(await simulator.present(code, token), passes.Claims)
        tampered = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
        assert await simulator.present(code, tampered) is passes.Refusal.TAMPERED
        next_unit = (
            await Door.select()
            .where((Door.community == world.home) & (Door.kind == "unit"))
            .order_by(Door.id)
        )[1]
        assert await simulator.present(await device_code(next_unit), token) is passes.Refusal.WRONG_DOOR
        await eventually(lambda: _refused_at_doors(2), 5)
        await eventually(lambda: _visits_at_least(pass_id, 2), 5)
    visits = await Visit.select().where(Visit.visitor_pass == pass_id).order_by(Visit.id)
    assert [(v["via"], v["granted"], v["reason"], v["door"]) for v in visits] == [
        ("device", True, "", door["id"]),
        ("device", False, "used_up", door["id"]),
    ]
    # The forged and the wrong-door ones name no pass: the doors refused them, recorded as such.
    refused = await AccessRecord.select().where(REFUSED_AT_DOOR)
    assert [r["credential"] for r in refused] == ["", ""]


async def _refused_at_doors(count: int) -> bool:
    return await AccessRecord.count().where(REFUSED_AT_DOOR) >= count


async def test_a_revoked_pass_shown_at_a_door_is_recorded_as_refused(world, settings):
    issued = await invite(world)
    pass_id = issued["visitor_pass"]["id"]
    token = (await world.client.get(f"/api/shared-passes/{share_of(issued)}")).json()["token"]
    await world.client.post(f"/api/passes/{pass_id}/revoke", headers=await world.headers(Role.RESIDENT))
    door = await gate(world)
    async with simulated(world, settings) as simulator:
        await simulator.present(await device_code(door), token)
        await eventually(lambda: Visit.count().where(Visit.visitor_pass == pass_id), 5)
    visit = await Visit.objects().get(Visit.visitor_pass == pass_id)
    assert (visit.granted, visit.reason, visit.door) == (False, "revoked", door["id"])
    assert await uses_left(pass_id) == 4


async def _visits_at_least(pass_id: int, count: int) -> bool:
    return await Visit.count().where(Visit.visitor_pass == pass_id) >= count
