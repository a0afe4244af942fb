"""Scans served from the scan cache show every registry change at once, in every process, and
each caller still only their own role's fields, each staff read audited.

The changes are made through the API, as users make them; "another process" is `anju serve`
running beside this test's app on the same PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import secrets

import httpx
import msgspec
import pytest

from backend.audit.tables import AuditEntry
from backend.doorplates.cache import ScanCache
from backend.live.wakeup import Wakeup
from backend.registry.tables import Person
from roles import Role
from tests.faults import relayed
from tests.integration.test_bridge import eventually
from tests.integration.test_live_stream import anju_serve
from tests.integration.test_registration import FORM
from tests.integration.test_scan import BASE, POLICE_FIELDS, RESIDENT_FIELDS, STAFF_FIELDS
from tests.unit.test_scan_cache import Fetches


async def view(client: httpx.AsyncClient, plate: str, headers: dict[str, str]) -> dict:
    response = await client.get(f"/api/scan/{plate}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def listed(view: dict) -> dict[int, dict]:
    """The flat's listed residents by residency id."""
    return {resident["residency_id"]: resident for resident in view.get("residents", [])}


async def post(world, path: str, body: dict | None, role: Role | None) -> dict:
    response = await world.client.post(path, json=body, headers=await world.headers(role))
    assert response.status_code in (200, 201, 204), response.text
    return response.json() if response.content else {}


async def kept(world, plate: str, headers: dict[str, str]) -> None:
    """Until this app keeps its scans (with Redis: once its subscription stands)."""

    async def some() -> bool:
        await view(world.client, plate, headers)
        return len(world.ctx.scans) > 0

    await eventually(some)


async def test_every_registry_change_shows_in_the_next_scan(world):
    police = await world.headers(Role.POLICE)
    plate = await world.house_plate(world.home_house)
    await kept(world, plate, police)
    scan = lambda: view(world.client, plate, police)  # noqa: E731

    pending = await post(world, f"/api/plates/{plate}/registrations", FORM, None)
    rid = pending["residency_id"]
    assert listed(await scan())[rid]["status"] == "pending"
    await post(world, f"/api/residencies/{rid}/verify", {}, Role.WARDEN)
    resident = listed(await scan())[rid]
    assert resident["status"] == "verified" and resident["residence_category"] == "floating"
    flag = {"key_person": True, "key_category": "涉稳"}
    await post(world, f"/api/people/{resident['person_id']}/key-person", flag, Role.POLICE)
    assert listed(await scan())[rid]["key_category"] == "涉稳"
    correction = {"reason": "核实有误", "residence_category": "lodger"}
    await post(world, f"/api/residencies/{rid}/correct", correction, Role.POLICE)
    assert listed(await scan())[rid]["residence_category"] == "lodger"
    await post(world, f"/api/residencies/{rid}/end", {"reason": "搬离"}, Role.WARDEN)
    assert rid not in listed(await scan())

    again = (await post(world, f"/api/plates/{plate}/registrations", FORM, None))["residency_id"]
    assert again in listed(await scan())
    await post(world, f"/api/residencies/{again}/reject", {"reason": "不实"}, Role.WARDEN)
    assert again not in listed(await scan())

    successor = (await post(world, f"/api/plates/{plate}/replace", None, Role.PROPERTY))["token"]
    assert (await world.client.get(f"/api/scan/{plate}", headers=police)).status_code == 404
    assert (await view(world.client, successor, police))["house"]["id"] == world.home_house


async def test_rows_police_fetched_show_every_other_caller_only_their_fields(world):
    plate = await world.house_plate(world.home_house)
    await kept(world, plate, await world.headers(Role.POLICE))
    police = await view(world.client, plate, await world.headers(Role.POLICE))
    assert all(set(r) == POLICE_FIELDS for r in police["residents"])
    assert any(r["key_person"] for r in police["residents"])  # the seed flags one in this flat
    warden = await view(world.client, plate, await world.headers(Role.WARDEN))
    assert all(set(r) == STAFF_FIELDS for r in warden["residents"])
    assert "重点人口" not in str(warden) and all(set(o) == {"name", "phone"} for o in warden["owners"])
    resident = await view(world.client, plate, await world.headers(Role.RESIDENT))
    assert resident["viewer"] == "resident" and all(set(r) == RESIDENT_FIELDS for r in resident["residents"])
    real = {r["person_id"]: r["id_number"] for r in police["residents"]}
    assert all(r["id_number"] != real[r["person_id"]] for r in resident["residents"])
    for outsider in (None, Role.POLICE):  # a passer-by; police of the other community
        shown = await view(world.client, plate, await world.headers(outsider, "other"))
        assert shown["viewer"] == "anonymous" and set(shown) == BASE


