from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from backend.credentials.tables import CredentialKind
from backend.ids import Id


class CredentialIn(msgspec.Struct, forbid_unknown_fields=True):
    person_id: Id
    kind: CredentialKind
    # A card's or tag's number. Empty for an ID card (the holder's own, from the registry) and
    # for a PIN (the platform issues it).
    value: Annotated[str, msgspec.Meta(max_length=40)] = ""
    label: Annotated[str, msgspec.Meta(max_length=50)] = ""


class CredentialOut(msgspec.Struct):
    id: int
    person_id: int
    name: str
    kind: CredentialKind
    shown: str  # masked: a credential's number is a key to the doors
    label: str
    created_at: dt.datetime


class CredentialIssued(CredentialOut):
    pin: str | None = None  # the new PIN, shown this once; only its keyed hash is kept
