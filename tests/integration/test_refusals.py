"""Every protected endpoint refuses anonymous, wrong-role and other-community callers."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from backend.access.tables import Door
from backend.accounts.tables import Account, Passkey
from backend.ids import MAX_ID
from backend.intercom.tables import IntercomCall
from backend.registry.enums import ResidenceCategory, ResidencyStatus
from backend.registry.tables import Community, House, Organisation, Residency
from backend.video.tables import Camera, CameraGroup
from roles import Role
from tests.integration.test_registration import FORM


@dataclass
class Endpoint:
    name: str
    method: str
    path: str  # {house}, {residency}, {person}, {community}, {plate} are filled from the world
    body: dict | None = None
    wrong_roles: tuple[Role, ...] = ()
    other_community: bool = True  # a right-role caller from the other community is refused
    refused_anonymous: bool = True
    ok_role: Role = Role.WARDEN
    served_here: bool = True  # False where success needs more than this table sets up (a live device)
    extra: dict = field(default_factory=dict)


STAFF = (
    Role.WARDEN,
    Role.PROPERTY,
    Role.COMMUNITY_WORKER,
    Role.POLICE,
    Role.MAINTENANCE,
    Role.DISTRICT_ADMIN,
)
# A household's intercom calls: its verified members only (another community's resident: test_intercom.py).
CALLS = [
    Endpoint(name, method, path, body=body, wrong_roles=STAFF, other_community=False, ok_role=Role.RESIDENT)
    for name, method, path, body in (
        ("call log", "GET", "/api/houses/{house}/calls", None),
        ("call stream", "GET", "/api/houses/{house}/calls/live", None),
        ("call", "GET", "/api/calls/{call}", None),
        ("answer call", "POST", "/api/calls/{call}/answer", {"sdp": "v=0\r\n"}),
        ("hang up call", "POST", "/api/calls/{call}/hangup", None),
        ("open door for call", "POST", "/api/calls/{call}/open", None),
    )
]
# Residents and wardens never see cameras; nor do the others outside the monitoring room.
NOT_WATCHING = (Role.RESIDENT, Role.WARDEN, Role.COMMUNITY_WORKER, Role.MAINTENANCE, Role.DISTRICT_ADMIN)

# 实有单位: property and police keep them, the police verify; wardens and district admins read.
NOT_KEEPING = (Role.RESIDENT, Role.WARDEN, Role.COMMUNITY_WORKER, Role.MAINTENANCE, Role.DISTRICT_ADMIN)
ORG = {"name": "拒绝测试便利店", "kind": "individual", "contact_phone": "027-88886666"}
ORGANISATIONS = [
    Endpoint(
        "list organisations",
        "GET",
        "/api/communities/{community}/organisations",
        wrong_roles=(Role.RESIDENT, Role.COMMUNITY_WORKER, Role.MAINTENANCE),
        ok_role=Role.WARDEN,
    ),
    Endpoint(
        "add organisation",
        "POST",
        "/api/communities/{community}/organisations",
        body=ORG,
        wrong_roles=NOT_KEEPING,
        ok_role=Role.PROPERTY,
    ),
    Endpoint(
        "change organisation",
        "PUT",
        "/api/organisations/{organisation}",
        body=ORG,
        wrong_roles=NOT_KEEPING,
        ok_role=Role.POLICE,
    ),
    Endpoint(
        "verify organisation",
        "POST",
        "/api/organisations/{pending_organisation}/verify",
        wrong_roles=(*NOT_KEEPING, Role.PROPERTY),
        ok_role=Role.POLICE,
    ),
    Endpoint(
        "delete organisation",
        "DELETE",
        "/api/organisations/{organisation}",
        wrong_roles=NOT_KEEPING,
        ok_role=Role.PROPERTY,
    ),
]

BUILDINGS = [
    Endpoint(
        "community buildings",
        "GET",
        "/api/communities/{community}/buildings",
        wrong_roles=NOT_KEEPING,
        ok_role=Role.POLICE,
    ),
    Endpoint(
        "building details", "GET", "/api/buildings/{building}", wrong_roles=NOT_KEEPING, ok_role=Role.PROPERTY
    ),
    Endpoint(
        "change building details",
        "PUT",
        "/api/buildings/{building}",
        body={"floors_above": 6, "agent_name": "拒绝测试", "agent_phone": "13900001111"},
        wrong_roles=NOT_KEEPING,
        ok_role=Role.POLICE,
    ),
]

ENDPOINTS = [
    Endpoint("me", "GET", "/api/me", wrong_roles=(), other_community=False, ok_role=Role.RESIDENT),
    Endpoint(
        "passkey options",
        "POST",
        "/api/auth/passkeys/registration-options",
        other_community=False,
        ok_role=Role.RESIDENT,
    ),
    Endpoint(
        "enrol passkey",
        "POST",
        "/api/auth/passkeys",
        body={"credential": {}},
        other_community=False,
        ok_role=Role.RESIDENT,
    ),
    # Every role may list and remove its own passkeys, but only from a passkey session.
    Endpoint("list passkeys", "GET", "/api/auth/passkeys", other_community=False, ok_role=Role.POLICE),
    Endpoint(
        "remove passkey", "DELETE", "/api/auth/passkeys/{passkey}", other_community=False, ok_role=Role.POLICE
    ),
    Endpoint(
        "queue",
        "GET",
        "/api/verification-queue",
        wrong_roles=(Role.RESIDENT, Role.COMMUNITY_WORKER),
        other_community=False,
    ),
    Endpoint(
        "verify",
        "POST",
        "/api/residencies/{residency}/verify",
        wrong_roles=(Role.RESIDENT, Role.COMMUNITY_WORKER, Role.DISTRICT_ADMIN),
    ),
    Endpoint(
        "reject",
        "POST",
        "/api/residencies/{residency}/reject",
        body={"reason": "不符"},
        wrong_roles=(Role.RESIDENT, Role.COMMUNITY_WORKER, Role.DISTRICT_ADMIN),
    ),
    Endpoint(
        "deregister",
        "POST",
        "/api/residencies/{residency}/end",
        body={"reason": "搬离"},
        wrong_roles=(Role.RESIDENT, Role.COMMUNITY_WORKER, Role.DISTRICT_ADMIN),
    ),
    Endpoint(
        "correct residency",
        "POST",
        "/api/residencies/{verified}/correct",
        body={"reason": "误核实为非常住", "residence_category": "permanent"},
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.PROPERTY, Role.COMMUNITY_WORKER, Role.DISTRICT_ADMIN),
        ok_role=Role.POLICE,
    ),
    Endpoint(
        "residency history",
        "GET",
        "/api/residencies/{verified}/history",
        wrong_roles=(Role.RESIDENT, Role.COMMUNITY_WORKER, Role.MAINTENANCE, Role.DISTRICT_ADMIN),
    ),
    Endpoint(
        "flag key person",
        "POST",
        "/api/people/{person}/key-person",
        body={"key_person": True},
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.PROPERTY, Role.COMMUNITY_WORKER, Role.DISTRICT_ADMIN),
        ok_role=Role.POLICE,
    ),
    Endpoint("communities", "GET", "/api/communities", wrong_roles=(Role.RESIDENT,), other_community=False),
    Endpoint("metrics", "GET", "/api/communities/{community}/metrics", wrong_roles=(Role.RESIDENT,)),
    # The uplink's status: district admins and the police (their communities', or their district's).
    Endpoint(
        "uplink status",
        "GET",
        "/api/communities/{community}/uplink",
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.PROPERTY, Role.COMMUNITY_WORKER, Role.MAINTENANCE),
        ok_role=Role.POLICE,
    ),
    # One district in the seed: no other district's admin to refuse; a community's police are refused.
    Endpoint(
        "district uplink status",
        "GET",
        "/api/districts/{district}/uplink",
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.POLICE, Role.COMMUNITY_WORKER, Role.MAINTENANCE),
        other_community=False,
        ok_role=Role.DISTRICT_ADMIN,
    ),
    # The self-assessment: district admins, the police, and the property (read-only) of the community.
    *(
        Endpoint(
            name,
            "GET",
            f"/api/communities/{{community}}/compliance{suffix}",
            wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.COMMUNITY_WORKER, Role.MAINTENANCE),
            ok_role=Role.POLICE,
        )
        for name, suffix in (("compliance", ""), ("compliance sheet", "/sheet"))
    ),
    *(
        Endpoint(
            name,
            "PUT",
            f"/api/communities/{{community}}/compliance/{suffix}",
            body=body,
            wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.PROPERTY, Role.COMMUNITY_WORKER, Role.MAINTENANCE),
            ok_role=Role.POLICE,
        )
        for name, suffix, body in (
            ("enter compliance item", "items/safety-9", {"points": 3}),
            ("compliance tier", "tier", {"tier": "standard"}),
        )
    ),
    Endpoint(
        "district compliance",
        "GET",
        "/api/districts/{district}/compliance",
        wrong_roles=(
            Role.RESIDENT,
            Role.WARDEN,
            Role.PROPERTY,
            Role.POLICE,
            Role.COMMUNITY_WORKER,
            Role.MAINTENANCE,
        ),
        other_community=False,
        ok_role=Role.DISTRICT_ADMIN,
    ),
    Endpoint(
        "create staff",
        "POST",
        "/api/staff",
        body={"phone": "13611112222", "name": "新协管员", "role": "warden", "community_ids": ["{community}"]},
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.PROPERTY, Role.COMMUNITY_WORKER, Role.POLICE),
        other_community=False,
        ok_role=Role.DISTRICT_ADMIN,
    ),
    Endpoint(
        "update staff",
        "PATCH",
        "/api/staff/{account}",
        body={"active": True},
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.PROPERTY, Role.COMMUNITY_WORKER, Role.POLICE),
        other_community=False,
        ok_role=Role.DISTRICT_ADMIN,
    ),
    Endpoint(
        "reset staff passkeys",
        "POST",
        "/api/staff/{account}/passkeys/reset",
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.PROPERTY, Role.COMMUNITY_WORKER, Role.POLICE),
        other_community=False,
        ok_role=Role.DISTRICT_ADMIN,
    ),
    Endpoint(
        "replace plate",
        "POST",
        "/api/plates/{plate}/replace",
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.COMMUNITY_WORKER, Role.POLICE),
        ok_role=Role.PROPERTY,
    ),
    Endpoint("my doors", "GET", "/api/doors", other_community=False, ok_role=Role.RESIDENT),
    Endpoint("open door", "POST", "/api/doors/{door}/open", served_here=False),
    Endpoint(
        "grant access",
        "POST",
        "/api/grants",
        body={
            "account_id": "{account}",
            "community_id": "{community}",
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_until": "2026-03-01T00:00:00Z",
        },
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.COMMUNITY_WORKER, Role.POLICE, Role.MAINTENANCE),
        ok_role=Role.PROPERTY,
    ),
    Endpoint(
        "devices",
        "GET",
        "/api/communities/{community}/devices",
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.COMMUNITY_WORKER),
        ok_role=Role.MAINTENANCE,
    ),
    Endpoint(
        "notifications",
        "GET",
        "/api/communities/{community}/notifications",
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.COMMUNITY_WORKER),
        ok_role=Role.MAINTENANCE,
    ),
    Endpoint(
        "provision device",
        "POST",
        "/api/devices",
        body={
            "community_id": "{community}",
            "code": "new-device-1",
            "kind": "smoke_sensor",
            "name": "新烟感",
        },
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.PROPERTY, Role.COMMUNITY_WORKER, Role.POLICE),
        ok_role=Role.MAINTENANCE,
    ),
    # PTZ: the monitoring room and the community police turn cameras; only the property staff say
    # where a camera answers ONVIF. Served in tests/integration/test_video_ptz.py (a camera is needed).
    Endpoint(
        "set camera onvif",
        "PUT",
        "/api/video/cameras/{camera}/onvif",
        body={"host": None},
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.COMMUNITY_WORKER, Role.POLICE, Role.MAINTENANCE),
        ok_role=Role.PROPERTY,
    ),
    Endpoint(
        "camera ptz",
        "POST",
        "/api/video/cameras/{camera}/ptz",
        body={"action": "stop"},
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.COMMUNITY_WORKER, Role.MAINTENANCE),
        ok_role=Role.PROPERTY,
        served_here=False,
    ),
    Endpoint(
        "camera ptz presets",
        "GET",
        "/api/video/cameras/{camera}/ptz/presets",
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.COMMUNITY_WORKER, Role.MAINTENANCE),
        ok_role=Role.POLICE,
        served_here=False,
    ),
    # The monitoring-room wall: live video and camera groups (no camera streams in this table).
    *(
        Endpoint(
            name,
            method,
            path,
            wrong_roles=NOT_WATCHING,
            ok_role=Role.PROPERTY,
            served_here=False,
        )
        for name, method, path in (
            ("watch camera", "POST", "/api/video/cameras/{camera}/live"),
            ("live playlist", "GET", "/api/video/cameras/{camera}/live/index.m3u8"),
            ("live segment", "GET", "/api/video/cameras/{camera}/live/seg000001.ts"),
        )
    ),
    Endpoint(
        "camera groups",
        "GET",
        "/api/communities/{community}/video/groups",
        wrong_roles=(Role.RESIDENT, Role.WARDEN, Role.COMMUNITY_WORKER, Role.MAINTENANCE),
        ok_role=Role.POLICE,
    ),
    Endpoint(
        "add camera group",
        "POST",
        "/api/communities/{community}/video/groups",
        body={"name": "新分组", "dwell_seconds": 5, "camera_ids": ["{camera}"]},
        wrong_roles=(*NOT_WATCHING, Role.POLICE),
        ok_role=Role.PROPERTY,
    ),
    Endpoint(
        "change camera group",
        "PUT",
        "/api/video/groups/{group}",
        body={"name": "改分组", "camera_ids": ["{camera}"]},
        wrong_roles=(*NOT_WATCHING, Role.POLICE),
        ok_role=Role.PROPERTY,
    ),
    Endpoint(
        "delete camera group",
        "DELETE",
        "/api/video/groups/{group}",
        wrong_roles=(*NOT_WATCHING, Role.POLICE),
        ok_role=Role.PROPERTY,
    ),
    Endpoint(
        "add member",
        "POST",
        "/api/plates/{plate}/registrations",
        body=FORM,
        refused_anonymous=False,
        wrong_roles=(),
        other_community=False,
        ok_role=Role.RESIDENT,
        extra={"resident_elsewhere": True},
    ),
    *CALLS,
    *ORGANISATIONS,
    *BUILDINGS,
]


async def _verified_non_permanent(world) -> Residency:
    return (
        await Residency.objects()
        .where(
            (Residency.community == world.home)
            & (Residency.status == ResidencyStatus.VERIFIED)
            & (Residency.person.residence_category != ResidenceCategory.PERMANENT)
        )
        .order_by(Residency.id, ascending=False)
        .first()
    )


async def _fill(world, endpoint: Endpoint) -> tuple[str, dict | None]:
    # A verified, non-permanent resident turned pending: every action below applies to it.
    pending = await _verified_non_permanent(world)
    await Residency.update({Residency.status: ResidencyStatus.PENDING}).where(Residency.id == pending.id)
    values = {
        "house": world.home_house,
        "residency": pending.id,
        "verified": (await _verified_non_permanent(world)).id,
        "person": pending.person,
        "community": world.home,
        "district": (await Community.objects().get(Community.id == world.home)).district,
        "plate": await world.house_plate(world.home_house),
        "door": (await Door.objects().where(Door.community == world.home).first()).id,
        "account": (await Account.objects().get(Account.phone == world.phone(Role.WARDEN))).id,
        "passkey": await _police_passkey(world),
        "call": await _ringing_call(world),
        "camera": (await Camera.select(Camera.id).where(Camera.community == world.home).first())["id"],
        "group": (
            await CameraGroup.select(CameraGroup.id).where(CameraGroup.community == world.home).first()
        )["id"],
        "building": (await House.objects().get(House.id == world.home_house)).building,
        "organisation": (
            await Organisation.select(Organisation.id).where(Organisation.community == world.home).first()
        )["id"],
        "pending_organisation": (
            await Organisation.select(Organisation.id)
            .where((Organisation.community == world.home) & (Organisation.status == ResidencyStatus.PENDING))
            .first()
        )["id"],
    }
    path = endpoint.path.format(**values)
    body = {key: _placeholder(value, values) for key, value in (endpoint.body or {}).items()} or None
    return path, body


async def _ringing_call(world) -> int:
    """A call ringing at the resident's flat, from its unit's panel."""
    house = await House.objects().get(House.id == world.home_house)
    panel = await Door.select(Door.device).where(Door.unit == house.unit).first()
    call = IntercomCall(
        community=world.home,
        device=panel["device"],
        unit=house.unit,
        house=house.id,
        room=house.room_no,
        panel_call="refusals",
        key=f"refusals:{house.id}",
    )
    await call.save()
    return call.id


async def _police_passkey(world) -> int:
    """The home officer's passkey (once they have signed in with one), else an id nobody has."""
    police = Account.objects().get(Account.phone == world.phone(Role.POLICE))
    row = await Passkey.select(Passkey.id).where(Passkey.account == (await police).id).first()
    return row["id"] if row else MAX_ID


