"""The authorisation matrix, generated: every route × every role × own/other community × anonymous.

The routes come from the app's route table. Each one declares the roles/ actions its service
authorizes (``opt=permission(...)``, backend/deps.py) or is on the short PUBLIC list below; a
route with neither fails ``test_every_route_declares_a_permission_or_is_public``.

What each caller should get is derived from roles/, never written per route: ``roles.is_allowed``
with the caller's real principal (as the app verifies their token) and the real place behind the
route's path parameters (or body), in the caller's own community and in the other one:

- anonymous, when no declared action admits anonymous callers: 401
- a role the matrix refuses, or another community's place: 403 (the code's convention; 404 only
  for another account's own things, such as a passkey, which are not theirs to learn about)
- allowed: anything but 401/403 (a 404/409/422/503 for the state the place is in is fine)
- never a 5xx but a 503/504 that says why (a door's controller is offline); every refusal is
  JSON with a ``detail``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from backend.access.tables import AccessGrant, Door
from backend.accounts import service as accounts
from backend.accounts.tables import Account, Passkey, StaffScope
from backend.alarms.tables import Alarm, ArmingRule, PerimeterZone
from backend.analytics.tables import Finding, RuleName
from backend.app import create_app
from backend.credentials.tables import Credential
from backend.deps import PERMISSION
from backend.devices.tables import Device, DeviceKind
from backend.doorplates.tables import Doorplate
from backend.ebikes.tables import EBike
from backend.faces.tables import FaceEnrolment, FaceWatch
from backend.intercom.tables import IntercomCall
from backend.notices.tables import Notice
from backend.patrol.tables import Checkpoint, CheckpointTag, PatrolRoute, PatrolRun, PatrolShift
from backend.registry.enums import ResidenceCategory, ResidencyStatus
from backend.registry.service import CURRENT
from backend.registry.tables import Community, House, Organisation, Residency
from backend.services.tables import ServiceRequest, ServiceTile
from backend.settings import Settings
from backend.vehicles.tables import Vehicle, VehiclePassage, WatchedPlate
from backend.video.tables import Camera, CameraGroup, InspectionCheck, InspectionRound, Recorder
from backend.visitors.tables import VisitorPass
from roles import Action, Principal, Role, Target, is_allowed
from tests.integration.test_registration import FORM

# Routes anyone may call, each for a reason. Keep this short: a route that reads or changes
# anything about people, places or devices declares its permission instead.
PUBLIC: dict[tuple[str, str], str] = {
    # Probes for load balancers: up or down, nothing else.
    ("GET", "/api/health"): "liveness",
    ("GET", "/api/ready"): "readiness",
    # Signing in: the caller has no bearer token yet (refresh and logout carry the refresh cookie).
    ("POST", "/api/auth/code"): "texts a sign-in code",
    ("POST", "/api/auth/token"): "signs in with the code",
    ("POST", "/api/auth/refresh"): "refresh cookie",
    ("POST", "/api/auth/logout"): "refresh cookie",
    ("POST", "/api/auth/passkeys/authentication-options"): "passkey sign-in challenge",
    ("POST", "/api/auth/passkeys/authenticate"): "passkey sign-in",
    # Reads a plate token out of a photo (budgeted per address); the scan itself is authorized.
    ("POST", "/api/scan/decode"): "photo to plate token",
    ("GET", "/api/codes/{name}"): "national code tables (public standards)",
    ("GET", "/api/push/key"): "the VAPID public key browsers subscribe with",
    ("GET", "/api/faces/consent"): "the consent text a face enrolment accepts",
    # Access terminals, not people: each authenticates as its registered device (HTTP Basic/Digest
    # with its own credentials; tests/integration/test_hikvision_intake.py).
    ("POST", "/api/devices/hikvision/events"): "device-authenticated event push",
    # A face gate pulls its own gallery with its device credentials (tests/integration/test_face_gates.py).
    ("GET", "/api/devices/face-gallery"): "device-authenticated face gallery",
    ("POST", "/api/devices/face-captures"): "device-authenticated face capture",
    # A visitor's share link: no account, the unguessable share token is the credential.
    ("GET", "/api/shared-passes/{share}"): "the pass behind a share token",
    ("POST", "/api/shared-passes/{share}/doors/{door_id}/open"): "a door of the pass behind a share token",
    ("GET", "/api/communities/{community_id}/pass-key"): "a community's public key (doors verify passes)",
    # The PWA: static shell and assets; its data comes from the API routes above.
    ("GET", "/"): "PWA shell",
    ("GET", "/signin"): "PWA shell",
    ("GET", "/me"): "PWA shell",
    ("GET", "/homes"): "PWA shell",
    ("GET", "/key-persons"): "PWA shell",
    ("GET", "/queue"): "PWA shell",
    ("GET", "/passes"): "PWA shell",
    ("GET", "/scanner"): "PWA shell",
    ("GET", "/services"): "PWA shell",
    ("GET", "/notices"): "PWA shell",
    ("GET", "/notices/{notice_id}"): "PWA shell (a notice, as a push opens it)",
    ("GET", "/notices/desk"): "PWA shell",
    ("GET", "/service-queue"): "PWA shell",
    ("GET", "/patrol"): "PWA shell",
    ("GET", "/board"): "PWA shell",
    ("GET", "/alarms/{alarm_id}"): "PWA shell (an alarm, as a push opens it)",
    ("GET", "/p/{token}"): "a scanned patrol tag URL: the shell, which records the scan through the API",
    ("GET", "/d/{token}"): "a scanned doorplate URL: the shell, or a page saying the plate is unknown",
    ("GET", "/d/{token}/register"): "as /d/{token}",
    ("GET", "/d/{token}/button"): "as /d/{token}",
    ("GET", "/visitors"): "PWA shell",
    ("GET", "/findings"): "PWA shell",
    ("GET", "/v/{share}"): "PWA shell (a visitor's share link)",
    ("GET", "/admin"): "PWA shell",
    ("GET", "/homes/{house_id}/vehicles"): "PWA shell (a household's vehicles)",
    ("GET", "/desk"): "PWA shell (the guard desk)",
    ("GET", "/watch-list"): "PWA shell (the police watch list)",
    ("GET", "/organisations"): "PWA shell (实有单位)",
    ("GET", "/buildings"): "PWA shell (楼栋信息)",
    ("GET", "/district"): "PWA shell (the district view)",
    ("GET", "/compliance"): "PWA shell (a community's self-assessment)",
    ("GET", "/compliance/{community_id}"): "PWA shell (a community's self-assessment)",
    ("GET", "/video"): "PWA shell (cameras, coverage, video inspection)",
    ("GET", "/intercom"): "PWA shell (a household's intercom calls, as a ring's push opens it)",
    ("GET", "/wall"): "PWA shell (the monitoring-room wall: live video, group patrol)",
    ("GET", "/sw.js"): "service worker",
    ("GET", "/manifest.webmanifest"): "PWA manifest",
    ("GET", "/app/{path}"): "PWA assets",
    # The API's description (OpenAPI) and its reference page.
    ("GET", "/schema"): "OpenAPI",
    ("GET", "/schema/scalar"): "OpenAPI",
    ("GET", "/schema/openapi.json"): "OpenAPI",
    ("GET", "/schema/{path}"): "OpenAPI (unknown renderers: 404)",
}
# Litestar answers OPTIONS on every path by itself (allowed methods, no data).
AUTOMATIC_METHODS = {"OPTIONS", "HEAD"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    actions: tuple[Action, ...]
    needs_body: bool

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)


def route_table(app: Litestar) -> tuple[list[Route], list[str]]:
    """The routes that declare a permission, and those that neither declare one nor are public."""
    declared, undeclared = [], []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods - AUTOMATIC_METHODS):
                actions = handler.opt.get(PERMISSION)
                if actions:
                    data = handler.parsed_fn_signature.parameters.get("data")
                    needs_body = data is not None and not data.has_default
                    declared.append(Route(method, route.path_format, tuple(actions), needs_body))
                elif (method, route.path_format) not in PUBLIC:
                    undeclared.append(f"{method} {route.path_format}")
    return declared, undeclared


def _route_table_of_the_app() -> tuple[list[Route], list[str], set[tuple[str, str]]]:
    """The app built only to read its route table (nothing starts; its SQLite file is thrown away)."""
    with tempfile.TemporaryDirectory() as var:
        app = create_app(
            Settings(
                database_url=f"sqlite:///{var}/anju.sqlite",
                secret_key="route-table-" + "x" * 32,
                sms_sender="memory",
                var_dir=var,
            )
        )
    served = {(m, r.path_format) for r in app.routes for h in r.route_handlers for m in h.http_methods}
    declared, undeclared = route_table(app)
    # Sorted: every test process (xdist's workers) must collect the same tests in the same order.
    return sorted(declared, key=str), undeclared, served


ROUTES, UNDECLARED, SERVED = _route_table_of_the_app()


def test_every_route_declares_a_permission_or_is_public():
    assert not UNDECLARED, (
        "new route without an entry in the authorisation matrix: declare opt=permission(Action...) "
        f"on it (backend/deps.py), or add it to PUBLIC with a reason: {UNDECLARED}"
    )
    assert not set(PUBLIC) - SERVED, f"PUBLIC names routes that no longer exist: {set(PUBLIC) - SERVED}"


# --- the seeded places a route is called on ------------------------------------------------------

SPARE_PHONES = ("13700000001", "13700000002")  # a staff account per community that no caller uses
REASON = "权限矩阵测试"
_serial = itertools.count(1)


@dataclass(frozen=True)
class Place:
    """One community's things a route can name: looked up afresh for every call, since calls change them."""

    community: int
    district: int
    house: int  # the first flat (in the home community: the signed-in resident's)
    token: str  # its doorplate
    door: dict[str, Any]  # the first unit door (the resident's own)
    residency: dict[str, Any]  # a current residency of someone not 常住 (deregistrable), pending first
    spare: int
    patrol: dict[str, Any]  # the seeded route, shift, first checkpoint and its tag; an open run and its guard
    request: dict[str, Any]  # a service request and its requester
    tile: int
    credential: int  # the community's seeded card
    alarm: int  # the seeded open alarm
    zone: int
    button: int  # an emergency button (the first flat's, in the home community)
    button_serial: str  # another one, unpaired
    flat_resident: int  # a verified resident of the first flat
    visitor_pass: int  # the seeded pass of the first flat
    notice: int  # a published notice
    face: dict[str, Any] | None  # the first flat resident's face enrolment and who enrolled it (add_faces)
    vehicle: int  # a vehicle of the first flat
    passage: int  # a vehicle held at a barrier
    watched: int  # a watch-list entry
    ebike: int  # an e-bike of the first flat's resident, without a tag
    finding: int  # an open welfare finding (not police-only)
    grant: int  # a seeded on-duty door grant
    face_watch: int  # a face on the police watch list (add_faces)
    arming: int  # a rule of the arming schedule (add_faces)
    video: dict[
        str, Any
    ]  # a seeded camera (and its device), the recorder; an open round, its operator, a check
    call: int  # a ringing intercom call to the first flat (add_calls)
    organisation: int  # a seeded 实有单位, pending ones first (the seed has three: one per deleting caller)


