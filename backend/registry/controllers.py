from __future__ import annotations

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from backend.deps import Caller, Ctx, permission
from backend.doorplates import service as doorplates
from backend.errors import NotFound
from backend.ids import PathId
from backend.net import client_ip, spend
from backend.registry import buildings, codes, organisations, service
from backend.registry.schemas import (
    BuildingDetails,
    BuildingDetailsIn,
    BuildingSummary,
    CommunityOut,
    CorrectionIn,
    Decision,
    HistoryEntry,
    KeyPerson,
    KeyPersonIn,
    Metrics,
    MyHome,
    OrganisationIn,
    OrganisationOut,
    PastOrPresent,
    QueueItem,
    RegistrationIn,
    ResidencyOut,
    Verified,
    VerifyIn,
)
from roles import Action, authorize


class CodeOption(msgspec.Struct):
    code: str
    label: str


class CodeList(msgspec.Struct):
    name: str
    title: str
    codes: list[CodeOption]


class RegistryController(Controller):
    tags = ["registry"]

    @post(
        "/api/plates/{token:str}/registrations",
        status_code=HTTP_201_CREATED,
        operation_id="registerAtPlate",
        opt=permission(Action.REGISTER, Action.SELF_REGISTER, Action.ADD_MEMBER),
    )
    async def register(
        self, token: FromPath[str], data: JSONBody[RegistrationIn], ctx: Ctx, who: Caller, request: Request
    ) -> ResidencyOut:
        """Register a resident of the flat behind a doorplate: pending, or verified when staff register."""
        ip = client_ip(request)
        if not who.signed_in:
            budget = ctx.settings.anonymous_registrations_per_hour
            await spend(ctx, "register", ip, budget=budget, seconds=3600, what="registrations")
        plate = await doorplates.resolve(ctx, token, ip)
        house = doorplates.house_at(plate)
        return await service.register(ctx, who, house.id, data, ip)

    @get("/api/me/homes", operation_id="myHomes", opt=permission(Action.VIEW_OWN_HOMES))
    async def my_homes(self, who: Caller) -> list[MyHome]:
        """The flats the caller lives in or asked to, each with the doorplate that shows its household."""
        homes = await service.homes_of(who)
        plates = await doorplates.live_tokens([home["address_id"] for home in homes])
        return [
            MyHome(
                **{k: v for k, v in home.items() if k != "address_id"}, plate=plates.get(home["address_id"])
            )
            for home in homes
        ]

    @get(
        "/api/houses/{house_id:int}/residencies",
        operation_id="householdHistory",
        opt=permission(Action.VIEW_RESIDENCY_HISTORY),
    )
    async def household_history(
        self, house_id: PathId, ctx: Ctx, who: Caller, request: Request
    ) -> list[PastOrPresent]:
        """Everyone who lived in a flat or asked to, ended and refused residencies included."""
        return await service.household_history(ctx, who, house_id, client_ip(request))

    @get(
        "/api/communities/{community_id:int}/key-persons",
        operation_id="keyPersons",
        opt=permission(Action.VIEW_KEY_PERSONS),
    )
    async def key_persons(
        self, community_id: PathId, ctx: Ctx, who: Caller, request: Request
    ) -> list[KeyPerson]:
        """The community's 重点人员 (police only), with where each lives."""
        return await service.key_persons(ctx, who, community_id, client_ip(request))

    @get("/api/verification-queue", operation_id="verificationQueue", opt=permission(Action.VERIFY))
    async def queue(self, ctx: Ctx, who: Caller, request: Request) -> list[QueueItem]:
        return await service.verification_queue(ctx, who, client_ip(request))

    @post(
        "/api/residencies/{residency_id:int}/verify",
        status_code=HTTP_200_OK,
        operation_id="verifyResidency",
        opt=permission(Action.VERIFY),
    )
    async def verify(
        self,
        residency_id: PathId,
        ctx: Ctx,
        who: Caller,
        request: Request,
        data: JSONBody[VerifyIn | None] = None,
    ) -> ResidencyOut:
        """Verify a pending residency, confirming its category and merging a same-ID person."""
        return await service.verify(ctx, who, residency_id, data or VerifyIn(), client_ip(request))

    @post(
        "/api/residencies/{residency_id:int}/correct",
        status_code=HTTP_200_OK,
        operation_id="correctResidency",
        opt=permission(Action.CORRECT_RESIDENCY),
    )
    async def correct(
        self, residency_id: PathId, data: JSONBody[CorrectionIn], ctx: Ctx, who: Caller, request: Request
    ) -> ResidencyOut:
        """Police correct a verified residency (category, wrong person) with a reason; not a deregistration."""
        return await service.correct(ctx, who, residency_id, data, client_ip(request))

    @get(
        "/api/residencies/{residency_id:int}/history",
        operation_id="residencyHistory",
        opt=permission(Action.VIEW_RESIDENCY_HISTORY),
    )
    async def history(self, residency_id: PathId, who: Caller, request: Request) -> list[HistoryEntry]:
        return await service.history(who, residency_id, client_ip(request))

    @post(
        "/api/residencies/{residency_id:int}/reject",
        status_code=HTTP_200_OK,
        operation_id="rejectResidency",
        opt=permission(Action.VERIFY),
    )
    async def reject(
        self, residency_id: PathId, data: JSONBody[Decision], who: Caller, request: Request
    ) -> ResidencyOut:
        return await service.reject(who, residency_id, data.reason, client_ip(request))

    @post(
        "/api/residencies/{residency_id:int}/end",
        status_code=HTTP_200_OK,
        operation_id="deregisterResidency",
        opt=permission(Action.DEREGISTER),
    )
    async def deregister(
        self, residency_id: PathId, data: JSONBody[Decision], ctx: Ctx, who: Caller, request: Request
    ) -> ResidencyOut:
        """Deregister (注销); permanent (常住) residents never can be."""
        return await service.deregister(ctx, who, residency_id, data.reason, client_ip(request))

    @post(
        "/api/people/{person_id:int}/key-person",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="flagKeyPerson",
        opt=permission(Action.FLAG_KEY_PERSON),
    )
    async def flag(
        self, person_id: PathId, data: JSONBody[KeyPersonIn], ctx: Ctx, who: Caller, request: Request
    ) -> None:
        await service.flag_key_person(
            ctx, who, person_id, data.key_person, data.key_category, client_ip(request)
        )

    @get("/api/communities", operation_id="listCommunities", opt=permission(Action.LIST_COMMUNITIES))
    async def communities(self, who: Caller) -> list[CommunityOut]:
        return await service.list_communities(who)

    @get(
        "/api/communities/{community_id:int}/metrics",
        operation_id="communityMetrics",
        opt=permission(Action.VIEW_METRICS),
    )
    async def metrics(self, community_id: PathId, who: Caller) -> Metrics:
        """Live verification rate (核实率: people, houses and organisations) and doorplate coverage."""
        authorize(who, Action.VIEW_METRICS, await service.community_target(community_id))
        counts = await service.verification_counts(community_id)
        verified = sum(v for v, _ in counts.values())
        total = sum(t for _, t in counts.values())
        kinds = {
            kind: Verified(verified=v, total=t, rate=v / t if t else 1.0) for kind, (v, t) in counts.items()
        }
        return Metrics(
            verification_rate=verified / total if total else 1.0,
            verified=verified,
            total=total,
            doorplate_coverage=await doorplates.coverage(community_id),
            **kinds,
        )

    @get("/api/codes/{name:str}", operation_id="codeTable", cache=3600)
    async def code_table(self, name: FromPath[str]) -> CodeList:
        """A code dictionary for forms: a national one (XB, MZ, WHCD, ZYLB…) or a local one (ZRQ, XZJD)."""
        if name not in codes.ALL_TABLE_NAMES:
            raise NotFound(
                "unknown_code_table", f"No code table {name!r}; known: {', '.join(codes.ALL_TABLE_NAMES)}"
            )
        table = codes.table(name)
        return CodeList(
            name=name,
            title=table.title,
            codes=[CodeOption(code=code, label=label) for code, label in table.codes.items()],
        )


