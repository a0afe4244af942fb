"""Device-side matching: face gates that hold their own gallery and decide at the gate.

A deployment may keep faces off the platform's decision path (seed 五.(五): the gallery may live on
the gate devices alone). Maintenance staff switch a face gate to matching on the gate; the gate then
pulls its gallery over HTTP with its own device credentials (``GET /api/devices/face-gallery``,
Digest or Basic, as an access terminal pushes its events). It gets only what it needs: the
embeddings of the enrolled residents its door opens for today, with the pack's name and threshold
and the community's gallery version; no name, no photo. Every issue is audited.

The gate pulls when it connects, at least every ``SYNC_SECONDS``, and when told: after enrolling,
deleting or switching, the platform sends each such gate of the community ``face_sync`` with the
new version. It reports each decision as a ``face`` event carrying ``match``, ``score`` and
``granted`` (and, if it has one, the capture, so the watch list still applies: gates.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets

import msgspec

from backend.access.tables import Door
from backend.audit import service as audit
from backend.context import Context
from backend.db import placeholders, transaction
from backend.devices.commands import CommandTarget
from backend.devices.tables import Device, DeviceKind
from backend.errors import DomainError, Invalid, NotFound
from backend.faces.sealed import unseal
from backend.faces.tables import FaceEnrolment, FaceGallery
from backend.registry import service as registry
from device_bridge.dispatch import KnownDevice
from device_bridge.protocol import CommandAction
from roles import Action, Principal, Target, authorize
from roles.matrix import household_opens

log = logging.getLogger("anju.faces")
SYNC_SECONDS = 600  # a gate pulls at least this often: a missed face_sync is caught up
RESIDENTS = """
SELECT r.person, r.house, h.community, h.building, h.unit FROM residency r JOIN house h ON h.id = r.house
WHERE r.status = 'verified' AND (r.end_date IS NULL OR r.end_date >= {{}}) AND r.person IN ({people})
"""


class GalleryFace(msgspec.Struct, frozen=True):
    enrolment: int
    embedding: str  # base64 of the little-endian float32 unit vector


class GateGallery(msgspec.Struct, frozen=True):
    version: int  # the community's gallery version: a face_sync names the one to pull
    pack: str  # the model pack the embeddings come from: the gate must run the same
    threshold: float  # a match is a cosine similarity at or above this
    sync_seconds: int
    faces: list[GalleryFace]


class MatchingIn(msgspec.Struct, frozen=True):
    on_gate: bool


class MatchingOut(msgspec.Struct, frozen=True):
    device_id: int
    on_gate: bool


class NotMatchingOnGate(DomainError):
    status = 403


async def set_matching(ctx: Context, who: Principal, device_id: int, on_gate: bool, ip: str) -> MatchingOut:
    row = await Device.select(Device.community, Device.kind).where(Device.id == device_id).first()
    if row is None:
        raise NotFound("unknown_device", f"No device {device_id}")
    authorize(who, Action.MANAGE_DEVICES, await registry.community_target(row["community"]))
    if row["kind"] != DeviceKind.FACE_GATE:
        raise Invalid("not_a_face_gate", "Only a face gate matches faces", field="device_id")
    async with transaction(Device._meta.db):
        await Device.update({Device.matches_faces: on_gate}).where(Device.id == device_id)
        await audit.record(
            who,
            "set_face_matching",
            f"device:{device_id}",
            community=row["community"],
            ip=ip,
            detail={"on_gate": on_gate},
        )
    await notify_gates(ctx, row["community"])
    return MatchingOut(device_id, on_gate)


async def gallery(ctx: Context, device: KnownDevice, ip: str) -> GateGallery:
    """The gallery of the authenticated ``device``: the faces its door opens for, today."""
    if not await Device.exists().where((Device.id == device.id) & (Device.matches_faces == True)):  # noqa: E712
        raise NotMatchingOnGate("not_matching_on_gate", "This device does not match faces on the gate")
    pack = await ctx.faces.run(lambda engine: engine.pack)
    version = (
        await FaceGallery.select(FaceGallery.version).where(FaceGallery.community == device.community).first()
    )
    enrolled = await FaceEnrolment.select(
        FaceEnrolment.id, FaceEnrolment.person, FaceEnrolment.house, FaceEnrolment.embedding_sealed
    ).where((FaceEnrolment.community == device.community) & (FaceEnrolment.pack == pack.name))
    opens = await _households_opening(device, {row["person"] for row in enrolled})
    faces = [
        GalleryFace(row["id"], base64.b64encode(unseal(ctx.keys, row["embedding_sealed"])).decode())
        for row in enrolled
        if (row["person"], row["house"]) in opens
    ]
    await audit.record_read(
        None,
        "issue_face_gallery",
        f"device:{device.id}",
        community=device.community,
        ip=ip,
        detail={"faces": len(faces)},
    )
    return GateGallery(version["version"] if version else 0, pack.name, pack.threshold, SYNC_SECONDS, faces)


async def _households_opening(device: KnownDevice, people: set[int]) -> set[tuple[int, int]]:
    """(person, house) of the verified, current residencies whose household opens the gate's doors."""
    doors = await _door_targets(device)
    if not people or not doors:
        return set()
    rows = await FaceEnrolment.raw(
        RESIDENTS.format(people=placeholders(people)), dt.date.today(), *sorted(people)
    )
    return {
        (row["person"], row["house"])
        for row in rows
        if any(household_opens(row["community"], row["building"], row["unit"], door) for door in doors)
    }


async def _door_targets(device: KnownDevice) -> list[Target]:
    rows = await Door.select(Door.community, Door.kind, Door.building, Door.unit).where(
        Door.id.is_in(list(device.doors.values()) or [0])
    )
    return [
        Target(community_id=r["community"], door_kind=r["kind"], building_id=r["building"], unit_id=r["unit"])
        for r in rows
    ]


async def notify_gates(ctx: Context, community_id: int) -> None:
    """Tell the community's gates that match on their own to pull again (after the commit). Best
    effort: a gate that misses it pulls within SYNC_SECONDS, and whenever it reconnects."""
    gates = await Device.select(
        Device.code, Device.secret_sealed, Device.community.code.as_alias("community_code")
    ).where(
        (Device.community == community_id) & (Device.matches_faces == True)  # noqa: E712
    )
    if not gates:
        return
    row = await FaceGallery.select(FaceGallery.version).where(FaceGallery.community == community_id).first()
    version = row["version"] if row else 0
    for gate in gates:
        target = CommandTarget(
            gate["community_code"], gate["code"], ctx.keys.unseal(gate["secret_sealed"]).encode()
        )
        try:
            await ctx.commands.sender.send(
                target,
                f"faces-{version}-{secrets.token_hex(4)}",
                CommandAction.FACE_SYNC,
                {"version": version},
            )
        except DomainError as exc:
            log.warning(
                "face_sync to %s not sent (%s); it pulls within %d s", gate["code"], exc.message, SYNC_SECONDS
            )
