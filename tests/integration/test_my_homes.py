"""A resident's "my home": the flats they live in or asked to, each with the plate of its household."""

from __future__ import annotations

from roles import Role
from tests.integration.test_registration import FORM


async def homes(world, headers: dict) -> list[dict]:
    response = await world.client.get("/api/me/homes", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_verified_resident_finds_their_flat_and_its_household(world):
    headers = await world.headers(Role.RESIDENT)
    [home] = await homes(world, headers)
    assert home["status"] == "verified" and home["house_id"] == world.home_house
    assert home["plate"] == await world.house_plate(world.home_house)
    household = await world.client.get(f"/api/scan/{home['plate']}", headers=headers)
    assert household.json()["viewer"] == "resident"


async def test_a_pending_registration_shows_as_pending_without_the_household(world):
    phone = "13755550001"
    tokens = await world.sign_in(phone)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert await homes(world, headers) == []
    plate = await world.house_plate(world.home_house + 1)
    registered = await world.client.post(
        f"/api/plates/{plate}/registrations", json={**FORM, "phone": phone}, headers=headers
    )
    [home] = await homes(world, headers)
    assert home["status"] == "pending" and home["residency_id"] == registered.json()["residency_id"]
    # The plate is the flat's public address; the household behind it stays closed until verified.
    view = (await world.client.get(f"/api/scan/{home['plate']}", headers=headers)).json()
    assert view["viewer"] == "anonymous"


async def test_a_member_registered_by_someone_else_is_not_their_home(world):
    """A registration made with a stranger's phone by another resident gives that phone nothing."""
    resident = await world.headers(Role.RESIDENT)
    plate = await world.house_plate(world.home_house)
    phone = "13755550002"
    added = await world.client.post(
        f"/api/plates/{plate}/registrations", json={**FORM, "phone": phone}, headers=resident
    )
    assert added.status_code == 201
    tokens = await world.sign_in(phone)
    assert await homes(world, {"Authorization": f"Bearer {tokens['access_token']}"}) == []


async def test_a_verified_resident_cannot_self_register_again_at_home(world):
    headers = await world.headers(Role.RESIDENT)
    me = (await world.client.get("/api/me", headers=headers)).json()
    plate = await world.house_plate(world.home_house)
    again = await world.client.post(
        f"/api/plates/{plate}/registrations", json={**FORM, "phone": me["phone"]}, headers=headers
    )
    assert again.status_code == 403 and again.json()["extra"]["code"] == "already_resident"


async def test_staff_have_no_homes_and_anonymous_callers_sign_in(world):
    for role in (Role.WARDEN, Role.POLICE):
        refused = await world.client.get("/api/me/homes", headers=await world.headers(role))
        assert refused.status_code == 403
    assert (await world.client.get("/api/me/homes")).status_code == 401
