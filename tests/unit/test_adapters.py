"""Vendor adapters on recorded payloads: each mapping, de-duplication, and tolerance of what vendors vary."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest

from device_bridge import protocol
from device_bridge.adapters import Translated, frigate, hikvision, zigbee2mqtt
from device_bridge.adapters.zigbee2mqtt import Zigbee2MqttAdapter
from device_bridge.protocol import AccessData, AlarmData, MalformedMessage, MeterKind, ReadingData

PAYLOADS = Path(__file__).parent / "device_payloads"
WUHAN = timezone(timedelta(hours=8))
NOW = datetime(2024, 5, 12, 8, 31, 4, 250_000, tzinfo=WUHAN)


def recorded(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def edited(name: str, **changes: Any) -> bytes:
    return json.dumps({**json.loads(recorded(name)), **changes}).encode()


def alarms(items: list[Translated]) -> dict[str, bool]:
    """kind → active, after checking every alarm fits the contract's AlarmData."""
    found = {}
    for item in items:
        if item.type == "alarm":
            alarm = msgspec.convert(item.data, AlarmData)
            found[alarm.kind] = alarm.active
    return found


def only(items: list[Translated], type: str) -> Translated:
    matching = [item for item in items if item.type == type]
    assert len(matching) == 1, items
    return matching[0]


def alarm_of(items: list[Translated], kind: str) -> Translated:
    [item] = [item for item in items if item.type == "alarm" and item.data["kind"] == kind]
    return item


def z2m(name: str, payload: bytes, now: datetime = NOW) -> list[Translated]:
    return zigbee2mqtt.translate(f"zigbee2mqtt/{name}", payload, now=now)


# Zigbee2MQTT


def test_tuya_panic_button_raises_an_emergency_with_its_battery():
    items = z2m("block3-sos", recorded("z2m_tuya_panic_emergency.json"))
    assert alarms(items) == {"emergency": True, "tamper": False}
    heartbeat = only(items, "heartbeat")
    assert heartbeat.device == "block3-sos"
    assert heartbeat.data == {"battery": 100, "battery_low": False}


def test_feibit_sos_flag_raises_an_emergency():
    items = z2m("lift-sos", recorded("z2m_feibit_sos.json"))
    assert alarms(items)["emergency"] is True
    assert only(items, "heartbeat").data["battery"] == 87


def test_smoke_detected_then_cleared():
    assert alarms(z2m("kitchen-smoke", recorded("z2m_heiman_smoke.json")))["smoke"] is True
    assert alarms(z2m("kitchen-smoke", recorded("z2m_heiman_smoke_clear.json")))["smoke"] is False


def test_smoke_detector_without_battery_percentage_reports_battery_low_only():
    heartbeat = only(z2m("kitchen-smoke", recorded("z2m_heiman_smoke.json")), "heartbeat")
    assert heartbeat.data == {"battery_low": False}


def test_water_leak_raises_an_alarm():
    items = z2m("pump-room", recorded("z2m_water_leak.json"))
    assert alarms(items) == {"water_leak": True, "tamper": False}
    assert only(items, "heartbeat").data["battery"] == 64


def test_open_contact_is_a_door_open_alarm_and_closed_ends_it():
    assert alarms(z2m("gate-b", recorded("z2m_aqara_contact_open.json"))) == {"door_open": True}
    assert alarms(z2m("gate-b", recorded("z2m_aqara_contact_closed.json"))) == {"door_open": False}


def test_tamper_raises_an_alarm():
    assert alarms(z2m("gate-b", recorded("z2m_contact_tampered.json"))) == {
        "door_open": False,
        "tamper": True,
    }


def test_battery_only_report_is_a_heartbeat_with_a_whole_percentage():
    items = z2m("gate-c", recorded("z2m_battery_report_newer.json"))
    assert [item.type for item in items] == ["heartbeat"]
    assert items[0].data == {"battery": 55}


def test_metering_plug_reports_power_and_energy_readings():
    items = z2m("laundry-plug", recorded("z2m_plug_metering.json"))
    readings = {
        r.meter: r for r in (msgspec.convert(i.data, ReadingData) for i in items if i.type == "reading")
    }
    assert readings == {
        MeterKind.POWER: ReadingData(meter=MeterKind.POWER, value=1523.4, unit="W"),
        MeterKind.ELECTRICITY: ReadingData(meter=MeterKind.ELECTRICITY, value=12.87, unit="kWh"),
    }
    assert [i.type for i in items if i.type != "reading"] == ["heartbeat"]  # linkquality