async def place_in(community: int) -> Place:
    district = (await Community.select(Community.district).where(Community.id == community).first())[
        "district"
    ]
    house = await House.objects().where(House.community == community).order_by(House.id).first()
    plate = (
        await Doorplate.select(Doorplate.token)
        .where((Doorplate.address == house.address) & Doorplate.revoked_at.is_null())
        .first()
    )
    door = (
        await Door.select()
        .where((Door.community == community) & (Door.kind == "unit"))
        .order_by(Door.id)
        .first()
    )
    residency = (
        await Residency.select(
            Residency.id, Residency.person, Residency.person.residence_category.as_alias("category")
        )
        .where(
            (Residency.community == community)
            & Residency.status.is_in(CURRENT)
            & (Residency.person.residence_category != ResidenceCategory.PERMANENT)
        )
        .order_by(Residency.status, Residency.id)  # pending first: verify and reject have work to do
        .first()
    )
    spare = await Account.select(Account.id).where(Account.phone.is_in(SPARE_PHONES)).output(as_list=True)
    spare_here = await StaffScope.select(StaffScope.account).where(
        StaffScope.account.is_in(spare) & (StaffScope.community == community)
    )
    alarm = await Alarm.select(Alarm.id).where(Alarm.community == community).order_by(Alarm.id).first()
    zone = await PerimeterZone.select(PerimeterZone.id).where(PerimeterZone.community == community).first()
    buttons = (
        await Device.select(Device.id, Device.code)
        .where((Device.community == community) & (Device.kind == DeviceKind.EMERGENCY_BUTTON))
        .order_by(Device.code)
    )
    resident = (
        await Residency.select(Residency.person)
        .where((Residency.house == house.id) & (Residency.status == ResidencyStatus.VERIFIED))
        .order_by(Residency.id)
        .first()
    )
    visitor_pass = await VisitorPass.select(VisitorPass.id).where(VisitorPass.house == house.id).first()
    return Place(
        community,
        district,
        house.id,
        plate["token"],
        door,
        residency,
        spare_here[0]["account"],
        await patrol_in(community),
        await ServiceRequest.select(ServiceRequest.id, ServiceRequest.requester)
        .where(ServiceRequest.community == community)
        .first(),
        (await ServiceTile.select(ServiceTile.id).where(ServiceTile.community == community).first())["id"],
        (await Credential.select(Credential.id).where(Credential.community == community).first())["id"],
        alarm["id"],
        zone["id"],
        buttons[0]["id"],
        buttons[1]["code"],
        resident["person"],
        visitor_pass["id"],
        (await Notice.select(Notice.id).where(Notice.community == community).first())["id"],
        await FaceEnrolment.select(FaceEnrolment.id, FaceEnrolment.enrolled_by)
        .where(FaceEnrolment.community == community)
        .first(),
        *await vehicles_in(community),
        (await EBike.select(EBike.id).where(EBike.house == house.id).first())["id"],
        (await Finding.select(Finding.id).where(Finding.community == community).first())["id"],
        (await AccessGrant.select(AccessGrant.id).where(AccessGrant.community == community).first())["id"],
        (await FaceWatch.select(FaceWatch.id).where(FaceWatch.community == community).first())["id"],
        (await ArmingRule.select(ArmingRule.id).where(ArmingRule.community == community).first())["id"],
        await video_in(community),
        await call_to(house.id),
        (
            await Organisation.select(Organisation.id)
            .where(Organisation.community == community)
            .order_by(Organisation.status)
            .order_by(Organisation.id)
            .first()
        )["id"],
    )