def _placeholder(value, values: dict):
    """ "{community}" in a body becomes the number it names; lists are filled item by item."""
    if isinstance(value, list):
        return [_placeholder(v, values) for v in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return values[value[1:-1]]
    return value


async def _call(world, endpoint: Endpoint, filled: tuple[str, dict | None], headers: dict) -> int:
    path, body = filled
    response = await world.client.request(endpoint.method, path, json=body, headers=headers)
    return response.status_code


async def _refusals(world, endpoint: Endpoint, filled: tuple[str, dict | None]) -> list[str]:
    """Each caller the endpoint must refuse, tried in turn on one seeded world: what went wrong."""
    callers = [(role.value, await world.headers(role), 403) for role in endpoint.wrong_roles]
    if endpoint.refused_anonymous:
        callers.insert(0, ("anonymous", {}, 401))
    if endpoint.other_community:
        callers.append(("other community", await world.headers(endpoint.ok_role, community="other"), 403))
    problems = []
    for name, headers, wanted in callers:
        if (status := await _call(world, endpoint, filled, headers)) != wanted:
            problems.append(f"{name}: expected {wanted}, got {status}")
    return problems


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
async def test_anonymous_wrong_role_and_other_community_are_refused(world, endpoint):
    """Each refused with 401 or 403; and, since refusals change nothing, the right caller is then
    served on the same request (they are not blanket refusals)."""
    served = await world.headers(endpoint.ok_role)  # signed in first: an officer's passkey exists
    filled = await _fill(world, endpoint)
    problems = await _refusals(world, endpoint, filled)
    if endpoint.ok_role is not Role.RESIDENT and endpoint.served_here:
        status = await _call(world, endpoint, filled, served)
        if status not in (200, 201, 204):
            problems.append(f"{endpoint.ok_role.value} here: expected to be served, got {status}")
    assert not problems, f"{endpoint.method} {endpoint.path}:\n" + "\n".join(problems)


async def test_resident_of_another_flat_cannot_add_members(world):
    """A signed-in resident adds household members only to the flat they verifiably live in."""
    other_flat = await world.house_plate(world.home_house + 1)
    response = await world.client.post(
        f"/api/plates/{other_flat}/registrations",
        json=FORM,
        headers=await world.headers(Role.RESIDENT),
    )
    assert response.status_code == 403
    assert response.json()["extra"]["code"] == "forbidden"


async def test_police_without_passkey_may_only_enrol(world):
    tokens = await world.sign_in(world.phone(Role.POLICE))
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    queue = await world.client.get("/api/verification-queue", headers=headers)
    assert queue.status_code == 403
    assert queue.json()["extra"]["code"] == "passkey_required"
    options = await world.client.post("/api/auth/passkeys/registration-options", headers=headers)
    assert options.status_code == 200
    me = (await world.client.get("/api/me", headers=headers)).json()
    assert me["passkey_required"] is True and me["has_passkey"] is False