def test_items_carry_the_second_of_the_bridge_clock_with_its_offset():
    item = alarm_of(z2m("kitchen-smoke", recorded("z2m_heiman_smoke.json")), "smoke")
    assert item.ts == "2024-05-12T08:31:04+08:00"


def test_last_seen_in_epoch_milliseconds_is_the_event_time():
    item = only(z2m("pump-room", recorded("z2m_last_seen_epoch.json")), "heartbeat")
    assert datetime.fromisoformat(item.ts) == datetime(2024, 5, 12, 0, 31, 4, tzinfo=UTC)


def test_same_message_within_a_second_keeps_its_ids_and_a_later_one_does_not():
    payload = recorded("z2m_heiman_smoke.json")
    first = [item.id for item in z2m("kitchen-smoke", payload)]
    resent = [item.id for item in z2m("kitchen-smoke", payload, NOW.replace(microsecond=990_000))]
    later = [item.id for item in z2m("kitchen-smoke", payload, NOW + timedelta(seconds=1))]
    assert first == resent
    assert not set(first) & set(later)
    assert len(set(first)) == len(first)


def test_ids_differ_between_devices_and_states():
    smoke = alarm_of(z2m("kitchen-smoke", recorded("z2m_heiman_smoke.json")), "smoke").id
    other_device = alarm_of(z2m("hall-smoke", recorded("z2m_heiman_smoke.json")), "smoke").id
    cleared = alarm_of(z2m("kitchen-smoke", recorded("z2m_heiman_smoke_clear.json")), "smoke").id
    assert len({smoke, other_device, cleared}) == 3


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        (b"online", True),
        (b"offline\n", False),
        (b'{"state":"online"}', True),
        (recorded("z2m_availability_object.json"), False),
    ],
)
def test_both_availability_forms(payload: bytes, online: bool):
    [item] = z2m("block3-sos/availability", payload)
    assert (item.device, item.type, item.data) == ("block3-sos", "state", {"online": online})


def test_recorded_plain_availability():
    [item] = z2m("gate-b/availability", recorded("z2m_availability_plain.txt"))
    assert item.data == {"online": True}


def test_friendly_names_may_contain_slashes():
    [item] = z2m("block3/unit2/smoke/availability", b"offline")
    assert item.device == "block3/unit2/smoke"
    assert (
        alarm_of(z2m("block3/unit2/smoke", recorded("z2m_heiman_smoke.json")), "smoke").device
        == "block3/unit2/smoke"
    )


def test_custom_base_topic():
    items = zigbee2mqtt.translate(
        "z2m-east/gate-b", recorded("z2m_aqara_contact_open.json"), base="z2m-east", now=NOW
    )
    assert alarms(items) == {"door_open": True}


@pytest.mark.parametrize(
    "topic", ["zigbee2mqtt/bridge/state", "zigbee2mqtt/bridge/devices", "zigbee2mqtt/gate-b/set"]
)
def test_bridge_topics_and_commands_are_not_device_reports(topic: str):
    assert zigbee2mqtt.translate(topic, b"online", now=NOW) == []


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("zigbee2mqtt/gate-b", b"\x00\xffgarbage"),
        ("zigbee2mqtt/gate-b", b'["contact", false]'),
        ("zigbee2mqtt/gate-b", b'{"contact": false'),
        ("zigbee2mqtt/gate-b/availability", b"maybe"),
        ("zigbee2mqtt/gate-b/availability", b'{"status": "online"}'),
        ("tasmota/gate-b", b'{"contact": false}'),
        ("zigbee2mqtt/", b'{"contact": false}'),
    ],
)
def test_garbage_is_malformed(topic: str, payload: bytes):
    with pytest.raises(MalformedMessage):
        zigbee2mqtt.translate(topic, payload, now=NOW)


def test_unknown_fields_are_logged_and_ignored(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.DEBUG, logger="anju.bridge.adapters"):
        items = z2m("gate-b", recorded("z2m_aqara_contact_open.json"))
    assert alarms(items) == {"door_open": True}
    assert "device_temperature" in caplog.text


def test_a_field_of_the_wrong_type_is_logged_and_skipped(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="anju.bridge.adapters"):
        items = z2m("kitchen-smoke", b'{"smoke": "yes", "battery": "full", "battery_low": true}')
    assert alarms(items) == {}
    assert only(items, "heartbeat").data == {"battery_low": True}
    assert "smoke" in caplog.text and "battery" in caplog.text


