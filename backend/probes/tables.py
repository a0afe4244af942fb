"""MAC sightings reported by Wi-Fi probes (无线上网安全管理系统) and RFID readers at the entrances.

A MAC address is personal data: it is kept sealed (like ID numbers, backend/keys.py) with a keyed
hash to find a MAC's sightings by, never in clear, and only for ANJU_SIGHTING_RETENTION_DAYS.
"""

from piccolo.columns import ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.devices.tables import Device
from backend.registry.tables import Community


class Sighting(Table):
    community = ForeignKey(Community, null=False, index=True)
    device = ForeignKey(Device, null=False, index=True)
    mac_hash = Varchar(length=64, index=True)  # Keys.lookup_hash("mac", normalised MAC)
    mac_sealed = Text()
    kind = Varchar(length=10)  # protocol.SightingKind
    rssi = Integer(null=True, default=None)
    at = Timestamptz(index=True)  # when the probe saw it (its clock)
    received_at = Timestamptz(default=TimestamptzNow())
    key = Varchar(length=100, unique=True)  # "ev:{device id}:{event id}": a redelivery is a no-op