async def call_to(house: int) -> int:
    """The latest call to ``house`` (add_calls)."""
    row = (
        await IntercomCall.select(IntercomCall.id)
        .where(IntercomCall.house == house)
        .order_by(IntercomCall.id, ascending=False)
        .first()
    )
    return row["id"]


async def add_calls(world) -> None:
    """Per community: a call ringing at the first flat, from its unit's intercom panel."""
    for community in (world.home, world.other):
        house = await House.objects().where(House.community == community).order_by(House.id).first()
        panel = (
            await Device.select(Device.id)
            .where((Device.unit == house.unit) & (Device.kind == DeviceKind.INTERCOM))
            .first()
        )
        await IntercomCall(
            community=community,
            device=panel["id"],
            unit=house.unit,
            house=house.id,
            room=house.room_no,
            panel_call=f"matrix{community}",
            key=f"matrix:{community}",
            offer="v=0\r\n",
        ).save()


async def video_in(community: int) -> dict[str, Any]:
    camera = await Camera.select(Camera.id, Camera.device).where(Camera.community == community).first()
    recorder = await Recorder.select(Recorder.id).where(Recorder.community == community).first()
    round_ = (
        await InspectionRound.select(InspectionRound.id, InspectionRound.operator)
        .where(InspectionRound.community == community)
        .first()
    )
    check = (
        await InspectionCheck.select(InspectionCheck.id).where(InspectionCheck.round == round_["id"]).first()
    )
    group = (
        await CameraGroup.select(CameraGroup.id)
        .where(CameraGroup.community == community)
        .order_by(CameraGroup.id)
    )
    return {
        "camera": camera["id"],
        "group": group[0]["id"],  # a seeded camera group
        "device": camera["device"],
        "recorder": recorder["id"],
        "round": round_["id"],
        "operator": round_["operator"],
        "check": check["id"],
    }


