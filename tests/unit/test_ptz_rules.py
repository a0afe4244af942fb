"""The pure parts of PTZ and the alarm's camera: which camera watches a place, and what the ONVIF
library must not change in the process (its proxy variables) or show (the password)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from backend.video import onvif
from backend.video.watching import _watching

# Registered cameras: id, device, and where their device stands.
CAMERAS = [
    {"id": 1, "device": 101, "gate": None, "building": None, "unit": None},  # a perimeter camera
    {"id": 2, "device": 102, "gate": 7, "building": None, "unit": None},
    {"id": 3, "device": 103, "gate": None, "building": 5, "unit": 50},
    {"id": 4, "device": 104, "gate": None, "building": 5, "unit": 51},
]
ZONES = [
    {"id": 9, "detectors": "[201]", "cameras": "[101]"},
    {"id": 10, "detectors": [202], "cameras": [999]},
]


@dataclass
class Alarm:
    device: int
    zone: int | None = None
    house: int | None = None
    id: int = 1
    community: int = 1


def watching(alarm: Alarm, device: dict | None = None, house: dict | None = None) -> int | None:
    return _watching(alarm, CAMERAS, ZONES, device, house)


def test_the_camera_itself_then_the_zone_then_unit_building_gate():
    assert watching(Alarm(device=104)) == 4
    assert watching(Alarm(device=201)) == 1  # the detector's zone
    assert watching(Alarm(device=300, zone=9)) == 1  # the zone an intrusion names
    # A zone whose camera is not registered: the device's place decides.
    assert watching(Alarm(device=202), {"gate": 7, "building": None, "unit": None}) == 2
    assert watching(Alarm(device=300), {"gate": None, "building": 5, "unit": 51}) == 4
    assert watching(Alarm(device=300), {"gate": None, "building": 5, "unit": 52}) == 3  # same building
    # A button alarm: its flat's unit, before wherever the button was first placed.
    flat = {"building": 5, "unit": 51}
    assert watching(Alarm(device=300, house=1), {"gate": 7, "building": 5, "unit": 50}, flat) == 4
    assert watching(Alarm(device=300), {"gate": None, "building": 6, "unit": 60}) is None
    assert watching(Alarm(device=300)) is None


async def test_the_onvif_client_leaves_the_proxy_variables_and_hides_the_password(monkeypatch):
    monkeypatch.setenv("http_proxy", "http://proxy.local:3128")
    monkeypatch.setenv("https_proxy", "http://proxy.local:3128")
    address = onvif.OnvifAddress("127.0.0.1", 1, "admin", "s3cret-pw")
    camera = onvif._camera(onvif._onvif(), address)
    await camera.close()
    assert os.environ["http_proxy"] == os.environ["https_proxy"] == "http://proxy.local:3128"
    assert "s3cret-pw" not in repr(address)
