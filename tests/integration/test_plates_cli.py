"""``anju plates`` renders printable sheets and proves every printed code decodes back."""

from __future__ import annotations

from backend.doorplates.tables import Doorplate
from backend.registry.tables import Address
from tests.conftest import anju


async def test_plates_command_renders_and_verifies_every_plate(world, settings, tmp_path):
    # A plate revoked (e.g. damaged) leaves its address uncovered until the command reissues one.
    first = await Doorplate.objects().where(Doorplate.community == world.home).first()
    await Doorplate.update({Doorplate.revoked_at: first.created_at}).where(Doorplate.id == first.id)
    env = {
        "ANJU_DATABASE_URL": settings.database_url,
        "ANJU_SECRET_KEY": settings.secret_key,
        "ANJU_PUBLIC_URL": "https://anju.example.cn",
    }
    done = anju("plates", "--community", str(world.home), "--out", str(tmp_path), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    addresses = await Address.count().where(Address.community == world.home)
    assert f"{addresses} doorplates (1 newly issued)" in done.stdout
    assert f"decoded back with pyzbar: {addresses}/{addresses}" in done.stdout
    assert "doorplate coverage: 100.0%" in done.stdout
    pdf = (tmp_path / f"plates-{world.home}.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    svg = (tmp_path / f"plates-{world.home}-001.svg").read_text()
    assert "幸福家园" in svg


async def test_plates_command_refuses_an_unknown_community(client, settings, tmp_path):
    env = {"ANJU_DATABASE_URL": settings.database_url, "ANJU_SECRET_KEY": settings.secret_key}
    done = anju("plates", "--community", "999", "--out", str(tmp_path), env=env)
    assert done.returncode != 0 and "No community 999" in done.stderr and "Traceback" not in done.stderr
