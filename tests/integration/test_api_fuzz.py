"""schemathesis over the app's own OpenAPI (/schema/openapi.json), as every role and anonymously.

For each operation, a bounded and deterministic set of generated requests: valid ones with
generated ids and invalid ones, each sent by the next caller in turn, and valid ones with the
seeded world's ids, sent by every caller. No answer may be a server error, and every 4xx must
say why (JSON with a ``detail``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from backend.access.tables import Door
from backend.accounts.tables import Account, StaffScope
from backend.registry.tables import Residency
from roles import Role

SCHEMA_PATH = "/schema/openapi.json"
CALLERS = [None, *Role]
# Generated cases per operation, 25 in all (at most: a fixed path leaves few to vary).
EXAMPLES = {"random ids": 12, "real ids": 3, "invalid": 10}
# Operations that end sessions or disable accounts (generated ids hit real accounts) run last,
# so that every caller's token stays valid for the others.
ENDS_SESSIONS = {"removePasskey", "resetStaffPasskeys", "updateStaff"}
# A door whose controller is offline (no simulated devices run here) answers 503 device_offline,
# a camera whose stream nobody serves here 503 video_source_unavailable: stated conditions of the
# world, with their message, not failures of ours.
STATED_5XX = {(503, "device_offline"), (503, "video_source_unavailable")}
# A camera given a generated ONVIF address is not there: 502 or 504 naming why (backend/video/onvif.py).
STATED_5XX |= {
    (502, "camera_unreachable"),
    (502, "camera_auth_failed"),
    (502, "camera_refused"),
    (504, "camera_timeout"),
}


def generated(operation, count: int, mode: GenerationMode, path: dict[str, Any] | None) -> list:
    """``count`` cases, the same ones on every run (derandomized, no example database)."""
    cases: list = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(operation.as_strategy(generation_mode=mode, path_parameters=path))
    def collect(case) -> None:
        cases.append(case)

    try:
        collect()
    except Unsatisfiable:  # nothing to get wrong: an operation without parameters or body
        assert mode is GenerationMode.NEGATIVE, operation.label
    return cases[:count]


def requests_for(operation, real: dict[str, Any], turn: Iterator) -> list[tuple[Any, Role | None]]:
    """(case, caller) pairs: generated ids and invalid input by turns, the world's ids by everyone."""
    params = [p.name for p in operation.path_parameters]
    known = {name: real[name] for name in params if name in real}
    by_turns = [
        *generated(operation, EXAMPLES["random ids"], GenerationMode.POSITIVE, None),
        *generated(operation, EXAMPLES["invalid"], GenerationMode.NEGATIVE, None),
    ]
    everyone = generated(operation, EXAMPLES["real ids"], GenerationMode.POSITIVE, known)
    if known or len(by_turns) < len(CALLERS):
        by_turns = [case for case in by_turns if case not in everyone]
    return [
        *((case, next(turn)) for case in by_turns),
        *((case, caller) for case in everyone for caller in CALLERS),
    ]


async def spare_staff(world) -> int:
    """A staff account no caller uses: what admins may change or reset without ending a caller's session."""
    spare = Account(phone="13700000001", name="备用 协管员", role=Role.WARDEN)
    await spare.save()
    await StaffScope(account=spare.id, community=world.home).save()
    return spare.id


async def real_ids(world, spare: int) -> dict[str, Any]:
    """Ids of real things in the home community now, for the path parameters of the same names."""
    door = await Door.select(Door.id).where(Door.community == world.home).order_by(Door.id).first()
    residency = (
        await Residency.select(Residency.id, Residency.person)
        .where(Residency.community == world.home)
        .order_by(Residency.id)
        .first()
    )
    return {
        "community_id": world.home,
        "token": await world.house_plate(world.home_house),
        "door_id": door["id"],
        "residency_id": residency["id"],
        "person_id": residency["person"],
        "account_id": spare,
        "name": "XB",
    }


async def send(client: httpx.AsyncClient, case, headers: dict[str, str]) -> httpx.Response:
    """A generated case through the app's ASGI client (schemathesis serializes it for ``requests``)."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url).rstrip("/"), headers=headers)
    cookies = kwargs.pop("cookies", None) or {}
    if cookies:
        kwargs["headers"]["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")
    if kwargs.get("files"):  # httpx sends only str or bytes as a form field's value
        kwargs["files"] = [(name, _part(value)) for name, value in kwargs["files"]]
    return await client.request(**kwargs)


def _part(value: Any) -> Any:
    if isinstance(value, tuple) and not isinstance(value[1], bytes | str):
        return (value[0], str(value[1]), *value[2:])
    return value


def problem(response: httpx.Response) -> str | None:
    body = response.json() if "json" in response.headers.get("content-type", "") else None
    detail = body.get("detail") if isinstance(body, dict) else None
    extra = body.get("extra") if isinstance(body, dict) else None
    code = extra.get("code") if isinstance(extra, dict) else None
    if response.status_code >= 500 and (response.status_code, code) not in STATED_5XX:
        return f"server error {response.status_code}: {response.text[:200]}"
    if 400 <= response.status_code < 500 and not (isinstance(detail, str) and detail.strip()):
        return f"{response.status_code} without a message: {response.text[:200]}"
    return None


async def test_no_operation_answers_a_server_error_or_a_refusal_without_a_message(world):
    document = await world.client.get(SCHEMA_PATH)
    assert document.status_code == 200
    schema = schemathesis.openapi.from_dict(document.json())
    headers = {caller: await world.headers(caller) for caller in CALLERS}
    world.client.cookies.clear()  # the last sign-in's refresh cookie: generated cookies only
    spare = await spare_staff(world)
    turn = itertools.cycle(CALLERS)
    problems, sent = [], 0
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda operation: operation.definition.raw.get("operationId") in ENDS_SESSIONS,
    )
    for operation in operations:
        real = await real_ids(world, spare)  # again: an earlier operation may have replaced the plate
        for case, caller in requests_for(operation, real, turn):
            response = await send(world.client, case, headers[caller])
            sent += 1
            if found := problem(response):
                who = caller.value if caller else "anonymous"
                problems.append(f"{operation.label} as {who}: {found}\n    {case.as_curl_command()}")
    assert sent > 300, f"only {sent} requests generated"
    assert not problems, f"{len(problems)} of {sent}:\n" + "\n".join(problems)


async def test_the_schema_names_the_photo_field_the_decoder_reads(client):
    """It documented a ``files`` array while the endpoint reads ``image``: every generated photo missed."""
    schema = (await client.get(SCHEMA_PATH)).json()
    body = schema["paths"]["/api/scan/decode"]["post"]["requestBody"]["content"]["multipart/form-data"]
    form = body["schema"]
    if "$ref" in form:
        form = schema["components"]["schemas"][form["$ref"].rsplit("/", 1)[-1]]
    assert list(form["properties"]) == ["image"]
