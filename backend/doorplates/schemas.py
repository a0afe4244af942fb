from __future__ import annotations

import msgspec

from backend.patrol.schemas import PatrolSeen
from backend.registry.enums import HouseUse, PlaceKind
from backend.registry.schemas import ResidentView
from backend.services.schemas import TileOut
from roles import Viewer


class PlateRef(msgspec.Struct):
    token: str
    kind: PlaceKind


class CommunityCard(msgspec.Struct):
    id: int
    name: str
    street: str
    police_station: str


class AddressCard(msgspec.Struct):
    code: str
    text: str


class Service(msgspec.Struct):
    key: str
    title: str
    url: str


class HouseCard(msgspec.Struct):
    id: int
    floor: int
    room_no: str
    area: float | None
    use: HouseUse


class OwnerView(msgspec.Struct, omit_defaults=True):
    name: str
    phone: str | msgspec.UnsetType = msgspec.UNSET
    id_number: str | msgspec.UnsetType = msgspec.UNSET


class ScanView(msgspec.Struct, omit_defaults=True):
    """What a doorplate shows; sections the viewer may not see are absent."""

    plate: PlateRef
    community: CommunityCard
    address: AddressCard
    viewer: Viewer
    services: list[Service]
    actions: list[str]
    house: HouseCard | msgspec.UnsetType = msgspec.UNSET
    residents: list[ResidentView] | msgspec.UnsetType = msgspec.UNSET
    owners: list[OwnerView] | msgspec.UnsetType = msgspec.UNSET
    # The community's own service tiles, for its residents and staff.
    tiles: list[TileOut] | msgspec.UnsetType = msgspec.UNSET
    # Recent patrols in this building (or at this gate), for police and wardens.
    patrols: list[PatrolSeen] | msgspec.UnsetType = msgspec.UNSET


class PlateReplaced(msgspec.Struct):
    revoked: str
    token: str  # the successor: print it and fix it where the old plate was


class DecodedPlate(msgspec.Struct):
    token: str