def test_a_message_with_nothing_mapped_is_empty():
    assert z2m("hall-thermo", b'{"temperature": 21.5, "humidity": 40}') == []


def test_other_button_actions_are_not_alarms():
    assert alarms(z2m("remote", b'{"action": "single", "battery": 90}')) == {}


def test_adapter_emits_an_alarm_only_when_it_changes():
    adapter = Zigbee2MqttAdapter()
    smoke, clear = recorded("z2m_heiman_smoke.json"), recorded("z2m_heiman_smoke_clear.json")
    sequence = [smoke, smoke, smoke, clear, clear, smoke]
    emitted = [alarms(adapter.translate("zigbee2mqtt/kitchen-smoke", payload, NOW)) for payload in sequence]
    assert emitted == [{"smoke": True}, {}, {}, {"smoke": False}, {}, {"smoke": True}]


def test_adapter_still_passes_every_heartbeat_and_availability():
    adapter = Zigbee2MqttAdapter()
    for _ in range(2):
        items = adapter.translate("zigbee2mqtt/kitchen-smoke", recorded("z2m_heiman_smoke.json"), NOW)
        assert only(items, "heartbeat")
        assert adapter.translate("zigbee2mqtt/kitchen-smoke/availability", b"online", NOW)


def test_adapter_ignores_a_quiet_sensor_on_first_sight_but_not_a_firing_one():
    adapter = Zigbee2MqttAdapter()
    assert (
        alarms(adapter.translate("zigbee2mqtt/hall-smoke", recorded("z2m_heiman_smoke_clear.json"), NOW))
        == {}
    )
    assert alarms(adapter.translate("zigbee2mqtt/gate-b", recorded("z2m_aqara_contact_open.json"), NOW)) == {
        "door_open": True
    }


def test_adapter_tracks_each_device_and_kind_separately():
    adapter = Zigbee2MqttAdapter()
    smoke = recorded("z2m_heiman_smoke.json")
    assert alarms(adapter.translate("zigbee2mqtt/kitchen-smoke", smoke, NOW)) == {"smoke": True}
    assert alarms(adapter.translate("zigbee2mqtt/hall-smoke", smoke, NOW)) == {"smoke": True}
    tampered = edited("z2m_heiman_smoke.json", tamper=True)
    assert alarms(adapter.translate("zigbee2mqtt/kitchen-smoke", tampered, NOW)) == {"tamper": True}


def test_adapter_raises_each_panic_press_once_despite_cached_repeats():
    adapter = Zigbee2MqttAdapter(base="zigbee2mqtt")
    press, cleared = recorded("z2m_tuya_panic_emergency.json"), recorded("z2m_tuya_panic_cleared.json")
    battery_report_with_cached_action = edited("z2m_tuya_panic_emergency.json", battery=99)
    sequence = [press, battery_report_with_cached_action, cleared, press]
    emitted = [
        alarms(adapter.translate("zigbee2mqtt/block3-sos", payload, NOW)).get("emergency")
        for payload in sequence
    ]
    assert emitted == [True, None, False, True]


# Frigate


def test_frigate_new_object_in_a_zone_raises_an_intrusion():
    [item] = frigate.translate("frigate/events", recorded("frigate_event_new_in_zone.json"), NOW)
    assert item.device == "gate_north"
    assert item.id == "frigate-1715473864.512834-k2x9qd-new"
    assert item.type == "alarm"
    assert item.data == {
        "kind": "intrusion",
        "active": True,
        "detail": "person in perimeter_fence",
        "camera": "gate_north",
        "label": "person",
        "zones": ["perimeter_fence"],
        "score": 0.80078125,
        "event": "1715473864.512834-k2x9qd",
    }
    assert datetime.fromisoformat(item.ts) == datetime.fromtimestamp(1715473865.104211, UTC)


def test_frigate_update_keeps_the_object_and_adds_zones():
    [item] = frigate.translate("frigate/events", recorded("frigate_event_update.json"), NOW)
    assert item.id == "frigate-1715473864.512834-k2x9qd-update"
    assert item.data["active"] is True
    assert item.data["zones"] == ["perimeter_fence", "bike_shed"]


