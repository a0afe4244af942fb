"""The administration API the /admin screen uses: the community's staff list (an audited read), a
device's new secret (stored sealed, shown once, the old one gone, a running bridge taking it at once),
and the printable plate sheet."""

from __future__ import annotations

import asyncio
import datetime as dt

from backend.access.tables import AccessGrant
from backend.accounts.tables import Account as AccountRow
from backend.audit.tables import AuditEntry
from backend.devices.tables import Device, DeviceEvent, DeviceKind
from device_bridge.acl import device_password
from device_bridge.bridge import running
from roles import Role
from tests.integration.test_bridge import ACCESS, Fleet, eventually, new_bridge


async def test_an_admin_lists_the_communitys_staff_with_scopes_and_the_read_is_audited(world):
    admin = await world.headers(Role.DISTRICT_ADMIN)
    body = {"phone": "13611113333", "name": "新物业", "role": "property", "community_ids": [world.home]}
    created = (await world.client.post("/api/staff", json=body, headers=admin)).json()
    await world.client.patch(f"/api/staff/{created['id']}", json={"active": False}, headers=admin)

    listed = await world.client.get(f"/api/communities/{world.home}/staff", headers=admin)
    assert listed.status_code == 200
    mine = {s["id"]: s for s in listed.json()}[created["id"]]
    assert mine["active"] is False and mine["community_ids"] == [world.home] and mine["district_ids"] == []
    assert world.phone(Role.WARDEN) in {s["phone"] for s in listed.json()}  # the seeded staff, too
    others = await world.client.get(f"/api/communities/{world.other}/staff", headers=admin)
    assert created["id"] not in {s["id"] for s in others.json()}
    assert await AuditEntry.exists().where(AuditEntry.action == "list_staff")


async def test_a_device_gets_a_new_secret_shown_once_and_the_old_one_is_gone(world):
    device = (
        await Device.objects()
        .where((Device.community == world.home) & (Device.kind == DeviceKind.SCREEN))
        .first()
    )
    before = world.ctx.keys.unseal(device.secret_sealed)
    maintenance = await world.headers(Role.MAINTENANCE)
    rotated = await world.client.post(f"/api/devices/{device.id}/secret", headers=maintenance)
    assert rotated.status_code == 200
    answer = rotated.json()
    stored = world.ctx.keys.unseal((await Device.objects().get(Device.id == device.id)).secret_sealed)
    assert answer["secret"] == stored != before
    assert answer["mqtt_username"] == device.code
    assert answer["mqtt_password"] == device_password(stored.encode())
    assert answer["topic_prefix"].endswith(f"/{device.code}")
    listed = await world.client.get(f"/api/communities/{world.home}/devices", headers=maintenance)
    assert "secret" not in listed.text and stored not in listed.text  # never shown again
    refused = await world.client.post(
        f"/api/devices/{device.id}/secret", headers=await world.headers(Role.MAINTENANCE, "other")
    )
    assert refused.status_code == 403
    unknown = await world.client.post("/api/devices/999999/secret", headers=maintenance)
    assert unknown.status_code == 404


async def test_the_plate_sheet_is_a_printable_svg_page_of_live_plates(world):
    property_staff = await world.headers(Role.PROPERTY)
    sheet = await world.client.get(f"/api/communities/{world.home}/plates.svg", headers=property_staff)
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("image/svg+xml")
    pages = int(sheet.headers["x-page-count"])
    assert pages >= 1 and sheet.text.lstrip().startswith("<") and "<svg" in sheet.text
    last = await world.client.get(
        f"/api/communities/{world.home}/plates.svg", params={"page": pages}, headers=property_staff
    )
    assert last.status_code == 200
    beyond = await world.client.get(
        f"/api/communities/{world.home}/plates.svg", params={"page": pages + 1}, headers=property_staff
    )
    assert beyond.status_code == 404 and beyond.json()["extra"]["code"] == "no_such_page"


async def test_a_running_bridge_takes_a_rotated_secret_at_once_and_refuses_the_old_one(world, settings):
    fleet = Fleet(world, settings)
    device, _, old = await fleet.device(DeviceKind.FACE_GATE)
    bridge = new_bridge(world, settings)
    bridge.directory.RELOAD_AT_MOST_EVERY = 0.0  # the test does not wait out the reload window
    async with running(bridge):
        rotated = await world.client.post(
            f"/api/devices/{device.id}/secret", headers=await world.headers(Role.MAINTENANCE)
        )
        new = rotated.json()["secret"].encode()
        await fleet.publish(DeviceKind.FACE_GATE, [("after-rotation", "access", ACCESS)], secret=new)
        await fleet.publish(DeviceKind.FACE_GATE, [("old-secret", "access", ACCESS)], secret=old)
        await eventually(lambda: asyncio.sleep(0, bridge.counts["accepted"] + bridge.counts["forged"] == 2))
    assert bridge.counts["accepted"] == 1 and bridge.counts["forged"] == 1
    assert await DeviceEvent.select(DeviceEvent.key).output(as_list=True) == [f"{device.id}:after-rotation"]


async def test_the_communitys_grants_that_have_not_ended_are_listed_with_whom_they_let_in(world):
    admin = await world.headers(Role.PROPERTY)
    warden = (
        await AccountRow.select(AccountRow.id).where(AccountRow.phone == world.phone(Role.WARDEN)).first()
    )
    now = dt.datetime.now(dt.UTC)
    for days, reason in ((1, "消防检查"), (-1, "已过期")):
        start, end = sorted([now - dt.timedelta(days=2), now + dt.timedelta(days=days)])
        await AccessGrant(
            community=world.home, account=warden["id"], valid_from=start, valid_until=end, reason=reason
        ).save()
    listed = await world.client.get(f"/api/communities/{world.home}/grants", headers=admin)
    assert listed.status_code == 200
    grants = listed.json()  # the seeded on-duty grants too
    assert ("消防检查", "warden", None) in [(g["reason"], g["role"], g["door_name"]) for g in grants]
    assert "已过期" not in {g["reason"] for g in grants}
    assert all(dt.datetime.fromisoformat(g["valid_until"]) > now for g in grants)
    ends = [g["valid_until"] for g in grants]
    assert ends == sorted(ends, key=dt.datetime.fromisoformat)  # the soonest to end first
    elsewhere = await world.client.get(f"/api/communities/{world.other}/grants", headers=admin)
    assert elsewhere.status_code == 403