class OrganisationController(Controller):
    """实有单位: organisations in a community, kept by property staff and police."""

    tags = ["registry"]

    @get(
        "/api/communities/{community_id:int}/organisations",
        operation_id="listOrganisations",
        opt=permission(Action.VIEW_ORGANISATIONS),
    )
    async def list_organisations(
        self, community_id: PathId, ctx: Ctx, who: Caller, request: Request
    ) -> list[OrganisationOut]:
        return await organisations.list_organisations(ctx, who, community_id, client_ip(request))

    @post(
        "/api/communities/{community_id:int}/organisations",
        status_code=HTTP_201_CREATED,
        operation_id="createOrganisation",
        opt=permission(Action.MANAGE_ORGANISATIONS),
    )
    async def create_organisation(
        self, community_id: PathId, data: JSONBody[OrganisationIn], ctx: Ctx, who: Caller, request: Request
    ) -> OrganisationOut:
        """Register one: verified at once when the police enter it, pending a police check otherwise."""
        return await organisations.create(ctx, who, community_id, data, client_ip(request))

    @put(
        "/api/organisations/{organisation_id:int}",
        operation_id="updateOrganisation",
        opt=permission(Action.MANAGE_ORGANISATIONS),
    )
    async def update_organisation(
        self, organisation_id: PathId, data: JSONBody[OrganisationIn], ctx: Ctx, who: Caller, request: Request
    ) -> OrganisationOut:
        return await organisations.update(ctx, who, organisation_id, data, client_ip(request))

    @post(
        "/api/organisations/{organisation_id:int}/verify",
        status_code=HTTP_200_OK,
        operation_id="verifyOrganisation",
        opt=permission(Action.VERIFY_ORGANISATION),
    )
    async def verify_organisation(
        self, organisation_id: PathId, ctx: Ctx, who: Caller, request: Request
    ) -> OrganisationOut:
        return await organisations.verify(ctx, who, organisation_id, client_ip(request))

    @delete(
        "/api/organisations/{organisation_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="deleteOrganisation",
        opt=permission(Action.MANAGE_ORGANISATIONS),
    )
    async def delete_organisation(self, organisation_id: PathId, who: Caller, request: Request) -> None:
        await organisations.remove(who, organisation_id, client_ip(request))


