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
from pathlib import Path

import msgspec

TABLE_NAMES: tuple[str, ...] = (
    "XB", "MZ", "GJ", "ZJLX", "XZQH", "YZGX", "ZZSY", "KMFSDM", "HPZL", "CSYS",
    "HYZK", "WHCD", "ZYLB", "ZZCS", "YWLX",
)  # fmt: skip
# Supplied per district by the deployment (see the module's docstring), not bundled.
LOCAL_TABLE_NAMES: tuple[str, ...] = ("ZRQ", "XZJD")
LOCAL_TITLES = {"ZRQ": "所属责任区", "XZJD": "乡镇（街道）"}
LOCAL_WIDTHS = {"ZRQ": 12, "XZJD": 3}  # VARCHAR2 sizes in the data standard
ALL_TABLE_NAMES: tuple[str, ...] = TABLE_NAMES + LOCAL_TABLE_NAMES

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


def table(name: str) -> CodeTable:
    """The dictionary ``name``: bundled (:data:`TABLE_NAMES`, loaded once) or local (all districts)."""
    if name in LOCAL_TABLE_NAMES:
        return local_codes().merged[name]
    return _bundled(name)


@cache
def _bundled(name: str) -> CodeTable:
    if name not in TABLE_NAMES:
        raise UnknownTable(f"unknown code table {name!r}; known tables: {', '.join(ALL_TABLE_NAMES)}")
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


# --- local dictionaries (ZRQ, XZJD): per district, supplied by the deployment ---------------------


class DistrictCodes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One district's file ``<XZQH>.json``: its streets (XZJD) and responsibility areas (ZRQ)."""

    district: str  # XZQH code of the district (the file's name)
    name: str
    source: str  # where the codes come from (the police station's list, the district's GB/T 10114 rows)
    XZJD: dict[str, str]
    ZRQ: dict[str, str]
    note: str = ""


class LocalCodes(msgspec.Struct, frozen=True):
    directory: str
    districts: dict[str, DistrictCodes]
    merged: dict[str, CodeTable]  # ZRQ / XZJD over every district, for validate()

    def of_district(self, name: str, district: str) -> dict[str, str]:
        """The codes of local dictionary ``name`` in ``district`` (empty when it supplies none)."""
        found = self.districts.get(district)
        return dict(getattr(found, name)) if found else {}


class LocalCodesError(ValueError):
    """A district's local code file is malformed; the message names the file."""


DEFAULT_LOCAL_DIR = files(__package__) / "codes" / "local"
_installed: list[LocalCodes] = []


def load_local(directory: str | Path | None = None) -> LocalCodes:
    """Read every ``<XZQH>.json`` of ``directory`` (default: the bundled demo district's)."""
    where = Path(str(directory)) if directory else Path(str(DEFAULT_LOCAL_DIR))
    if not where.is_dir():
        raise LocalCodesError(f"local code directory {str(where)!r} does not exist")
    districts: dict[str, DistrictCodes] = {}
    for path in sorted(where.glob("*.json")):
        try:
            loaded = msgspec.json.decode(path.read_bytes(), type=DistrictCodes)
        except msgspec.ValidationError as exc:
            raise LocalCodesError(f"{path}: {exc}") from None
        _check_district(path, loaded)
        districts[loaded.district] = loaded
    merged = {}
    for name in LOCAL_TABLE_NAMES:
        union: dict[str, str] = {}
        for district in districts.values():
            for code, label in getattr(district, name).items():
                union.setdefault(code, f"{district.name}{label}" if name == "XZJD" else label)
        merged[name] = CodeTable(
            name=name,
            title=LOCAL_TITLES[name],
            standard=f"local: {len(districts)} district(s), ANJU_LOCAL_CODES_DIR",
            codes=union,
            note="Supplied per district by the deployment (ANJU_LOCAL_CODES_DIR).",
        )
    return LocalCodes(directory=str(where), districts=districts, merged=merged)


def _check_district(path: Path, loaded: DistrictCodes) -> None:
    if path.stem != loaded.district or not _REGION.fullmatch(loaded.district):
        raise LocalCodesError(f"{path}: district {loaded.district!r} must be the file's XZQH name")
    for name in LOCAL_TABLE_NAMES:
        width = LOCAL_WIDTHS[name]
        for code, label in getattr(loaded, name).items():
            if not (code.isascii() and code.isalnum() and 0 < len(code.encode()) <= width and label):
                raise LocalCodesError(f"{path}: {name} code {code!r} must be 1-{width} ASCII letters/digits")
        if name == "ZRQ" and any(len(code) != width for code in loaded.ZRQ):
            raise LocalCodesError(f"{path}: ZRQ codes are {width} characters")
        if name == "XZJD" and any(len(code) != width or not code.isdigit() for code in loaded.XZJD):
            raise LocalCodesError(f"{path}: XZJD codes are {width} digits (GB/T 10114)")


def install_local(directory: str | Path | None = None) -> LocalCodes:
    """Load the deployment's local dictionaries (at start-up) and answer with them from now on."""
    loaded = load_local(directory)
    _installed[:] = [loaded]
    return loaded


def local_codes() -> LocalCodes:
    """The installed local dictionaries, or the default directory's on first use."""
    if not _installed:
        _installed.append(load_local())
    return _installed[0]
