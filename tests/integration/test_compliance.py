"""The compliance self-assessment: the seeded community's score item by item with its evidence, live
data moving the right item, the police's entries, the district view and the downloaded score sheet."""

from __future__ import annotations

import msgspec
import pypdfium2 as pdfium
import pytest

from backend.alarms.kinds import OPEN_STATES
from backend.alarms.tables import Alarm
from backend.audit.tables import AuditEntry
from backend.compliance import service as compliance
from backend.compliance import standard
from backend.devices.tables import Device, DeviceKind
from backend.doorplates.tables import Doorplate
from backend.registry.enums import ResidencyStatus, Tier
from backend.registry.tables import Community, Residency
from roles import Principal, Role


def path(world, community: int | None = None) -> str:
    return f"/api/communities/{community or world.home}/compliance"


async def assessed(world, role: Role = Role.POLICE, community: int | None = None) -> dict:
    response = await world.client.get(path(world, community), headers=await world.headers(role))
    assert response.status_code == 200, response.text
    return response.json()


def item(view: dict, key: str) -> dict:
    return next(i for i in view["items"] if i["item"] == key)


def check(view: dict, key: str, check_key: str) -> dict:
    return next(c for c in item(view, key)["checks"] if c["key"] == check_key)


def target(view: dict, key: str) -> dict:
    return next(t for t in view["coverage"] if t["key"] == key)


async def test_the_seeded_community_is_scored_item_by_item_with_evidence(world):
    tier = Tier((await Community.objects().get(Community.id == world.home)).tier)
    view = await assessed(world)
    sheet = standard.sheet(tier)
    assert view["tier"] == tier and [(i["sheet"], i["no"]) for i in view["items"]] == [
        (name, entry.no) for name, entry in sheet
    ]
    assert sum(i["points"] for i in view["items"]) == 100
    for entry in view["items"]:
        if entry["measured"]:
            # Each check is worth an equal share; each says what it measured.
            assert entry["checks"] and all(c["evidence"] and c["label"] for c in entry["checks"])
            share = sum(c["ok"] for c in entry["checks"]) / len(entry["checks"])
            assert entry["score"] == round(entry["points"] * share, 1)
        else:
            assert entry["score"] is None and entry["checks"] == []
    assert [i["no"] for i in view["items"] if not i["measured"] and i["sheet"] == "safety"] == list(
        range(9, 16)
    )
    assert view["awaiting_entry"] == sum(1 for i in view["items"] if not i["measured"])
    assert view["total"] == round(sum(i["score"] or 0 for i in view["items"]), 1)
    assert view["passed"] is (view["total"] >= 90)
    # The matrix: every subsystem with its level for the tier; the seed's face gates are there.
    levels = {s.key: s.level(tier) for s in standard.subsystems()}
    assert {s["key"]: s["level"] for s in view["subsystems"]} == levels
    faces = next(s for s in view["subsystems"] if s["key"] == "face_recognition")
    gates = await Device.count().where(
        (Device.community == world.home) & (Device.kind == DeviceKind.FACE_GATE)
    )
    assert faces["present"] and faces["total"] == gates > 0
    assert set(view["missing_must"]) == {
        s["key"] for s in view["subsystems"] if not s["present"] and s["level"] == "must"
    }


async def test_doorplates_count_as_installed_only_once_scanned_on_site(world):
    """Issued plates are not installed: a broken score counting issued plates would show 100 % here."""
    view = await assessed(world)
    plates = target(view, "doorplates_installed")
    issued = await Doorplate.count().where(
        (Doorplate.community == world.home) & Doorplate.revoked_at.is_null()
    )
    assert issued > 0 and plates["value"] == 0 and not plates["met"]
    tier = view["tier"]
    assert not check(view, f"{tier}-5", "doorplates_installed")["ok"]

    tokens = (
        await Doorplate.select(Doorplate.token)
        .where((Doorplate.community == world.home) & Doorplate.revoked_at.is_null())
        .output(as_list=True)
    )
    first = tokens[0]
    assert (await world.client.get(f"/api/scan/{first}")).status_code == 200
    [row] = await Doorplate.select(Doorplate.first_scanned_at).where(Doorplate.token == first)
    assert row["first_scanned_at"] is not None
    assert (
        await world.client.get(f"/api/scan/{first}")
    ).status_code == 200  # a second scan keeps the first date
    [again] = await Doorplate.select(Doorplate.first_scanned_at).where(Doorplate.token == first)
    assert again == row
    view = await assessed(world)
    assert target(view, "doorplates_installed")["value"] == pytest.approx(1 / issued)

    police = await world.headers(Role.POLICE)
    for token in tokens[1:]:
        assert (await world.client.get(f"/api/scan/{token}", headers=police)).status_code == 200
    view = await assessed(world)
    plates = target(view, "doorplates_installed")
    assert plates["value"] == 1 and plates["met"] and check(view, f"{tier}-5", "doorplates_installed")["ok"]


