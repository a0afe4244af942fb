"""Consented face enrolment through the API: who may enrol whom, on what consent, who sees the photo,
and what deleting leaves behind (nothing). Photos are real faces (tests/photos.py)."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from backend.audit.tables import AuditEntry
from backend.faces.engine import Engine
from backend.faces.service import CONSENT_VERSION
from backend.faces.tables import FaceEnrolment
from backend.registry.enums import ResidencyStatus
from backend.registry.tables import Residency
from roles import Role
from tests import photos
from tests.integration.test_credentials import resident_person


@pytest.fixture(scope="module")
def faces(face_pack) -> dict[str, bytes]:
    """JPEGs of single real faces, as a phone would upload them."""
    people = photos.people(Engine(face_pack))
    jpeg = {
        name: cv2.imencode(".jpg", people[name])[1].tobytes()
        for name in ("newton-0", "gauss-0", "astronaut-0")
    }
    jpeg["group"] = cv2.imencode(".jpg", photos.source_photos()["t1"])[1].tobytes()
    jpeg["blurred"] = cv2.imencode(".jpg", cv2.GaussianBlur(people["astronaut-0"], (0, 0), 3))[1].tobytes()
    return jpeg


async def enrol(world, role, house, person, photo, consent=CONSENT_VERSION, note="", community="home"):
    params = {"consent": consent}
    if note:
        params["consent_note"] = note
    return await world.client.post(
        f"/api/houses/{house}/people/{person}/face",
        params=params,
        content=photo,
        headers={**await world.headers(role, community), "Content-Type": "image/jpeg"},
    )


async def household_of(house: int, status=ResidencyStatus.VERIFIED) -> list[int]:
    rows = await Residency.select(Residency.person).where(
        (Residency.house == house) & (Residency.status == status)
    )
    return [row["person"] for row in rows]


async def another_house(world) -> tuple[int, int]:
    """Another household of the home community with a verified resident: (house, person)."""
    row = (
        await Residency.select(Residency.house, Residency.person)
        .where(
            (Residency.community == world.home)
            & (Residency.house != world.home_house)
            & (Residency.status == ResidencyStatus.VERIFIED)
        )
        .first()
    )
    return row["house"], row["person"]


async def test_a_resident_enrols_their_face_sees_it_and_deletes_it(world, faces):
    me = await resident_person(world)
    response = await enrol(world, Role.RESIDENT, world.home_house, me, faces["newton-0"])
    assert response.status_code == 201, response.text
    enrolment = response.json()
    assert enrolment["consent_method"] == "self" and enrolment["consent_version"] == CONSENT_VERSION
    assert enrolment["mine"] is True

    stored = await FaceEnrolment.select().where(FaceEnrolment.id == enrolment["id"]).first()
    sealed = stored["embedding_sealed"]
    embedding = np.frombuffer(base64.b64decode(world.ctx.keys.unseal(sealed)), np.float32)
    assert embedding.shape == (128,) and abs(np.linalg.norm(embedding) - 1) < 1e-4
    assert b"JFIF" not in base64.urlsafe_b64decode(stored["photo_sealed"])  # sealed, not a plain JPEG

    headers = await world.headers(Role.RESIDENT)
    listed = await world.client.get(f"/api/houses/{world.home_house}/faces", headers=headers)
    assert [e["id"] for e in listed.json()] == [enrolment["id"]]
    photo = await world.client.get(f"/api/faces/{enrolment['id']}/photo", headers=headers)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    shown = cv2.imdecode(np.frombuffer(photo.content, np.uint8), cv2.IMREAD_COLOR)
    assert max(shown.shape[:2]) <= 256 and len(Engine(world.ctx.settings.face_pack_dir).detect(shown)) == 1

    deleted = await world.client.delete(f"/api/faces/{enrolment['id']}", headers=headers)
    assert deleted.status_code == 204
    assert await FaceEnrolment.count() == 0  # embedding and photo gone with the row
    gone = await world.client.get(f"/api/faces/{enrolment['id']}/photo", headers=headers)
    assert gone.status_code == 404
    actions = await AuditEntry.select(AuditEntry.action).output(as_list=True)
    assert {"enrol_face", "delete_face"} <= set(actions)


async def test_no_consent_no_enrolment(world, faces):
    me = await resident_person(world)
    for consent in ("", "2020-01"):
        response = await enrol(world, Role.RESIDENT, world.home_house, me, faces["newton-0"], consent=consent)
        assert response.status_code in (400, 422), response.text
        if response.status_code == 422:
            assert response.json()["extra"]["code"] == "consent_required"
    assert await FaceEnrolment.count() == 0


async def test_staff_enrol_only_recording_the_consent_they_collected(world, faces):
    house, person = await another_house(world)
    without = await enrol(world, Role.PROPERTY, house, person, faces["gauss-0"])
    assert without.status_code == 422 and without.json()["extra"]["code"] == "consent_note_required"
    recorded = await enrol(world, Role.PROPERTY, house, person, faces["gauss-0"], note="同意书 2026-0117")
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["consent_method"] == "staff_recorded"
    assert recorded.json()["consent_note"] == "同意书 2026-0117"


async def test_the_quality_checks_answer_with_a_reason(world, faces):
    me = await resident_person(world)
    for photo, code in (
        (faces["group"], "several_faces"),
        (faces["blurred"], "face_blurred"),
        (cv2.imencode(".jpg", np.full((480, 640, 3), 128, np.uint8))[1].tobytes(), "no_face"),
    ):
        response = await enrol(world, Role.RESIDENT, world.home_house, me, photo)
        assert response.status_code == 422, response.text
        assert response.json()["extra"]["code"] == code
    not_a_photo = await enrol(world, Role.RESIDENT, world.home_house, me, b"GIF89a not really")
    assert not_a_photo.status_code == 422
    assert await FaceEnrolment.count() == 0


async def test_re_enrolling_replaces_the_face(world, faces):
    me = await resident_person(world)
    assert (await enrol(world, Role.RESIDENT, world.home_house, me, faces["newton-0"])).status_code == 201
    before = await FaceEnrolment.select(FaceEnrolment.embedding_sealed).output(as_list=True)
    second = await enrol(world, Role.RESIDENT, world.home_house, me, faces["astronaut-0"])
    assert second.status_code == 201
    rows = await FaceEnrolment.select(FaceEnrolment.id, FaceEnrolment.embedding_sealed)
    assert [row["id"] for row in rows] == [second.json()["id"]]
    unsealed = [world.ctx.keys.unseal(sealed) for sealed in (before[0], rows[0]["embedding_sealed"])]
    assert unsealed[0] != unsealed[1]  # the new photo's face (sealing alone would differ anyway)


async def test_staff_reads_of_a_face_photo_are_audited_and_wardens_see_none(world, faces):
    me = await resident_person(world)
    enrolment = (await enrol(world, Role.RESIDENT, world.home_house, me, faces["newton-0"])).json()
    url = f"/api/faces/{enrolment['id']}/photo"
    police = await world.client.get(url, headers=await world.headers(Role.POLICE))
    assert police.status_code == 200
    reads = await AuditEntry.select(AuditEntry.action, AuditEntry.subject).where(
        AuditEntry.action == "read_face_photo"
    )
    assert reads == [{"action": "read_face_photo", "subject": f"face:{enrolment['id']}"}]
    warden = await world.client.get(url, headers=await world.headers(Role.WARDEN))
    assert warden.status_code == 403


async def test_attackers_are_refused(world, faces):
    """A stranger, a neighbour, another community's staff: none enrols, lists, sees or deletes a face."""
    me = await resident_person(world)
    enrolment = (await enrol(world, Role.RESIDENT, world.home_house, me, faces["newton-0"])).json()
    house, neighbour = await another_house(world)

    # A resident cannot put their face on a neighbour's person, nor a face into a household not theirs.
    assert (await enrol(world, Role.RESIDENT, house, neighbour, faces["gauss-0"])).status_code == 403
    assert (
        await enrol(world, Role.RESIDENT, world.home_house, neighbour, faces["gauss-0"])
    ).status_code == 422
    # Another community's staff, and anonymous callers.
    assert (
        await enrol(world, Role.PROPERTY, house, neighbour, faces["gauss-0"], note="x", community="other")
    ).status_code == 403
    anonymous = await world.client.post(
        f"/api/houses/{house}/people/{neighbour}/face",
        params={"consent": CONSENT_VERSION},
        content=faces["gauss-0"],
        headers={"Content-Type": "image/jpeg"},
    )
    assert anonymous.status_code == 401
    for role, community in ((Role.PROPERTY, "other"), (Role.POLICE, "other")):
        headers = await world.headers(role, community)
        assert (
            await world.client.get(f"/api/faces/{enrolment['id']}/photo", headers=headers)
        ).status_code == 403
        assert (
            await world.client.delete(f"/api/faces/{enrolment['id']}", headers=headers)
        ).status_code == 403
    assert (await world.client.get(f"/api/faces/{enrolment['id']}/photo")).status_code == 401
    assert await FaceEnrolment.count() == 1
