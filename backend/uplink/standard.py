"""The city's data standard (武汉市智慧平安小区建设规范和验收标准, 三、数据标准): its 12 tables, field
by field, and the check that a record fits one exactly before it is sent.

``data_standard.json`` next to this module is the standard as published (the seed attachment). Its
sizes are an Oracle schema's: ``VARCHAR2(n)`` is checked as n bytes of UTF-8 (Oracle's default
byte semantics, so a record that fits here fits a character-semantics schema too); ``NUMBER``
with a precision ``[p, s]`` holds p significant digits, s of them after the point; ``NUMBER(n)``
an integer of at most n digits, except that 22 is the storage size Oracle reports for an
unconstrained NUMBER (at most 38 digits); ``DATE`` (7, or 6 in 楼栋信息) is a point in time;
``BLOB`` travels as a reference (the URL or path of the stored object, at most its length in bytes).

Where the standard repeats a field name for two meanings (``known_defects``), both values are
kept: the first under the standard's name, the later one under the name with ``_2`` appended
(``fire_energy``: BJ_JD 报警角度 and BJ_JD_2 背景角度; ``building``: SDM 省代码 and SDM_2 市代码).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib.resources import files
from typing import Any

import msgspec

from backend.registry import codes

UNCONSTRAINED_NUMBER = 22  # Oracle's storage size of a NUMBER without precision
NUMBER_DIGITS_MAX = 38


class Field(msgspec.Struct, frozen=True):
    no: int
    field: str
    type: str  # VARCHAR2, NUMBER, DATE or BLOB
    length: int | None
    precision: tuple[int, int] | None
    meaning: str
    required: bool
    dictionary: str | None
    name: str = ""  # the name a record carries it under: ``field``, or ``field_2`` when repeated


class Table(msgspec.Struct, frozen=True):
    key: str
    name: str
    summary: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        return next(field for field in self.fields if field.name == name)


class Problem(msgspec.Struct, frozen=True):
    """Why a record cannot be sent as it is: the field (as carried) and a reason code."""

    field: str
    reason: str  # missing, unknown_field, too_long, not_a_number, too_many_digits, not_a_date, not_a_code…
    detail: str = ""


class _Standard(msgspec.Struct):
    tables: list[Table]


@cache
def tables() -> dict[str, Table]:
    """The standard's tables by key (``door_access``, ``ybss``…), each field with its carried name."""
    raw = (files(__package__) / "data_standard.json").read_bytes()
    loaded = msgspec.json.decode(raw, type=_Standard)
    return {table.key: _named(table) for table in loaded.tables}


def _named(table: Table) -> Table:
    seen: set[str] = set()
    named = []
    for field in table.fields:
        name = field.field if field.field not in seen else f"{field.field}_2"
        seen.add(field.field)
        named.append(msgspec.structs.replace(field, name=name))
    return msgspec.structs.replace(table, fields=tuple(named))


def check(table_key: str, record: Mapping[str, Any]) -> list[Problem]:
    """Every way ``record`` (carried name → value; None or "" for absent) misses the table's definition."""
    table = tables()[table_key]
    known = {field.name for field in table.fields}
    problems = [Problem(name, "unknown_field") for name in record if name not in known]
    for field in table.fields:
        value = record.get(field.name)
        if value is None or value == "":
            if field.required:
                problems.append(Problem(field.name, "missing", field.meaning))
            continue
        problem = _value_problem(field, value)
        if problem:
            problems.append(Problem(field.name, *problem))
    return problems


def _value_problem(field: Field, value: Any) -> tuple[str, str] | None:
    if field.type == "DATE":
        return (
            None if isinstance(value, dt.datetime) and value.tzinfo else ("not_a_date", "an aware datetime")
        )
    if field.type == "NUMBER":
        return _number_problem(field, value)
    if not isinstance(value, str):
        return "not_text", type(value).__name__
    size = len(value.encode())
    if field.length is not None and size > field.length:
        return "too_long", f"{size} bytes, at most {field.length}"
    if field.dictionary:
        return _code_problem(field.dictionary, value)
    return None


def _number_problem(field: Field, value: Any) -> tuple[str, str] | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return "not_a_number", type(value).__name__
    try:
        sign, digits, exponent = Decimal(str(value)).normalize().as_tuple()
    except InvalidOperation:
        return "not_a_number", str(value)
    if not isinstance(exponent, int):  # NaN, infinity
        return "not_a_number", str(value)
    decimals = max(0, -exponent)
    integer_digits = max(0, len(digits) + exponent) if digits != (0,) else 0
    if field.precision:
        precision, scale = field.precision
        if decimals > scale or integer_digits > precision - scale:
            return "too_many_digits", f"NUMBER({precision},{scale})"
        return None
    limit = NUMBER_DIGITS_MAX if field.length in (None, UNCONSTRAINED_NUMBER) else field.length
    if decimals:
        return "not_an_integer", str(value)
    if integer_digits > limit:
        return "too_many_digits", f"at most {limit}"
    return None


def _code_problem(dictionary: str, value: str) -> tuple[str, str] | None:
    try:
        codes.validate(dictionary, value)
    except codes.UnknownTable:
        return "dictionary_missing", dictionary
    except codes.InvalidCode as exc:
        return "not_a_code", str(exc)
    return None
