"""The services portal through the API: tiles, a request's life, notifications, rating, photos, attacks."""

from __future__ import annotations

import io

from PIL import Image

from backend.accounts.tables import Account
from backend.audit.tables import AuditEntry
from backend.photos import PHOTO_MAX_BYTES
from backend.registry.enums import ResidencyStatus
from backend.registry.tables import Residency
from backend.services.tables import ServiceRequest, ServiceRequestPhoto
from roles import Role

BLOCKED_PIPE = {"category": "repairs", "text": "厨房下水道堵塞，水漫出来了"}


def jpeg(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "steelblue").save(buffer, format="JPEG")
    return buffer.getvalue()


async def file(world, headers=None) -> dict:
    headers = headers or await world.headers(Role.RESIDENT)
    response = await world.client.post(
        f"/api/communities/{world.home}/service-requests", json=BLOCKED_PIPE, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def step(world, request_id: int, step: str, note: str = ""):
    return await world.client.post(
        f"/api/service-requests/{request_id}/steps",
        json={"step": step, "note": note},
        headers=await world.headers(Role.PROPERTY),
    )


async def neighbour(world) -> dict[str, str]:
    """Another verified resident of the same community, in another flat."""
    residency = await (
        Residency.objects()
        .where((Residency.community == world.home) & (Residency.house != world.home_house))
        .order_by(Residency.id)
        .first()
    )
    account = Account(phone="13900000077", name="邻居", role=Role.RESIDENT)
    await account.save()
    await Residency.update({Residency.account: account.id, Residency.status: ResidencyStatus.VERIFIED}).where(
        Residency.id == residency.id
    )
    tokens = await world.sign_in("13900000077")
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_residents_see_their_communitys_tiles_and_the_police_services_stay(world):
    resident = await world.headers(Role.RESIDENT)
    tiles = (await world.client.get(f"/api/communities/{world.home}/services", headers=resident)).json()
    assert tiles[0]["title"] == "物业报修" and all(t["enabled"] for t in tiles)
    plate = await world.house_plate(world.home_house)
    view = (await world.client.get(f"/api/scan/{plate}", headers=resident)).json()
    assert view["services"][0]["key"] == "licences"  # the police services stay for everyone
    anonymous = (await world.client.get(f"/api/scan/{plate}")).json()
    assert anonymous["services"]
    assert (await world.client.get(f"/api/communities/{world.home}/services")).status_code == 401
    other = await world.client.get(f"/api/communities/{world.other}/services", headers=resident)
    assert other.status_code == 403


async def test_property_staff_configure_tiles_and_disabled_ones_leave_residents_view(world):
    staff = await world.headers(Role.PROPERTY)
    body = {
        "kind": "food",
        "title": "长者食堂",
        "hours": "11:00-13:00",
        "url": "https://example.org/menu",
        "position": 1,
    }
    made = await world.client.post(f"/api/communities/{world.home}/services", json=body, headers=staff)
    assert made.status_code == 201, made.text
    tile_id = made.json()["id"]
    resident = await world.headers(Role.RESIDENT)
    titles = lambda r: [t["title"] for t in r.json()]  # noqa: E731
    assert "长者食堂" in titles(
        await world.client.get(f"/api/communities/{world.home}/services", headers=resident)
    )
    changed = await world.client.put(
        f"/api/services/{tile_id}", json={**body, "enabled": False}, headers=staff
    )
    assert changed.status_code == 200
    assert "长者食堂" not in titles(
        await world.client.get(f"/api/communities/{world.home}/services", headers=resident)
    )
    assert "长者食堂" in titles(
        await world.client.get(f"/api/communities/{world.home}/services", headers=staff)
    )
    for bad in ({"url": "javascript:alert(1)"}, {"url": "http://plain.example"}, {"kind": "casino"}):
        refused = await world.client.post(
            f"/api/communities/{world.home}/services", json={**body, **bad}, headers=staff
        )
        assert refused.status_code == 400, bad


async def test_a_request_is_taken_noted_closed_and_rated_and_the_resident_is_notified(world):
    request = await file(world)
    assert request["status"] == "open" and request["place"].endswith("101室")
    assert (await step(world, request["id"], "take")).json()["status"] == "taken"
    noted = await step(world, request["id"], "note", "明天上午九点上门")
    assert noted.json()["events"][-1]["note"] == "明天上午九点上门"
    assert (await step(world, request["id"], "close", "已疏通")).json()["status"] == "closed"

    resident = await world.headers(Role.RESIDENT)
    mine = (await world.client.get("/api/service-requests/mine", headers=resident)).json()
    assert mine[0]["id"] == request["id"] and mine[0]["unseen"] == 3
    seen = (await world.client.get(f"/api/service-requests/{request['id']}", headers=resident)).json()
    assert seen["unseen"] == 0 and [e["step"] for e in seen["events"]] == ["take", "note", "close"]

    rated = await world.client.post(
        f"/api/service-requests/{request['id']}/rating",
        json={"stars": 5, "comment": "很快"},
        headers=resident,
    )
    assert rated.status_code == 200 and rated.json()["rating"] == 5
    again = await world.client.post(
        f"/api/service-requests/{request['id']}/rating", json={"stars": 1}, headers=resident
    )
    assert again.status_code == 409 and again.json()["extra"]["code"] == "not_ratable"
    stored = await ServiceRequest.select().where(ServiceRequest.id == request["id"]).first()
    assert (stored["status"], stored["rating"], stored["rating_comment"]) == ("closed", 5, "很快")


async def test_illegal_steps_are_refused_with_a_clear_code(world):
    request = await file(world)
    for illegal in ("close", "note"):
        response = await step(world, request["id"], illegal, "x")
        assert response.status_code == 409 and response.json()["extra"]["code"] == "illegal_step"
        assert "open" in response.json()["detail"]
    await step(world, request["id"], "take")
    again = await step(world, request["id"], "take")
    assert again.status_code == 409 and again.json()["extra"]["code"] == "illegal_step"
    early = await world.client.post(
        f"/api/service-requests/{request['id']}/rating",
        json={"stars": 4},
        headers=await world.headers(Role.RESIDENT),
    )
    assert early.status_code == 409 and early.json()["extra"]["code"] == "not_ratable"
    await step(world, request["id"], "close")
    reopened = await step(world, request["id"], "take")
    assert reopened.status_code == 409


async def test_a_photo_is_stored_reencoded_and_shown_to_the_requester_and_property_staff_only(world):
    request = await file(world)
    resident = await world.headers(Role.RESIDENT)
    original = jpeg()
    put = await world.client.put(
        f"/api/service-requests/{request['id']}/photo",
        content=original,
        headers={**resident, "Content-Type": "image/jpeg"},
    )
    assert put.status_code == 200 and put.json()["has_photo"]
    stored = await ServiceRequestPhoto.select().where(ServiceRequestPhoto.request == request["id"]).first()
    assert Image.open(io.BytesIO(bytes(stored["data"]))).size == (64, 48)
    for headers in (resident, await world.headers(Role.PROPERTY)):
        got = await world.client.get(f"/api/service-requests/{request['id']}/photo", headers=headers)
        assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
        assert got.content == bytes(stored["data"])
    assert await AuditEntry.count().where(AuditEntry.action == "read_service_photo") == 1
    stranger = await neighbour(world)
    for role_headers in (
        stranger,
        await world.headers(Role.WARDEN),
        await world.headers(Role.PROPERTY, "other"),
    ):
        for path in ("", "/photo"):
            got = await world.client.get(f"/api/service-requests/{request['id']}{path}", headers=role_headers)
            assert got.status_code == 403, got.text
    assert (await world.client.get(f"/api/service-requests/{request['id']}/photo")).status_code == 401


async def test_non_images_and_huge_files_are_refused(world):
    request = await file(world)
    resident = await world.headers(Role.RESIDENT)
    url = f"/api/service-requests/{request['id']}/photo"
    cases = [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "image/svg+xml", 422),
        (b"%PDF-1.4 not an image", "image/jpeg", 422),  # the type claimed, not the bytes
        (jpeg()[:40], "image/jpeg", 422),  # truncated
        (b"\xff\xd8" + b"\0" * (PHOTO_MAX_BYTES + 10), "image/jpeg", 413),
    ]
    for content, content_type, status in cases:
        response = await world.client.put(
            url, content=content, headers={**resident, "Content-Type": content_type}
        )
        assert response.status_code == status, (content_type, response.text)
    assert await ServiceRequestPhoto.count() == 0


