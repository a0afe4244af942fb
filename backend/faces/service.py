"""Consented face enrolment: who may enrol whom, on what consent, and who sees the photo.

A verified resident enrols their own face, or a household member's, from the PWA after accepting
the consent text (its version is recorded); staff enrol a resident only recording the consent
they collected (a signed form's number). Nothing else puts a face in a gallery. A resident sees
the enrolments of their household and the photos they enrolled, never another resident's face;
property staff and police may see a photo, each time audited. Deleting an enrolment deletes its
embedding and photo at once. Enrolling never replaces the other ways in (phone, card, PIN).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import cv2
import msgspec
import numpy as np

from backend.audit import service as audit
from backend.context import Context
from backend.db import transaction
from backend.errors import Invalid, NotFound
from backend.faces import ongate
from backend.faces.engine import Engine, FaceRefused, Refusal
from backend.faces.schemas import ConsentOut, EnrolmentOut
from backend.faces.sealed import seal, unseal
from backend.faces.tables import ConsentMethod, FaceEnrolment, FaceGallery
from backend.photos import clean_photo
from backend.registry import service as registry
from backend.registry.tables import Residency
from backend.text import plain_text
from roles import Action, Principal, Target, authorize, is_allowed
from roles.matrix import STAFF_ROLES

CONSENT_VERSION = "2026-11"
CONSENT_TEXT = (
    "我同意安居平台使用我（或我代为同意的家庭成员）的人脸照片，仅用于本小区人脸闸机开门。"
    "人脸特征和照片加密保存，不向其他住户展示；物业和社区民警查看照片均留有审计记录。"
    "我可以随时在“我的家”中查看并删除，删除后立即从闸机人脸库中移除。"
    "不录入人脸，我仍可使用手机、门禁卡和密码进出。闸机抓拍按公安机关要求实时上报，本平台默认不留存抓拍照片。"
)
BUMP = (
    "INSERT INTO face_gallery (community, version) VALUES ({}, 1) "
    "ON CONFLICT (community) DO UPDATE SET version = face_gallery.version + 1"
)
CROP_SIDE = 256  # the kept photo: the face and a margin, enough to recognise it, no more
CROP_MARGIN = 0.4  # of the face box, on each side


def consent() -> ConsentOut:
    return ConsentOut(CONSENT_VERSION, CONSENT_TEXT)


# --- enrolling ---------------------------------------------------------------------


async def enrol(
    ctx: Context,
    who: Principal,
    house_id: int,
    person_id: int,
    consent_version: str,
    consent_note: str,
    body: Callable[[], Awaitable[bytes]],
    content_type: str,
    ip: str,
) -> EnrolmentOut:
    """``body`` (the photo) is read only once the caller may enrol this person on this consent."""
    target = await registry.house_target(house_id)
    method = await _consent_method(who, target, person_id, consent_version)
    note = plain_text(consent_note, "consent_note")
    if method is ConsentMethod.STAFF_RECORDED and not note:
        raise Invalid(
            "consent_note_required",
            "Record which consent the resident gave (e.g. the form's number)",
            field="consent_note",
        )
    member = await registry.household_member(person_id, house_id, dt.date.today())
    if member is None:
        raise Invalid(
            "not_a_member", "This person is not a verified member of the household", field="person_id"
        )
    embedding, crop, pack = await read_face(ctx, await body(), content_type)
    row = FaceEnrolment(
        key=f"{target.community_id}:{person_id}",
        community=target.community_id,
        house=house_id,
        person=person_id,
        pack=pack,
        embedding_sealed=seal(ctx.keys, embedding.astype(np.float32).tobytes()),
        photo_sealed=seal(ctx.keys, crop),
        consent_version=consent_version,
        consent_method=method,
        consent_note=note,
        enrolled_by=who.account_id,
    )
    async with transaction(FaceEnrolment._meta.db):
        await FaceEnrolment.delete().where(FaceEnrolment.key == row.key)  # re-enrolling replaces
        await row.save()
        await bump_gallery(target.community_id)
        await audit.record(
            who,
            "enrol_face",
            f"face:{row.id}",
            community=target.community_id,
            ip=ip,
            detail={"person": person_id, "house": house_id, "consent": method.value},
        )
    await ongate.notify_gates(ctx, target.community_id)
    return _out(row.to_dict() | {"name": member["name"]}, who)


async def _consent_method(who: Principal, target: Target, person_id: int, version: str) -> ConsentMethod:
    if is_allowed(who, Action.ENROL_FACE, target):
        method = ConsentMethod.STAFF_RECORDED
    else:
        authorize(who, Action.ENROL_OWN_FACE, target)
        own = await Residency.exists().where(
            (Residency.person == person_id)
            & (Residency.house == target.house_id)
            & (Residency.account == who.account_id)
        )
        method = ConsentMethod.SELF if own else ConsentMethod.HOUSEHOLD
    if version != CONSENT_VERSION:
        raise Invalid(
            "consent_required",
            f"Accept the current consent text (version {CONSENT_VERSION}) first",
            field="consent",
        )
    return method


async def read_face(ctx: Context, data: bytes, content_type: str) -> tuple[np.ndarray, bytes, str]:
    """A photo's one face, checked as an enrolment's must be: its embedding, the kept crop and
    the pack's name; Invalid says what is wrong with the photo."""
    photo = clean_photo(data, content_type)
    try:
        return await ctx.faces.run(lambda engine: _enrolment(engine, photo))
    except FaceRefused as refused:
        raise Invalid(refused.reason.value, REFUSALS[refused.reason], field="photo") from None


