"""A doorplate scan shows each kind of viewer exactly the fields the DESIGN table allows."""

from __future__ import annotations

import io

from PIL import Image

from backend.audit.tables import AuditEntry
from backend.doorplates.tables import Doorplate
from backend.registry.service import sealed_key_flag
from backend.registry.tables import Person, Residency
from qr.render import png
from qr.tokens import plate_url
from roles import Role

BASE = {"plate", "community", "address", "viewer", "services", "actions"}
# What field staff may do on a flat; police also correct residencies and flag key persons.
STAFF_ACTIONS = {"register", "deregister", "verify", "view_residency_history"}
FIELD_ACTIONS = STAFF_ACTIONS | {"pair_button"}  # wardens and property staff also pair SOS buttons
COMMON = {
    "residency_id",
    "person_id",
    "name",
    "status",
    "relation",
    "residence_category",
    "gender",
}
RESIDENT_FIELDS = COMMON | {"phone", "id_number", "age_band"}
STAFF_FIELDS = COMMON | {"phone", "id_number", "age_band"}
# The police also see the person's 一标三实 record (roles/projections.py).
YBSS_FIELDS = {"occupation", "education", "marital_status", "native_place", "service_place", "lodging"}
POLICE_FIELDS = COMMON | {"phone", "id_number", "birth_date", "key_person", "key_category"} | YBSS_FIELDS


async def scan(world, role, community="home", house=None):
    token = await world.house_plate(house or world.home_house)
    response = await world.client.get(f"/api/scan/{token}", headers=await world.headers(role, community))
    assert response.status_code == 200, response.text
    return response.json()


async def real_id_numbers(world, house_id) -> dict[int, str]:
    rows = await Residency.select(
        Residency.person, Residency.person.id_number_encrypted.as_alias("sealed")
    ).where(Residency.house == house_id)
    return {r["person"]: world.ctx.keys.unseal(r["sealed"]) for r in rows}


async def test_anonymous_sees_address_and_services_only(world):
    view = await scan(world, None)
    assert set(view) == BASE
    assert view["viewer"] == "anonymous" and view["actions"] == ["self_register"]
    assert "幸福家园" in view["address"]["text"] and view["services"]


async def test_resident_sees_own_household_with_masked_ids(world):
    view = await scan(world, Role.RESIDENT)
    assert set(view) == BASE | {"house", "residents"}
    assert view["viewer"] == "resident"
    assert "add_member" in view["actions"] and "verify" not in view["actions"]
    assert "self_register" not in view["actions"]  # they live here: members, not a second registration
    real = await real_id_numbers(world, world.home_house)
    for person in view["residents"]:
        assert set(person) == RESIDENT_FIELDS
        assert person["id_number"] != real[person["person_id"]] and "*" in person["id_number"]


async def test_resident_of_another_flat_sees_the_anonymous_view(world):
    view = await scan(world, Role.RESIDENT, house=world.home_house + 1)
    assert view["viewer"] == "anonymous" and "residents" not in view


async def test_warden_sees_categories_but_never_ids_or_key_flags(world):
    first_in_flat = Residency.objects().where(Residency.house == world.home_house).order_by(Residency.id)
    person = (await first_in_flat.first()).person
    await Person.update({Person.key_sealed: sealed_key_flag(world.ctx, True, "涉稳")}).where(
        Person.id == person
    )
    view = await scan(world, Role.WARDEN)
    assert set(view) == BASE | {"house", "residents", "owners"}
    assert view["viewer"] == "staff"
    assert set(view["actions"]) == FIELD_ACTIONS
    real = await real_id_numbers(world, world.home_house)
    for resident in view["residents"]:
        assert set(resident) == STAFF_FIELDS
        assert resident["id_number"] != real[resident["person_id"]]
        assert (
            resident["id_number"][:3] == real[resident["person_id"]][:3] and "****" in resident["id_number"]
        )
        assert "****" in resident["phone"]
    assert all(set(owner) == {"name", "phone"} for owner in view["owners"])
    assert "涉稳" not in str(view)