def test_frigate_end_closes_the_alarm_at_its_end_time():
    [item] = frigate.translate("frigate/events", recorded("frigate_event_end.json"), NOW)
    assert item.id == "frigate-1715473864.512834-k2x9qd-end"
    assert item.data["active"] is False
    assert item.data["zones"] == ["perimeter_fence", "bike_shed"]  # entered zones, though none is current
    assert datetime.fromisoformat(item.ts) == datetime.fromtimestamp(1715473879.330917, UTC)


def test_frigate_resent_event_keeps_its_id():
    payload = recorded("frigate_event_update.json")
    later = NOW + timedelta(minutes=5)
    assert frigate.translate("frigate/events", payload, NOW) == frigate.translate(
        "frigate/events", payload, later
    )


def test_frigate_object_outside_every_zone_is_not_an_intrusion():
    assert frigate.translate("frigate/events", recorded("frigate_event_outside_zones.json"), NOW) == []


def test_frigate_false_positive_is_dropped():
    assert frigate.translate("frigate/events", recorded("frigate_event_false_positive.json"), NOW) == []


def test_frigate_event_missing_optional_fields_is_tolerated():
    [item] = frigate.translate("frigate/events", recorded("frigate_event_new_minimal.json"), NOW)
    assert (item.device, item.data["zones"], item.data["label"], item.data["score"]) == (
        "garage_ramp",
        ["ramp"],
        "",
        None,
    )
    assert item.data["detail"] == "object in ramp"
    assert datetime.fromisoformat(item.ts) == datetime.fromtimestamp(1715474000.11823, UTC)


@pytest.mark.parametrize(("payload", "online"), [(b"online", True), (b"offline", False)])
def test_frigate_availability(payload: bytes, online: bool):
    [item] = frigate.translate("frigate/available", payload, NOW)
    assert (item.device, item.type, item.data) == ("frigate", "state", {"online": online})


def test_frigate_other_topics_are_ignored():
    assert frigate.translate("frigate/gate_north/person", b"1", NOW) == []


def test_frigate_unknown_event_type_is_ignored():
    payload = edited("frigate_event_new_in_zone.json", type="merged")
    assert frigate.translate("frigate/events", payload, NOW) == []


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("frigate/events", b"<html>"),
        ("frigate/events", b'{"type": "new"}'),
        ("frigate/events", b'{"type": "new", "after": {"id": "1.2-x", "current_zones": ["a"]}}'),
        ("frigate/events", b'{"type": "new", "after": {"camera": "gate", "current_zones": ["a"]}}'),
        ("frigate/available", b"starting"),
        ("nvr/events", recorded("frigate_event_new_in_zone.json")),
    ],
)
def test_frigate_garbage_is_malformed(topic: str, payload: bytes):
    with pytest.raises(MalformedMessage):
        frigate.translate(topic, payload, NOW)


# Hikvision


def hik(name: str, device: str = "") -> list[Translated]:
    items = hikvision.translate(recorded(name), device, NOW)
    for item in items:
        msgspec.convert(item.data, AccessData)  # every item fits the contract
    return items


def test_hikvision_pushed_card_granted():
    [item] = hik("hik_push_card_granted.json")
    assert item.device == "a414375b9c0e"
    assert item.id == "hik-a414375b9c0e-18342"
    assert item.type == "access"
    assert item.data == {
        "method": "card",
        "direction": "in",
        "granted": True,
        "credential": "3086451207",
        "door": "2",
        "name": "张伟",  # the terminal's own user list: kept in the event data, never used to attribute
        "employee_no": "10021",
    }
    assert item.ts == "2024-05-12T08:31:04+08:00"


def test_hikvision_pushed_card_refused_on_the_exit_reader():
    [item] = hik("hik_push_card_refused.json")
    assert (item.data["method"], item.data["granted"], item.data["direction"]) == ("card", False, "out")
    assert item.data["credential"] == "9911002345"


def test_hikvision_pushed_face_granted_and_refused():
    [granted] = hik("hik_push_face_granted.json")
    [refused] = hik("hik_push_face_refused.json")
    assert (granted.data["method"], granted.data["granted"]) == ("face", True)
    assert (refused.data["method"], refused.data["granted"]) == ("face", False)
    assert granted.device == refused.device == "a414376e01d2"  # dashes in this firmware's MAC
    assert (granted.id, refused.id) == ("hik-a414376e01d2-5521", "hik-a414376e01d2-5522")
    assert granted.data["credential"] == ""