async def test_every_scan_served_from_the_cache_is_audited(world):
    police = await world.headers(Role.POLICE)
    plate = await world.house_plate(world.home_house)
    await kept(world, plate, police)
    audited = await AuditEntry.count().where(AuditEntry.action == "read_household")
    for _ in range(5):
        await view(world.client, plate, police)
    assert await AuditEntry.count().where(AuditEntry.action == "read_household") == audited + 5


@pytest.fixture
def redis_settings(settings):
    if not settings.redis_url:
        pytest.skip("processes share changes through Redis")
    return settings


async def test_another_process_shows_a_change_in_its_next_scan(world, redis_settings, tmp_path):
    police = await world.headers(Role.POLICE)  # tokens of this app: the other process shares its sessions
    plate = await world.house_plate(world.home_house)
    async with (
        anju_serve(redis_settings, tmp_path, "other") as url,
        httpx.AsyncClient(base_url=url) as other,
    ):
        scan = lambda: view(other, plate, police)  # noqa: E731
        first = next(iter(listed(await scan()).values()))

        async def cached() -> bool:
            """A name changed behind the services' back (no announcement) is not seen: a cached scan."""
            name = f"改名{secrets.token_hex(3)}"
            await Person.update({Person.name: name}).where(Person.id == first["person_id"])
            return listed(await scan())[first["residency_id"]]["name"] != name

        await eventually(cached, seconds=10)
        audited = await AuditEntry.count().where(AuditEntry.action == "read_household")
        flag = {"key_person": True, "key_category": "涉稳"}
        await post(world, f"/api/people/{first['person_id']}/key-person", flag, Role.POLICE)
        shown = listed(await scan())[first["residency_id"]]
        assert shown["key_category"] == "涉稳" and shown["name"].startswith("改名")
        assert await cached()
        added = (await post(world, f"/api/plates/{plate}/registrations", FORM, None))["residency_id"]
        assert added in listed(await scan())
        await post(world, f"/api/residencies/{added}/reject", {"reason": "不实"}, Role.WARDEN)
        assert added not in listed(await scan())
        assert await AuditEntry.count().where(AuditEntry.action == "read_household") == audited + 4
        await post(world, f"/api/plates/{plate}/replace", None, Role.PROPERTY)
        assert (await other.get(f"/api/scan/{plate}", headers=police)).status_code == 404


async def test_a_process_cut_off_from_redis_keeps_nothing_until_it_hears_again(redis_settings):
    cache, fetch = ScanCache(10, 30.0), Fetches(community=7)

    async def keeps() -> bool:
        await cache.rows("plate", fetch)
        return len(cache) == 1

    async with relayed(redis_settings.redis_url, 6379) as (relay, url):
        wakeup = Wakeup(msgspec.structs.replace(redis_settings, redis_url=url))
        wakeup.follow(cache)
        listening = asyncio.create_task(wakeup.listen())
        try:
            await eventually(keeps)
            await relay.cut()
            await eventually(lambda: asyncio.sleep(0, len(cache) == 0))
            fetched = fetch.count
            assert not await keeps() and not await keeps() and fetch.count == fetched + 2
            await relay.restore()
            await eventually(keeps, seconds=10)
            elsewhere = Wakeup(redis_settings)  # another process announcing a change of community 7
            await elsewhere.changed(frozenset({7}))
            await elsewhere.close()
            await eventually(lambda: asyncio.sleep(0, len(cache) == 0))
        finally:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)
            await wakeup.close()