def _enrolment(engine: Engine, photo: bytes) -> tuple[np.ndarray, bytes, str]:
    """The embedding, the kept crop and the pack's name; FaceRefused says what is wrong with the photo."""
    image = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR)
    face, embedding = engine.enrolment(image)
    x, y, width, height = face.box
    pad = CROP_MARGIN * max(width, height)
    top, left = int(max(0, y - pad)), int(max(0, x - pad))
    crop = image[top : int(y + height + pad), left : int(x + width + pad)]
    scale = min(1.0, CROP_SIDE / max(crop.shape[:2]))
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    return embedding, jpeg, engine.pack.name


# --- reading and deleting ------------------------------------------------------------


async def household(who: Principal, house_id: int, ip: str) -> list[EnrolmentOut]:
    target = await registry.house_target(house_id)
    staff = _authorize_any(who, target)
    rows = await _select().where(FaceEnrolment.house == house_id).order_by(FaceEnrolment.id)
    if staff and rows:
        await audit.record_read(who, "list_faces", f"house:{house_id}", community=target.community_id, ip=ip)
    return [_out(row, who) for row in rows]


async def photo(ctx: Context, who: Principal, face_id: int, ip: str) -> bytes:
    row, target = await _enrolment_row(face_id)
    authorize(who, Action.VIEW_FACE_IMAGE, msgspec.structs.replace(target, owner_id=row["enrolled_by"]))
    if who.role in STAFF_ROLES:
        await audit.record_read(who, "read_face_photo", f"face:{face_id}", community=row["community"], ip=ip)
    return unseal(ctx.keys, row["photo_sealed"])


async def delete(ctx: Context, who: Principal, face_id: int, ip: str) -> None:
    row, target = await _enrolment_row(face_id)
    _authorize_any(who, target)
    async with transaction(FaceEnrolment._meta.db):
        await FaceEnrolment.delete().where(FaceEnrolment.id == face_id)
        await bump_gallery(row["community"])
        await audit.record(who, "delete_face", f"face:{face_id}", community=row["community"], ip=ip)
    await ongate.notify_gates(ctx, row["community"])


async def bump_gallery(community_id: int) -> None:
    """In the transaction that changes a community's faces: every gate's next decision reloads them."""
    await FaceGallery.raw(BUMP, community_id)


def _authorize_any(who: Principal, target: Target) -> bool:
    """Staff (True) or a resident of the household (False); Forbidden otherwise."""
    if is_allowed(who, Action.ENROL_FACE, target):
        return True
    authorize(who, Action.ENROL_OWN_FACE, target)
    return False


async def _enrolment_row(face_id: int) -> tuple[dict, Target]:
    row = await _select(FaceEnrolment.photo_sealed).where(FaceEnrolment.id == face_id).first()
    if row is None:
        raise NotFound("unknown_face", f"No face enrolment {face_id}")
    return row, await registry.house_target(row["house"])


def _select(*extra):
    return FaceEnrolment.select(
        FaceEnrolment.id,
        FaceEnrolment.community,
        FaceEnrolment.house,
        FaceEnrolment.person,
        FaceEnrolment.person.name.as_alias("name"),
        FaceEnrolment.consent_version,
        FaceEnrolment.consent_method,
        FaceEnrolment.consent_note,
        FaceEnrolment.enrolled_by,
        FaceEnrolment.created_at,
        *extra,
    )


def _out(row: dict, who: Principal) -> EnrolmentOut:
    fields = {name: row[name] for name in EnrolmentOut.__struct_fields__ if name != "mine"}
    return EnrolmentOut(**fields, mine=row["enrolled_by"] == who.account_id)


REFUSALS = {
    Refusal.NOT_AN_IMAGE: "This file is not a photo",
    Refusal.TOO_LARGE: "This photo is too large",
    Refusal.NO_FACE: "No face was found in the photo",
    Refusal.SEVERAL_FACES: "The photo shows more than one face; take it alone",
    Refusal.TOO_SMALL: "The face is too small; come closer to the camera",
    Refusal.SIDE_ON: "Look straight at the camera",
    Refusal.BLURRED: "The photo is blurred; hold still",
    Refusal.DARK: "The photo is too dark; find more light",
}