class BuildingController(Controller):
    """楼栋信息 of a building: its entrusted agent, photo, floors and build date."""

    tags = ["registry"]

    @get(
        "/api/communities/{community_id:int}/buildings",
        operation_id="communityBuildings",
        opt=permission(Action.MANAGE_BUILDINGS),
    )
    async def community_buildings(self, community_id: PathId, ctx: Ctx, who: Caller) -> list[BuildingSummary]:
        """The community's buildings, each with the 楼栋信息 fields it still lacks."""
        return await buildings.community_buildings(ctx, who, community_id)

    @get(
        "/api/buildings/{building_id:int}",
        operation_id="buildingDetails",
        opt=permission(Action.MANAGE_BUILDINGS),
    )
    async def building(self, building_id: PathId, ctx: Ctx, who: Caller, request: Request) -> BuildingDetails:
        return await buildings.details(ctx, who, building_id, client_ip(request))

    @put(
        "/api/buildings/{building_id:int}",
        operation_id="updateBuilding",
        opt=permission(Action.MANAGE_BUILDINGS),
    )
    async def update_building(
        self, building_id: PathId, data: JSONBody[BuildingDetailsIn], ctx: Ctx, who: Caller, request: Request
    ) -> BuildingDetails:
        return await buildings.update(ctx, who, building_id, data, client_ip(request))
