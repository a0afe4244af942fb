"""Which household fields each kind of viewer sees (DESIGN.md, "Who uses it")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from roles.masking import age_band, mask_id, mask_phone
from roles.matrix import Action, Principal, Role, Target, is_allowed


class Viewer(StrEnum):
    ANONYMOUS = "anonymous"
    RESIDENT = "resident"
    STAFF = "staff"  # warden, property, community worker, district admin
    POLICE = "police"


class Reveal(StrEnum):
    FULL = "full"
    MASKED = "masked"
    AGE_BAND = "age_band"  # a birth date shown only as its ten-year band


MASKERS: dict[str, Callable[[Any], str]] = {"id_number": mask_id, "phone": mask_phone}
# Reveals that show a field under another name.
RENAMED = {Reveal.AGE_BAND: ("age_band", age_band)}

_COMMON = {
    "residency_id": Reveal.FULL,
    "person_id": Reveal.FULL,
    "name": Reveal.FULL,
    "status": Reveal.FULL,
    "relation": Reveal.FULL,
    "residence_category": Reveal.FULL,
    "gender": Reveal.FULL,
}
# A masked ID number keeps no birth date beside it: the date and the check digit would
# narrow the number down to a couple of candidates.
_MASKED_ID = {"id_number": Reveal.MASKED, "birth_date": Reveal.AGE_BAND}

PERSON_FIELDS: dict[Viewer, dict[str, Reveal]] = {
    Viewer.ANONYMOUS: {},
    Viewer.RESIDENT: {**_COMMON, "phone": Reveal.FULL, **_MASKED_ID},
    Viewer.STAFF: {**_COMMON, "phone": Reveal.MASKED, **_MASKED_ID},
    Viewer.POLICE: {
        **_COMMON,
        "birth_date": Reveal.FULL,
        "phone": Reveal.FULL,
        "id_number": Reveal.FULL,
        "key_person": Reveal.FULL,
        "key_category": Reveal.FULL,
        # 一标三实: the police's record of the person
        "occupation": Reveal.FULL,
        "education": Reveal.FULL,
        "marital_status": Reveal.FULL,
        "native_place": Reveal.FULL,
        "service_place": Reveal.FULL,
        "lodging": Reveal.FULL,
    },
}

# Parts of a plate view beyond the address, community and services everyone gets. Even a
# flat's size and use (vacant, rented) stay hidden from passers-by.
SECTIONS: dict[Viewer, frozenset[str]] = {
    Viewer.ANONYMOUS: frozenset(),
    Viewer.RESIDENT: frozenset({"house", "residents"}),
    Viewer.STAFF: frozenset({"house", "residents", "owners"}),
    Viewer.POLICE: frozenset({"house", "residents", "owners"}),
}
OWNER_FIELDS: dict[Viewer, dict[str, Reveal]] = {
    Viewer.STAFF: {"name": Reveal.FULL, "phone": Reveal.MASKED},
    Viewer.POLICE: {"name": Reveal.FULL, "phone": Reveal.FULL, "id_number": Reveal.FULL},
}


def viewer_for(who: Principal, target: Target) -> Viewer:
    if not is_allowed(who, Action.VIEW_HOUSEHOLD, target):
        return Viewer.ANONYMOUS
    if who.role is Role.POLICE:
        return Viewer.POLICE
    return Viewer.RESIDENT if who.role is Role.RESIDENT else Viewer.STAFF


def sections_for(viewer: Viewer) -> frozenset[str]:
    return SECTIONS[viewer]


def person_fields(viewer: Viewer) -> frozenset[str]:
    """The person fields ``viewer`` sees in any form: callers unseal only these."""
    return frozenset(PERSON_FIELDS[viewer])


def owner_fields(viewer: Viewer) -> frozenset[str]:
    return frozenset(OWNER_FIELDS.get(viewer, {}))


def _project(fields: Mapping[str, Reveal], record: Mapping[str, Any]) -> dict[str, Any]:
    shown = {}
    for name, reveal in fields.items():
        value = record.get(name)
        if value is None:
            continue
        if reveal in RENAMED:
            shown_as, derive = RENAMED[reveal]
            shown[shown_as] = derive(value)
        else:
            shown[name] = MASKERS[name](value) if reveal is Reveal.MASKED else value
    return shown


def project_person(viewer: Viewer, record: Mapping[str, Any]) -> dict[str, Any]:
    return _project(PERSON_FIELDS[viewer], record)


def project_owner(viewer: Viewer, record: Mapping[str, Any]) -> dict[str, Any]:
    return _project(OWNER_FIELDS.get(viewer, {}), record)