async def test_a_device_going_offline_lowers_the_item_it_serves(world):
    await Device.update({Device.online: True}).where(Device.community == world.home)
    before = await assessed(world)
    key = f"{before['tier']}-3"
    assert check(before, key, "subsystem:face_recognition")["ok"]
    gate = (
        await Device.objects()
        .where((Device.community == world.home) & (Device.kind == DeviceKind.FACE_GATE))
        .first()
    )
    await Device.update({Device.online: False}).where(Device.id == gate.id)
    after = await assessed(world)
    face = check(after, key, "subsystem:face_recognition")
    assert not face["ok"] and "在线 0 台" in face["evidence"]
    # The face gate also serves the pedestrian entrance: those two checks, and nothing else, fail.
    flipped = [
        c["key"]
        for was, now in zip(item(before, key)["checks"], item(after, key)["checks"], strict=True)
        for c in [now]
        if was["ok"] and not now["ok"]
    ]
    assert flipped == ["subsystem:face_recognition", "subsystem:pedestrian_access"]
    share = item(before, key)["points"] / len(item(before, key)["checks"])
    assert item(after, key)["score"] == round(item(before, key)["score"] - 2 * share, 1)
    others = lambda view: {i["item"]: i["score"] for i in view["items"] if i["item"] != key}  # noqa: E731
    assert others(after) == others(before)


async def test_a_verification_raises_the_verification_rate(world):
    before = target(await assessed(world), "verification")
    pending = (
        await Residency.objects()
        .where((Residency.community == world.home) & (Residency.status == ResidencyStatus.PENDING))
        .first()
    )
    response = await world.client.post(
        f"/api/residencies/{pending.id}/verify", headers=await world.headers(Role.POLICE)
    )
    assert response.status_code == 200, response.text
    after = target(await assessed(world), "verification")
    assert after["value"] > before["value"]
    verified_people = lambda t: int(t["evidence"].split("实有人口 ")[1].split("/")[0])  # noqa: E731
    assert verified_people(after) == verified_people(before) + 1


async def test_the_police_enter_the_safety_items_and_each_entry_is_audited(world):
    police = await world.headers(Role.POLICE)
    before = await assessed(world)
    response = await world.client.put(
        f"{path(world)}/items/safety-9", json={"points": 4.5, "note": "警务室已配备辅警两名"}, headers=police
    )
    assert response.status_code == 200, response.text
    view = response.json()
    entered = item(view, "safety-9")
    assert entered["score"] == 4.5 and entered["entry"]["note"] == "警务室已配备辅警两名"
    assert entered["entry"]["entered_by"]
    assert view["total"] == round(before["total"] + 4.5, 1)
    assert view["awaiting_entry"] == before["awaiting_entry"] - 1
    audited = await AuditEntry.objects().where(AuditEntry.action == "enter_compliance_item")
    assert [a.detail["item"] if isinstance(a.detail, dict) else a.detail for a in audited]
    # A change replaces the score; both entries stay in the audit trail.
    view = (
        await world.client.put(f"{path(world)}/items/safety-9", json={"points": 5}, headers=police)
    ).json()
    assert item(view, "safety-9")["score"] == 5
    assert await AuditEntry.count().where(AuditEntry.action == "enter_compliance_item") == 2

    measured = f"{view['tier']}-5"
    for key, body, status, code in (
        (measured, {"points": 1}, 422, "measured_item"),
        ("safety-9", {"points": 6}, 422, "too_many_points"),
        ("safety-99", {"points": 1}, 404, "unknown_item"),
    ):
        refused = await world.client.put(f"{path(world)}/items/{key}", json=body, headers=police)
        assert refused.status_code == status and refused.json()["extra"]["code"] == code
    bad = await world.client.put(f"{path(world)}/items/safety-9", json={"points": -1}, headers=police)
    assert bad.status_code == 400