async def add_inspection_rounds(world) -> None:
    """Per community: an open inspection round of its property staff with one camera checked."""
    for side, community in (("home", world.home), ("other", world.other)):
        operator = (
            await Account.select(Account.id).where(Account.phone == world.phone(Role.PROPERTY, side)).first()
        )
        camera = await Camera.select(Camera.id).where(Camera.community == community).first()
        round_ = InspectionRound(community=community, operator=operator["id"])
        await round_.save()
        await InspectionCheck(
            round=round_.id, camera=camera["id"], verdict="normal", key=f"{round_.id}:{camera['id']}"
        ).save()


async def vehicles_in(community: int) -> list[int]:
    """The community's vehicle, latest held passage and watch-list entry (add_vehicles)."""
    found = []
    for table in (Vehicle, VehiclePassage, WatchedPlate):
        latest = (
            table.select(table.id).where(table.community == community).order_by(table.id, ascending=False)
        )
        found.append((await latest.first())["id"])
    return found


async def add_vehicles(world) -> None:
    """Per community: a vehicle of the first flat, a vehicle held at a barrier, a watched plate."""
    for number, community in enumerate((world.home, world.other)):
        house = await House.select(House.id).where(House.community == community).order_by(House.id).first()
        device = await Device.select(Device.id).where(Device.community == community).first()
        await Vehicle(
            community=community,
            house=house["id"],
            plate=f"鄂A9000{number}",
            hpzl="02",
            active_slot=f"{community}:m",
        ).save()
        for held in range(4):  # let in and refused by each allowed caller: each needs one held
            await VehiclePassage(
                community=community,
                device=device["id"],
                plate=f"鄂B9000{number}",
                hpzl="02",
                direction="in",
                at=dt.datetime.now(dt.UTC),
                reason="unknown",
                outcome="held",
                key=f"matrix:{community}:{held}",
            ).save()
        await WatchedPlate(community=community, plate=f"鄂C9000{number}", active_slot=f"{community}:w").save()


async def patrol_in(community: int) -> dict[str, Any]:
    route = await PatrolRoute.select(PatrolRoute.id).where(PatrolRoute.community == community).first()
    checkpoint = (
        await Checkpoint.select(Checkpoint.id)
        .where(Checkpoint.route == route["id"])
        .order_by(Checkpoint.position)
        .first()
    )
    tag = (
        await CheckpointTag.select(CheckpointTag.token)
        .where((CheckpointTag.checkpoint == checkpoint["id"]) & CheckpointTag.revoked_at.is_null())
        .first()
    )
    shift = await PatrolShift.select(PatrolShift.id).where(PatrolShift.route == route["id"]).first()
    run = (
        await PatrolRun.select(PatrolRun.id, PatrolRun.guard).where(PatrolRun.community == community).first()
    )
    return {
        "route": route["id"],
        "checkpoint": checkpoint["id"],
        "tag": tag["token"],
        "shift": shift["id"],
        "run": run["id"],
        "guard": run["guard"],
    }


async def add_runs_and_requests(world) -> None:
    """Per community: an open run of its property guard, and a service request (the home one the resident's)."""
    now = dt.datetime.now(dt.UTC)
    for side, community in (("home", world.home), ("other", world.other)):
        guard = (
            await Account.select(Account.id).where(Account.phone == world.phone(Role.PROPERTY, side)).first()
        )
        route = await PatrolRoute.select(PatrolRoute.id).where(PatrolRoute.community == community).first()
        shift = await PatrolShift.select(PatrolShift.id).where(PatrolShift.route == route["id"]).first()
        await PatrolRun(
            community=community,
            route=route["id"],
            shift=shift["id"],
            guard=guard["id"],
            round_start=now - dt.timedelta(hours=1),
            round_end=now + dt.timedelta(hours=1),
        ).save()
        phone = world.phone(Role.RESIDENT) if side == "home" else SPARE_PHONES[1]
        requester = await Account.select(Account.id).where(Account.phone == phone).first()
        await ServiceRequest(
            community=community, requester=requester["id"], category="repairs", text="矩阵"
        ).save()


