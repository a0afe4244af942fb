"""The app plus probe routes for bench/scan_floor.py, each doing one more part of a police scan.

Served only by that benchmark (granian imports ``bench._probes:create_app``); never mounted by
``anju serve``.
"""

from __future__ import annotations

from litestar import Litestar, get

from backend.app import create_app as create_anju
from backend.audit import service as audit
from backend.deps import Caller, Ctx
from backend.doorplates import service as plates
from backend.doorplates.tables import Doorplate


@get("/probe/signed-in")
async def signed_in(who: Caller, ctx: Ctx) -> dict:
    """The caller's bearer token checked, nothing read."""
    return {"account": who.account_id}


@get("/probe/one-query")
async def one_query(who: Caller, ctx: Ctx) -> dict:
    """Plus one round trip to PostgreSQL that reads nothing."""
    rows = await Doorplate.raw("SELECT 1 AS one")
    return {"one": rows[0]["one"]}


@get("/probe/household/{token:str}")
async def household(token: str, who: Caller, ctx: Ctx) -> dict:
    """Plus the scan's own statement (plate, residents and owners) instead."""
    rows = await Doorplate.raw(plates.HOUSEHOLD_SQL, token, token)
    return {"rows": len(rows)}


@get("/probe/household-audited/{token:str}")
async def household_audited(token: str, who: Caller, ctx: Ctx) -> dict:
    """Plus the durable audit entry a staff read must leave."""
    rows = await Doorplate.raw(plates.HOUSEHOLD_SQL, token, token)
    await audit.record_read(
        who, "read_household", f"plate:{token}", community=rows[0]["community_id"], ip="127.0.0.1"
    )
    return {"rows": len(rows)}


def create_app() -> Litestar:
    app = create_anju()
    for probe in (signed_in, one_query, household, household_audited):
        app.register(probe)
    return app