def test_hikvision_fingerprint_is_skipped_and_logged(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.INFO, logger="anju.bridge.adapters"):
        assert hik("hik_push_fingerprint.json") == []
    assert "fingerprint" in caplog.text


def test_hikvision_search_result_maps_access_items_only():
    items = hik("hik_search_result.json", device="gate-north-1")
    assert [item.id for item in items] == [
        "hik-gate-north-1-18301",
        "hik-gate-north-1-18302",
        "hik-gate-north-1-18305",
    ]
    assert [(i.data["method"], i.data["granted"], i.data["direction"]) for i in items] == [
        ("card", True, "in"),
        ("face", False, "in"),
        ("face", True, "out"),
    ]
    assert items[0].ts == "2024-05-12T07:58:12+08:00"
    assert {item.device for item in items} == {"gate-north-1"}


def test_hikvision_search_and_push_of_one_event_share_the_id_scheme():
    pushed = hik("hik_push_card_granted.json")[0]
    searched = hik("hik_search_result.json", device="a414375b9c0e")[0]
    assert pushed.id.rsplit("-", 1)[0] == searched.id.rsplit("-", 1)[0] == "hik-a414375b9c0e"


def test_hikvision_minimal_push_is_tolerated():
    [item] = hik("hik_push_minimal.json")
    assert item.device == "10.20.3.60"
    assert item.data == {
        "method": "card",
        "direction": "in",
        "granted": True,
        "credential": "0004417788",
        "door": "",
    }
    assert item.ts == "2024-05-12T09:02:33+08:00"  # no offset sent: the terminal's Wuhan time
    again = hik("hik_push_minimal.json")[0]
    assert item.id == again.id and item.id.startswith("hik-")


def test_hikvision_quoted_event_codes_are_read():
    message = json.loads(recorded("hik_push_card_granted.json"))
    message["AccessControllerEvent"].update(majorEventType="5", subEventType="9", serialNo="18350")
    [item] = hikvision.translate(json.dumps(message).encode(), now=NOW)
    assert (item.data["granted"], item.id) == (False, "hik-a414375b9c0e-18350")


def test_hikvision_other_events_are_skipped():
    message = json.loads(recorded("hik_push_card_granted.json"))
    message["AccessControllerEvent"].update(majorEventType=3, subEventType=112)  # an operation log entry
    assert hikvision.translate(json.dumps(message).encode(), now=NOW) == []


def test_hikvision_unreadable_time_falls_back_to_the_bridge_clock():
    message = json.loads(recorded("hik_push_card_granted.json"))
    message["dateTime"] = "yesterday"
    [item] = hikvision.translate(json.dumps(message).encode(), now=NOW)
    assert item.ts == NOW.isoformat()


@pytest.mark.parametrize(
    "payload",
    [
        b"--MIME_boundary\r\nContent-Type: image/jpeg",
        b'"AccessControllerEvent"',
        b'{"eventType": "videoloss", "ipAddress": "10.20.3.41"}',
        b'{"AcsEvent": {"InfoList": [{"major": 5, "minor": 1, "serialNo": 1}]}}',  # whose? no device given
    ],
)
def test_hikvision_garbage_is_malformed(payload: bytes):
    with pytest.raises(MalformedMessage):
        hikvision.translate(payload, now=NOW)


def test_frigate_lpr_puts_the_recognised_plate_in_a_plate_event_of_the_camera():
    [item] = frigate.translate("frigate/events", recorded("frigate_event_lpr_car.json"), NOW)
    assert (item.device, item.type) == ("gate1-barrier", "plate")
    assert item.data == {
        "plate": "鄂AD12345",
        "direction": "in",
        "picture": "frigate:1764139200.118345-u8k2pq",
        "score": 0.93,
    }
    protocol.shaped("plate", item.data, protocol.PlateData)  # what the bridge will check
    again = frigate.translate("frigate/events", recorded("frigate_event_lpr_car.json"), NOW)
    assert again[0].id == item.id  # each update of the object repeats it: judged once


def test_frigate_known_plate_in_sub_label_is_a_plate_event():
    payload = json.loads(recorded("frigate_event_lpr_car.json"))
    del payload["after"]["recognized_license_plate"]
    payload["after"]["sub_label"] = ["鄂A12345", 0.97]
    [item] = frigate.translate("frigate/events", json.dumps(payload).encode(), NOW)
    assert item.data["plate"] == "鄂A12345"