async def add_notices(world) -> None:
    """A published notice per community, by its property staff."""
    for side, community in (("home", world.home), ("other", world.other)):
        author = (
            await Account.select(Account.id).where(Account.phone == world.phone(Role.PROPERTY, side)).first()
        )
        await Notice(
            community=community,
            kind="general",
            title="矩阵",
            body="矩阵",
            author=author["id"],
            author_label="property",
            status="published",
            published_at=dt.datetime.now(dt.UTC),
        ).save()


async def first_flat(community: int) -> tuple[int, int]:
    """The community's first flat and its first verified resident, as place_in finds them."""
    house = await House.select(House.id).where(House.community == community).order_by(House.id).first()
    resident = (
        await Residency.select(Residency.person)
        .where((Residency.house == house["id"]) & (Residency.status == ResidencyStatus.VERIFIED))
        .order_by(Residency.id)
        .first()
    )
    return house["id"], resident["person"]


async def add_faces(world) -> None:
    """Per community, the first flat's resident's face, enrolled by the flat's resident account (home)
    or by the community's property staff (other), a watched face and an arming rule; the embeddings'
    content does not matter here."""
    for side, community in (("home", world.home), ("other", world.other)):
        house, person = await first_flat(community)
        role = Role.RESIDENT if side == "home" else Role.PROPERTY
        enrolled_by = await Account.select(Account.id).where(Account.phone == world.phone(role, side)).first()
        sealed = world.ctx.keys.seal("AAAA")
        await FaceEnrolment(
            key=f"{community}:{person}",
            community=community,
            house=house,
            person=person,
            pack="matrix",
            embedding_sealed=sealed,
            photo_sealed=sealed,
            consent_version="matrix",
            consent_method="self" if side == "home" else "staff_recorded",
            enrolled_by=enrolled_by["id"],
        ).save()
        for _ in range(3):  # deleted by each allowed caller in turn: each needs one
            await ArmingRule(community=community, level="off").save()
        await FaceWatch(
            community=community,
            name="矩阵",
            pack="matrix",
            embedding_sealed=sealed,
            photo_sealed=sealed,
            created_by=enrolled_by["id"],
        ).save()


async def add_ebikes_and_findings(world) -> None:
    """Per community: an untagged e-bike of the first flat's resident, and an open welfare finding."""
    for community in (world.home, world.other):
        house, person = await first_flat(community)
        await EBike(community=community, house=house, person=person, brand="矩阵").save()
        await Finding(
            community=community,
            rule=RuleName.WELFARE,
            house=house,
            person=person,
            period="2026-01-01",
            slot=f"welfare:person:{person}:2026-01-01",
        ).save()


async def add_spare_staff(world) -> None:
    for phone, community in zip(SPARE_PHONES, (world.home, world.other), strict=True):
        account = Account(phone=phone, name="备用 协管员", role=Role.WARDEN)
        await account.save()
        await StaffScope(account=account.id, community=community).save()


async def holds_grant(account_id: int | None, place: Place) -> bool:
    now = dt.datetime.now(dt.UTC)
    grants = await AccessGrant.select(AccessGrant.door).where(
        (AccessGrant.account == (account_id or 0))
        & (AccessGrant.community == place.community)
        & (AccessGrant.valid_from <= now)
        & (AccessGrant.valid_until >= now)
    )
    return any(g["door"] in (None, place.door["id"]) for g in grants)


# Whose own record a path parameter names, for Scope.OWN_RECORD.
OWNERS: dict[str, Callable[[Place], int]] = {
    "request_id": lambda p: p.request["requester"],
    "run_id": lambda p: p.patrol["guard"],
    "face_id": lambda p: p.face["enrolled_by"] if p.face else None,
    "round_id": lambda p: p.video["operator"],
    "check_id": lambda p: p.video["operator"],
}


async def target_at(who: Principal, place: Place, params: list[str]) -> Target:
    """The place as roles/ sees it: its community, flat, door and the residency's category."""
    return Target(
        community_id=place.community,
        district_id=place.district,
        house_id=place.house,
        # A pending self-registration's person has no category until it is verified.
        residence_category=ResidenceCategory(category) if (category := place.residency["category"]) else None,
        door_kind=place.door["kind"],
        building_id=place.door["building"],
        unit_id=place.door["unit"],
        granted=await holds_grant(who.account_id, place),
        grantee_id=place.spare,
        owner_id=next((OWNERS[param](place) for param in params if param in OWNERS), None),
    )