async def test_the_tier_decides_the_sheet(world):
    admin = await world.headers(Role.DISTRICT_ADMIN)
    for tier in (Tier.STANDARD, Tier.DEMONSTRATION):
        response = await world.client.put(f"{path(world)}/tier", json={"tier": tier}, headers=admin)
        assert response.status_code == 200, response.text
        view = response.json()
        assert view["tier"] == tier
        assert [i["item"] for i in view["items"]][: len(standard.sheet(tier)) - 7] == [
            f"{tier}-{entry.no}" for name, entry in standard.sheet(tier) if name != "safety"
        ]
    standard_view = (
        await world.client.put(f"{path(world)}/tier", json={"tier": "standard"}, headers=admin)
    ).json()
    assert not item(standard_view, "standard-1")["measured"]  # 防攀爬: entered by the police
    assert (await Community.objects().get(Community.id == world.home)).tier == Tier.STANDARD


async def test_the_district_view_shows_every_community(world):
    admin = await world.headers(Role.DISTRICT_ADMIN)
    district = (await Community.objects().get(Community.id == world.home)).district
    await Device.update({Device.online: True}).where(Device.community == world.home)
    response = await world.client.get(f"/api/districts/{district}/compliance", headers=admin)
    assert response.status_code == 200, response.text
    rows = {row["community_id"]: row for row in response.json()["communities"]}
    assert set(rows) == {world.home, world.other}
    uplink = (await world.client.get(f"/api/communities/{world.home}/uplink", headers=admin)).json()
    for community, row in rows.items():
        view = await assessed(world, Role.DISTRICT_ADMIN, community)
        assert (row["total"], row["passed"]) == (view["total"], view["passed"])
        assert row["devices_total"] == await Device.count().where(Device.community == community)
        assert row["devices_online"] == await Device.count().where(
            (Device.community == community) & Device.online.eq(True)
        )
        assert row["open_alarms"] == await Alarm.count().where(
            (Alarm.community == community) & Alarm.state.is_in(list(OPEN_STATES))
        )
        assert [t["key"] for t in row["coverage"]] == [
            "doorplates_installed",
            "verification",
            "ebike_tags",
            "data_completeness",
        ]
    assert rows[world.home]["devices_online"] == rows[world.home]["devices_total"] > 0
    assert rows[world.home]["uplink_pending"] == uplink["pending"]
    assert rows[world.home]["uplink_rejected"] == uplink["rejected"]


async def test_the_downloaded_sheet_lists_every_item_and_the_total(world):
    police = await world.headers(Role.POLICE)
    await world.client.put(
        f"{path(world)}/items/safety-10", json={"points": 5, "note": "二级警务室"}, headers=police
    )
    view = await assessed(world)
    response = await world.client.get(f"{path(world)}/sheet", headers=police)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"]
    document = pdfium.PdfDocument(response.content)
    text = "".join(page.get_textpage().get_text_range() for page in document)
    flat = "".join(text.split())
    assert f"总分{view['total']:g}/100" in flat
    assert ("不合格" in flat) is (not view["passed"])
    assert "二级警务室" in flat and view["community"] in flat
    names = {"demonstration": "智慧", "standard": "智慧", "safety": "平安"}
    for entry in view["items"]:
        assert f"{names[entry['sheet']]}{entry['no']}" in flat
        assert "".join(entry["text"].split())[:12] in flat
        for c in entry["checks"]:
            assert "".join(c["label"].split()) in flat


async def test_a_confirmed_plate_is_scanned_without_a_statement_of_its_own(world, capsys):
    """The scan is a hot path: the first scan writes the date once; later scans read it with the plate."""
    token = await world.plate(world.home)
    engine = Doorplate._meta.db
    engine.log_queries = True
    try:
        capsys.readouterr()
        assert (await world.client.get(f"/api/scan/{token}")).status_code == 200
        first = capsys.readouterr().out
        for _ in range(3):
            assert (await world.client.get(f"/api/scan/{token}")).status_code == 200
        later = capsys.readouterr().out
    finally:
        engine.log_queries = False
    updates = lambda out: [q for q in out.split("Query ") if "UPDATE" in q and "first_scanned_at" in q]  # noqa: E731
    assert len(updates(first)) == 1 and updates(later) == []


async def test_a_sheet_without_its_font_is_refused_with_the_reason(world, tmp_path):
    """A deployment without the CJK font answers 503 naming the font, never a 500 or a PDF of blanks."""
    district = (await Community.objects().get(Community.id == world.home)).district
    admin = Principal(
        account_id=1, role=Role.DISTRICT_ADMIN, districts=frozenset({district}), passkey_session=True
    )
    missing = msgspec.structs.replace(world.ctx.settings, plate_font=str(tmp_path / "none.ttc"))
    with pytest.raises(compliance.SheetUnavailable) as refused:
        await compliance.score_sheet(missing, admin, world.home)
    assert refused.value.status == 503 and "none.ttc" in refused.value.message
