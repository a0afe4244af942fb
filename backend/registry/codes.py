"""National code dictionaries (性别, 民族, 国籍, 证件类型, 行政区划, ...) as data.

Each dictionary is a JSON file in the ``codes/`` directory next to this
module, named after the dictionary (``MZ.json`` for 民族). The directory has
no ``__init__.py`` on purpose: a regular package of that name would shadow
this module.

Several bundled tables are subsets of their standard (see each file's
``note``). In particular ``XZQH`` lists only the provinces, Hubei's
prefectures, Wuhan's districts and the provincial capitals, so
:func:`validate` accepts an unlisted county-level code by its province.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

import msgspec

TABLE_NAMES: tuple[str, ...] = ("XB", "MZ", "GJ", "ZJLX", "XZQH", "YZGX", "ZZSY", "KMFSDM", "HPZL", "CSYS")

_REGION = re.compile(r"[0-9]{6}")


class UnknownTable(KeyError):
    """No dictionary of that name is bundled."""

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message and show it quoted.
        return str(self.args[0])


class InvalidCode(ValueError):
    """A value is not a code of the dictionary it claims to belong to."""


class UnknownCode(InvalidCode, KeyError):
    """Raised by :meth:`CodeTable.label`; also a KeyError, as it is a lookup."""

    def __str__(self) -> str:
        return str(self.args[0])


class CodeTable(msgspec.Struct, frozen=True):
    name: str
    title: str
    standard: str
    codes: dict[str, str]
    note: str = ""
    # The platform's own names for the coded things (KMFSDM: access methods) → their codes.
    ours: dict[str, str] = {}

    def label(self, code: str) -> str:
        """The name of ``code``, e.g. ``table("MZ").label("01") == "汉族"``."""
        try:
            return self.codes[code]
        except (KeyError, TypeError):
            raise UnknownCode(self.rejection(code)) from None

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self.codes

    def rejection(self, code: object) -> str:
        return f"{self.name}: {code!r} is not a code of {self.title} ({self.standard})"


@cache
def table(name: str) -> CodeTable:
    """The bundled dictionary ``name`` (one of :data:`TABLE_NAMES`), loaded once."""
    if name not in TABLE_NAMES:
        raise UnknownTable(f"unknown code table {name!r}; known tables: {', '.join(TABLE_NAMES)}")
    raw = (files(__package__) / "codes" / f"{name}.json").read_bytes()
    loaded = msgspec.json.decode(raw, type=CodeTable)
    if loaded.name != name:
        # A copied-and-renamed file that kept its old name would otherwise
        # silently answer for the wrong dictionary.
        raise ValueError(f"codes/{name}.json declares name {loaded.name!r}")
    return loaded


def code_for(name: str, ours: str) -> str:
    """The code of dictionary ``name`` for the platform's own name ``ours`` ("" when it has none)."""
    return table(name).ours.get(ours, "")


def validate(name: str, code: str) -> str:
    """Return ``code`` if it belongs to dictionary ``name``, else raise InvalidCode.

    For ``XZQH`` (GB/T 2260) the bundled table is a subset, so a six-digit
    code that is not listed is still accepted when its province
    (first two digits + ``"0000"``) is listed and its structure is
    plausible; see :func:`plausible_region`. Unknown provinces and
    malformed codes are rejected.
    """
    codes = table(name)
    if code in codes:
        return code
    if name == "XZQH" and plausible_region(code):
        return code
    raise InvalidCode(codes.rejection(code))


def plausible_region(code: object) -> bool:
    """Whether an XZQH code could be real even though it is not bundled.

    Digits 1-2 must be a listed province. Digits 3-4 (prefecture) and 5-6
    (county) may be anything, except a county under prefecture "00": no
    GB/T 2260 code has that shape (province-administered counties use
    "90"), so e.g. "420012" is a typo rather than a missing row.
    """
    if not isinstance(code, str) or not _REGION.fullmatch(code):
        return False
    province, prefecture, county = code[:2], code[2:4], code[4:]
    if f"{province}0000" not in table("XZQH"):
        return False
    return prefecture != "00" or county == "00"