# Path parameters, filled from the place (own account's things: see OWN_THINGS).
PATH_VALUES: dict[str, Callable[[Place], Any]] = {
    "community_id": lambda p: p.community,
    "district_id": lambda p: p.district,
    "token": lambda p: p.token,
    "house_id": lambda p: p.house,
    "door_id": lambda p: p.door["id"],
    "residency_id": lambda p: p.residency["id"],
    "person_id": lambda p: p.residency["person"],
    "account_id": lambda p: p.spare,
    "route_id": lambda p: p.patrol["route"],
    "checkpoint_id": lambda p: p.patrol["checkpoint"],
    "run_id": lambda p: p.patrol["run"],
    "request_id": lambda p: p.request["id"],
    "tile_id": lambda p: p.tile,
    "credential_id": lambda p: p.credential,
    "alarm_id": lambda p: p.alarm,
    "zone_id": lambda p: p.zone,
    "device_id": lambda p: p.button,
    "pass_id": lambda p: p.visitor_pass,
    "notice_id": lambda p: p.notice,
    "face_id": lambda p: p.face["id"] if p.face else 0,
    "grant_id": lambda p: p.grant,
    "vehicle_id": lambda p: p.vehicle,
    "passage_id": lambda p: p.passage,
    "entry_id": lambda p: p.watched,
    "ebike_id": lambda p: p.ebike,
    "finding_id": lambda p: p.finding,
    "watch_id": lambda p: p.face_watch,
    "rule_id": lambda p: p.arming,
    "camera_id": lambda p: p.video["camera"],
    "group_id": lambda p: p.video["group"],
    "name": lambda p: "index.m3u8",
    "recorder_id": lambda p: p.video["recorder"],
    "round_id": lambda p: p.video["round"],
    "check_id": lambda p: p.video["check"],
    "call_id": lambda p: p.call,
    "organisation_id": lambda p: p.organisation,
    "building_id": lambda p: p.door["building"],
    "item": lambda p: "safety-9",
}
# Things an account owns whatever its community: "own" is the caller's, "other" someone else's.
OWN_THINGS = {"passkey_id"}


async def own_thing(param: str, who: Principal, own: bool) -> int | None:
    assert param == "passkey_id", f"no way to find {param}"
    account = who.account_id or 0
    mine = (Passkey.account == account) if own else (Passkey.account != account)
    row = await Passkey.select(Passkey.id).where(mine).order_by(Passkey.id).first()
    return row["id"] if row else None