async def test_property_staff_act_like_wardens_on_a_flat(world):
    view = await scan(world, Role.PROPERTY)
    assert view["viewer"] == "staff" and set(view["actions"]) == FIELD_ACTIONS


async def test_community_workers_see_but_do_not_change(world):
    view = await scan(world, Role.COMMUNITY_WORKER)
    assert view["viewer"] == "staff" and view["actions"] == []


async def test_police_see_full_ids_and_key_person_flags(world):
    first_in_flat = Residency.objects().where(Residency.house == world.home_house).order_by(Residency.id)
    person = (await first_in_flat.first()).person
    await Person.update({Person.key_sealed: sealed_key_flag(world.ctx, True, "涉稳")}).where(
        Person.id == person
    )
    view = await scan(world, Role.POLICE)
    assert view["viewer"] == "police" and set(view) == BASE | {"house", "residents", "owners"}
    assert set(view["actions"]) == STAFF_ACTIONS | {"correct_residency", "flag_key_person"}
    real = await real_id_numbers(world, world.home_house)
    for resident in view["residents"]:
        assert set(resident) == POLICE_FIELDS
        assert resident["id_number"] == real[resident["person_id"]]
    flagged = {r["person_id"]: r["key_category"] for r in view["residents"] if r["key_person"]}
    # The one flagged here, beside the member the seed flags in this first flat.
    assert flagged[person] == "涉稳" and sorted(flagged.values()) == ["涉稳", "重点人口"]
    assert all(len(owner["id_number"]) == 18 for owner in view["owners"])


async def test_police_of_another_community_see_the_anonymous_view(world):
    view = await scan(world, Role.POLICE, community="other")
    assert view["viewer"] == "anonymous" and set(view) == BASE


async def test_staff_reads_are_audited_and_anonymous_reads_are_not(world):
    await scan(world, None)
    assert await AuditEntry.count().where(AuditEntry.action == "read_household") == 0
    await scan(world, Role.WARDEN)
    entry = await AuditEntry.objects().where(AuditEntry.action == "read_household").first()
    assert entry.actor_role == "warden" and entry.subject == f"house:{world.home_house}"
    assert entry.community == world.home and entry.ip


async def test_gate_plates_show_the_address_without_household(world):
    from backend.registry.enums import PlaceKind

    token = await world.plate(world.home, PlaceKind.GATE)
    view = (await world.client.get(f"/api/scan/{token}", headers=await world.headers(Role.POLICE))).json()
    assert view["plate"]["kind"] == "gate" and "house" not in view and "residents" not in view


async def test_unknown_malformed_and_revoked_plates_are_404(world):
    for token in ("AAAAAAAAAAAAAAAA", "not-a-token", "x" * 300):
        response = await world.client.get(f"/api/scan/{token}")
        assert response.status_code == 404 and response.json()["extra"]["code"] == "unknown_plate"
    token = await world.house_plate(world.home_house)
    await Doorplate.update({Doorplate.revoked_at: Doorplate.created_at}).where(Doorplate.token == token)
    assert (await world.client.get(f"/api/scan/{token}")).status_code == 404
    page = await world.client.get(f"/d/{token}")
    assert page.status_code == 404 and "门牌无效" in page.text and "text/html" in page.headers["content-type"]


async def test_token_guessing_is_rate_limited(world):
    for i in range(30):
        assert (await world.client.get(f"/api/scan/guess{i:011d}")).status_code == 404
    limited = await world.client.get("/api/scan/AAAAAAAAAAAAAAAA")
    assert limited.status_code == 429 and limited.json()["extra"]["code"] == "rate_limited"
    assert (await world.client.get("/d/AAAAAAAAAAAAAAAA")).status_code == 429


