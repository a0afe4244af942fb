"""GA/T 1400 codes and the settings of the uplink's targets."""

import datetime as dt

import pytest

from backend.settings import Settings, SettingsError
from backend.uplink import viid

PASSAGE_AT = dt.datetime(2026, 11, 26, 1, 2, 3, tzinfo=dt.UTC)


def test_codes_are_20_digits_district_industry_type_serial_and_wrap_past_a_billion():
    assert viid.code("420112", viid.FACE, 12) == "420112" + "01" + "901" + "000000012"
    assert viid.code("420112", viid.FACE, 10**9 + 12) == viid.code("420112", viid.FACE, 12)
    assert len(viid.code("420112", viid.CAPTURE_DEVICE, 7)) == 20


def test_a_face_object_carries_its_capture_and_china_time():
    face = viid.face_object("420112", 5, 3, PASSAGE_AT, b"\xff\xd8\xff\xe0jpeg")
    [image] = face["SubImageList"]["SubImageInfoObject"]
    assert face["FaceAppearTime"] == image["ShotTime"] == "20261126090203"
    assert image["FileFormat"] == "Jpeg" and image["ImageID"] == face["SourceID"]
    assert face["DeviceID"] == viid.code("420112", viid.CAPTURE_DEVICE, 3)


@pytest.mark.parametrize(
    "changes",
    [
        {"viid_url": "http://viid:8080", "viid_user": "u", "viid_password": "p", "viid_device_id": "1" * 19},
        {"viid_url": "http://viid:8080", "viid_device_id": "1" * 20},
        {"viid_url": "ftp://viid", "viid_user": "u", "viid_password": "p", "viid_device_id": "1" * 20},
        {"uplink_url": "amqp://platform/uplink", "uplink_secret": "s" * 32},
    ],
)
def test_a_misconfigured_target_stops_start_up(changes):
    with pytest.raises(SettingsError):
        Settings(**changes)


def test_an_mqtt_platform_url_and_a_viid_target_are_accepted():
    settings = Settings(
        uplink_url="mqtts://broker:8883/police/uplink",
        uplink_secret="s" * 32,
        viid_url="https://viid:8443",
        viid_user="anju",
        viid_password="secret",
        viid_device_id="4" * 20,
    )
    assert settings.viid_device_id == "4" * 20