def _now(days: int = 0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


# A valid P-256 public key (the generator point), as a browser's subscription carries one.
MATRIX_P256DH = "BGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"


# Example bodies (inputs, not expectations), by route; a body that names a community makes the
# route's cells run in both communities.
Body = Callable[[Place, str], dict[str, Any]]
BODIES: dict[tuple[str, str], Body] = {
    # The phone decides between registering oneself and a newcomer (see ``cell``).
    ("POST", "/api/plates/{token}/registrations"): lambda p, phone: {**FORM, "phone": phone},
    ("PUT", "/api/devices/{device_id}/face-matching"): lambda p, _: {"on_gate": False},
    ("POST", "/api/communities/{community_id}/arming"): lambda p, _: {"level": "off"},
    ("POST", "/api/residencies/{residency_id}/correct"): lambda p, _: {"reason": REASON},
    ("POST", "/api/residencies/{residency_id}/reject"): lambda p, _: {"reason": REASON},
    ("POST", "/api/residencies/{residency_id}/end"): lambda p, _: {"reason": REASON},
    ("POST", "/api/people/{person_id}/key-person"): lambda p, _: {"key_person": True, "key_category": REASON},
    ("PATCH", "/api/staff/{account_id}"): lambda p, _: {"active": True},
    ("POST", "/api/auth/passkeys"): lambda p, _: {"credential": {}},
    ("POST", "/api/communities/{community_id}/services"): lambda p, _: {"kind": "food", "title": "矩阵食堂"},
    ("PUT", "/api/services/{tile_id}"): lambda p, _: {"kind": "food", "title": "矩阵食堂"},
    ("POST", "/api/communities/{community_id}/service-requests"): lambda p, _: {
        "category": "repairs",
        "text": "厨房下水道堵塞",
    },
    ("POST", "/api/service-requests/{request_id}/steps"): lambda p, _: {"step": "take"},
    ("POST", "/api/service-requests/{request_id}/rating"): lambda p, _: {"stars": 5},
    ("POST", "/api/communities/{community_id}/patrol/routes"): lambda p, _: {
        "name": "矩阵路线",
        "checkpoints": [{"name": "矩阵点"}],
    },
    ("POST", "/api/patrol/routes/{route_id}/shifts"): lambda p, _: {
        "name": "白班",
        "starts": "08:00",
        "ends": "18:00",
    },
    ("POST", "/api/patrol/runs/{run_id}/scans"): lambda p, _: {"token": p.patrol["tag"]},
    ("POST", "/api/alarms/{alarm_id}/steps"): lambda p, _: {"state": "acknowledged", "note": REASON},
    ("PUT", "/api/zones/{zone_id}"): lambda p, _: {"community_id": p.community, **ZONE},
    ("PUT", "/api/communities/{community_id}/thresholds"): lambda p, _: {"meter": "water", "high": 5.0},
    ("POST", "/api/push/subscriptions"): lambda p, _: {
        "endpoint": "https://push.example.com/matrix",
        "keys": {"p256dh": MATRIX_P256DH, "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
    },
    ("DELETE", "/api/push/subscriptions"): lambda p, _: {"endpoint": "https://push.example.com/matrix"},
    # A tag, which residents may register too (cards are staff-only: a refusal the matrix can't tell).
    ("PUT", "/api/devices/{device_id}/stream-url"): lambda p, _: {"stream_url": ""},
    ("PUT", "/api/communities/{community_id}/compliance/items/{item}"): lambda p, _: {"points": 3},
    ("PUT", "/api/communities/{community_id}/compliance/tier"): lambda p, _: {"tier": "standard"},
    ("POST", "/api/houses/{house_id}/credentials"): lambda p, _: {
        "person_id": p.residency["person"],
        "kind": "tag",
        "value": f"EB{next(_serial):06d}",
    },
}
NOTICE = {"kind": "general", "title": "矩阵通知", "body": "矩阵"}
BODIES |= {
    ("POST", "/api/communities/{community_id}/notices"): lambda p, _: NOTICE,
    ("PUT", "/api/notices/{notice_id}"): lambda p, _: NOTICE,
    ("POST", "/api/notices/{notice_id}/review"): lambda p, _: {"verdict": "approve"},
    ("POST", "/api/notices/{notice_id}/publish"): lambda p, _: {},
    ("POST", "/api/houses/{house_id}/ebikes"): lambda p, _: {"person_id": p.flat_resident, "brand": "矩阵"},
    ("POST", "/api/ebikes/{ebike_id}/tag"): lambda p, _: {"tag": f"EB{next(_serial):06d}"},
    ("POST", "/api/findings/{finding_id}/close"): lambda p, _: {"note": REASON},
    # A registered camera again (409 when allowed), a recorder, its retention, a round's check.
    ("POST", "/api/communities/{community_id}/video/cameras"): lambda p, _: {
        "device_id": p.video["device"],
        "area": "main_passage",
    },
    ("PUT", "/api/video/cameras/{camera_id}"): lambda p, _: {"area": "main_passage"},
    ("POST", "/api/communities/{community_id}/video/groups"): lambda p, _: {
        "name": "矩阵分组",
        "camera_ids": [p.video["camera"]],
    },
    ("PUT", "/api/video/groups/{group_id}"): lambda p, _: {
        "name": "矩阵分组",
        "camera_ids": [p.video["camera"]],
    },
    ("POST", "/api/communities/{community_id}/video/recorders"): lambda p, _: {"name": "矩阵录像机"},
    ("PUT", "/api/video/recorders/{recorder_id}"): lambda p, _: {"name": "矩阵录像机"},
    ("PUT", "/api/video/recorders/{recorder_id}/retention"): lambda p, _: {"retention_days": 30},
    ("PUT", "/api/communities/{community_id}/video/inspection-schedule"): lambda p, _: {"rounds_per_day": 2},
    ("POST", "/api/calls/{call_id}/answer"): lambda p, _: {"sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"},
    ("POST", "/api/video/inspections/{round_id}/checks"): lambda p, _: {
        "camera_id": p.video["camera"],
        "verdict": "normal",
    },
    # PTZ: clearing the ONVIF address (no camera is reached), then a stop (409 without ONVIF).
    ("PUT", "/api/video/cameras/{camera_id}/onvif"): lambda p, _: {"host": None},
    ("POST", "/api/video/cameras/{camera_id}/ptz"): lambda p, _: {"action": "stop"},
    ("POST", "/api/communities/{community_id}/organisations"): lambda p, _: ORGANISATION,
    ("PUT", "/api/organisations/{organisation_id}"): lambda p, _: ORGANISATION,
    ("PUT", "/api/buildings/{building_id}"): lambda p, _: {"floors_above": 6, "agent_name": "矩阵"},
}
ORGANISATION = {
    "name": "矩阵便利店",
    "kind": "individual",
    "contact_name": "矩阵",
    "contact_phone": "027-88880000",
}
ZONE = {"name": "矩阵围墙", "polygon": [[0, 0], [100, 0], [100, 10]]}
PLACED_BODIES: dict[tuple[str, str], Body] = {
    ("POST", "/api/patrol/runs"): lambda p, _: {"shift_id": p.patrol["shift"]},
    ("POST", "/api/zones"): lambda p, _: {"community_id": p.community, **ZONE},
    ("POST", "/api/buttons/pairings"): lambda p, _: {
        "serial": p.button_serial,
        "house_id": p.house,
        "person_id": p.flat_resident,
    },
    ("POST", "/api/grants"): lambda p, _: {
        "account_id": p.spare,
        "community_id": p.community,
        "valid_from": _now(),
        "valid_until": _now(1),
    },
    ("POST", "/api/devices"): lambda p, _: {
        "community_id": p.community,
        "code": f"matrix-{next(_serial)}",
        "kind": "smoke_sensor",
        "name": "矩阵烟感",
    },
    ("POST", "/api/passes"): lambda p, _: {
        "house_id": p.house,
        "visitor_name": "矩阵 访客",
        "valid_from": _now(),
        "valid_until": _now(1),
    },
    ("POST", "/api/walk-ins"): lambda p, _: {
        "house_id": p.house,
        "visitor_name": "矩阵 访客",
        "id_type": "111",
        "id_number": FORM["id_number"],
        "valid_until": _now(1),
    },
    ("POST", "/api/houses/{house_id}/vehicles"): lambda p, _: {
        "plate": f"鄂D{next(_serial):05d}",
        "hpzl": "02",
    },
    ("POST", "/api/communities/{community_id}/watch-list"): lambda p, _: {"plate": f"鄂E{next(_serial):05d}"},
    ("POST", "/api/staff"): lambda p, _: {
        "phone": f"1360000{next(_serial):04d}",
        "name": "矩阵 测试",
        "role": "warden",
        "community_ids": [p.community],
    },
}


def sides(route: Route) -> tuple[str, ...]:
    placed = route.params or (route.method, route.path) in PLACED_BODIES
    return ("own", "other") if placed else ("own",)


# --- the cells -----------------------------------------------------------------------------------


# A door whose controller is offline (no simulator runs here) or does not answer: a stated
# condition with a message, not a failure of ours.
UNAVAILABLE = {503, 504}


def _short(body: Any) -> str:
    text = str(body)
    return text if len(text) < 160 else text[:160] + "…"


def _message(body: Any) -> bool:
    return isinstance(body, dict) and bool(body.get("detail"))


@dataclass
class Cell:
    caller: Role | None
    side: str
    allowed: bool
    url: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    someone_elses: bool = False  # another account's own thing

    def __str__(self) -> str:
        return f"{self.caller.value if self.caller else 'anonymous'} @ {self.side}"

    def problem(self, status: int, body: Any) -> str | None:
        if status >= 500 and not (status in UNAVAILABLE and _message(body)):
            return f"{status} (a server error)"
        if self.allowed:
            return f"refused with {status} {_short(body)}" if status in (401, 403) else None
        wanted = {401} if self.caller is None else {403, 404} if self.someone_elses else {403}
        if status not in wanted:
            return f"expected {'/'.join(map(str, sorted(wanted)))}, got {status} {_short(body)}"
        if not _message(body):
            return f"refusal without a message: {_short(body)}"
        return None


async def cell(
    world, route: Route, caller: Role | None, side: str, who: Principal, place: Place | None = None
) -> Cell | None:
    place = place or await place_in(world.home if side == "own" else world.other)
    values = {name: fill(place) for name, fill in PATH_VALUES.items()}
    someone_elses = False
    for param in route.params:
        if param in OWN_THINGS:
            values[param] = await own_thing(param, who, own=side == "own")
            someone_elses = side == "other"
            if values[param] is None:
                return None  # the caller owns no such thing: nothing to try
        elif param not in PATH_VALUES:
            pytest.fail(f"{route}: no seeded value for the path parameter {{{param}}}: add it to PATH_VALUES")
    key = (route.method, route.path)
    example = BODIES.get(key) or PLACED_BODIES.get(key)
    if route.needs_body and example is None:
        pytest.fail(f"{route}: no example body: add one to BODIES")
    # A resident adds a newcomer at home (they live there already) and registers themselves
    # elsewhere; anyone else registers a newcomer.
    phone = world.phone(Role.RESIDENT) if caller is Role.RESIDENT and side == "other" else FORM["phone"]
    target = await target_at(who, place, route.params)
    return Cell(
        caller=caller,
        side=side,
        allowed=not someone_elses and any(is_allowed(who, action, target) for action in route.actions),
        url=route.path.format(**values),
        body=example(place, phone) if example else None,
        headers=await world.headers(caller),
        someone_elses=someone_elses,
    )


async def principal_of(world, caller: Role | None) -> Principal:
    """The caller as the app itself sees them (the same token verification as every request)."""
    headers = await world.headers(caller)
    if not headers:
        return Principal()
    return await accounts.principal_from_token(world.ctx, headers["Authorization"].removeprefix("Bearer "))


@pytest.mark.parametrize("route", ROUTES, ids=str)
async def test_the_route_answers_each_caller_as_roles_says(world, route):
    await add_spare_staff(world)
    await add_runs_and_requests(world)
    await add_notices(world)
    await add_vehicles(world)
    await add_faces(world)
    await add_ebikes_and_findings(world)
    await add_inspection_rounds(world)
    await add_calls(world)
    callers = [None, *Role]
    principals = {caller: await principal_of(world, caller) for caller in callers}
    before = {"own": await place_in(world.home), "other": await place_in(world.other)}
    cells = [
        found
        for caller in callers
        for side in sides(route)
        if (found := await cell(world, route, caller, side, principals[caller], before[side])) is not None
    ]
    # Refusals first: an allowed call may change its place (a replaced plate, an ended residency),
    # so each allowed cell looks its place up again just before it is sent.
    problems = []
    for each in sorted(cells, key=lambda c: c.allowed):
        if each.allowed:
            each = await cell(world, route, each.caller, each.side, principals[each.caller])
        response = await world.client.request(route.method, each.url, json=each.body, headers=each.headers)
        body = response.json() if "json" in response.headers.get("content-type", "") else response.text
        if problem := each.problem(response.status_code, body):
            problems.append(f"{each}: {problem}")
    assert not problems, f"{route} ({', '.join(a.value for a in route.actions)}):\n" + "\n".join(problems)