async def test_the_plate_url_opens_the_app_shell(world):
    token = await world.house_plate(world.home_house)
    page = await world.client.get(f"/d/{token}")
    assert page.status_code == 200 and '<main id="app"' in page.text


def _photo_with(url: str) -> bytes:
    """A phone-like photo: the printed code small and off-centre on a large grey JPEG."""
    code = Image.open(io.BytesIO(png(url, scale=6)))
    photo = Image.new("RGB", (2400, 1800), (128, 128, 128))
    photo.paste(code.convert("RGB"), (900, 500))
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=85)
    return out.getvalue()


async def test_photo_of_a_plate_decodes_to_its_token(world):
    token = await world.house_plate(world.home_house)
    photo = _photo_with(plate_url("http://localhost:8000", token))
    response = await world.client.post(
        "/api/scan/decode", files={"image": ("plate.jpg", photo, "image/jpeg")}
    )
    assert response.status_code == 200 and response.json() == {"token": token}


async def test_photos_without_a_plate_get_clear_errors(world):
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(blank, "PNG")
    response = await world.client.post(
        "/api/scan/decode", files={"image": ("x.png", blank.getvalue(), "image/png")}
    )
    assert response.status_code == 422 and response.json()["extra"]["code"] == "no_code"
    response = await world.client.post(
        "/api/scan/decode", files={"image": ("x.png", b"not an image", "image/png")}
    )
    assert response.status_code == 422 and response.json()["extra"]["code"] == "unreadable_image"
    other = _photo_with("https://example.com/not-a-doorplate")
    response = await world.client.post("/api/scan/decode", files={"image": ("x.jpg", other, "image/jpeg")})
    assert response.status_code == 422 and response.json()["extra"]["code"] == "no_code"


async def test_a_replaced_plate_stops_working_and_its_successor_works(world):
    old = await world.house_plate(world.home_house)
    replaced = await world.client.post(
        f"/api/plates/{old}/replace", headers=await world.headers(Role.PROPERTY)
    )
    assert replaced.status_code == 200
    new = replaced.json()["token"]
    assert replaced.json()["revoked"] == old and new != old
    assert (await world.client.get(f"/api/scan/{old}")).status_code == 404
    assert (await world.client.get(f"/api/scan/{new}")).json()["address"]["text"].endswith("101室")
    again = await world.client.post(f"/api/plates/{old}/replace", headers=await world.headers(Role.PROPERTY))
    assert again.status_code == 404
    metrics = await world.client.get(
        f"/api/communities/{world.home}/metrics", headers=await world.headers(Role.WARDEN)
    )
    assert metrics.json()["doorplate_coverage"]["house"] == 1.0


async def test_an_oversized_photo_is_refused_before_decoding(world):
    photo = b"\xff\xd8" + b"0" * (9 * 1024 * 1024)
    response = await world.client.post("/api/scan/decode", files={"image": ("big.jpg", photo, "image/jpeg")})
    assert response.status_code == 413


async def test_a_pending_resident_sees_no_more_than_a_passer_by(world):
    """Registration alone unlocks nothing: only a verified residency shows the household."""
    phone = "13755550000"
    tokens = await world.sign_in(phone)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    token = await world.house_plate(world.home_house)
    from tests.integration.test_registration import FORM

    registered = await world.client.post(
        f"/api/plates/{token}/registrations", json={**FORM, "phone": phone}, headers=headers
    )
    assert registered.json()["status"] == "pending"
    view = (await world.client.get(f"/api/scan/{token}", headers=headers)).json()
    assert view["viewer"] == "anonymous" and set(view) == BASE
    await world.client.post(
        f"/api/residencies/{registered.json()['residency_id']}/verify",
        headers=await world.headers(Role.WARDEN),
    )
    view = (await world.client.get(f"/api/scan/{token}", headers=headers)).json()
    assert view["viewer"] == "resident"