async def test_only_the_requester_rates_or_attaches_and_other_roles_cannot_handle(world):
    request = await file(world)
    await step(world, request["id"], "take")
    await step(world, request["id"], "close")
    stranger = await neighbour(world)
    for headers in (stranger, await world.headers(Role.PROPERTY), await world.headers(Role.POLICE)):
        rated = await world.client.post(
            f"/api/service-requests/{request['id']}/rating", json={"stars": 1}, headers=headers
        )
        assert rated.status_code == 403
    for role in (Role.RESIDENT, Role.WARDEN, Role.POLICE):
        taken = await world.client.post(
            f"/api/service-requests/{request['id']}/steps",
            json={"step": "note", "note": "x"},
            headers=await world.headers(role),
        )
        assert taken.status_code == 403, role
    other_staff = await world.client.get(
        f"/api/communities/{world.home}/service-requests", headers=await world.headers(Role.PROPERTY, "other")
    )
    assert other_staff.status_code == 403
    elsewhere = await world.client.post(
        f"/api/communities/{world.other}/service-requests",
        json=BLOCKED_PIPE,
        headers=await world.headers(Role.RESIDENT),
    )
    assert elsewhere.status_code == 403
    mine = (await world.client.get("/api/service-requests/mine", headers=stranger)).json()
    assert mine == []


async def test_the_property_queue_lists_open_requests_first_and_is_audited(world):
    first = await file(world)
    second = await file(world)
    await step(world, first["id"], "take")
    queue = await world.client.get(
        f"/api/communities/{world.home}/service-requests", headers=await world.headers(Role.PROPERTY)
    )
    assert [r["id"] for r in queue.json()] == [second["id"], first["id"]]
    assert await AuditEntry.count().where(AuditEntry.action == "read_service_requests") == 1
