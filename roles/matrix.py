"""The declarative matrix: role × action → scope, and the rules on top of it."""

from __future__ import annotations

import functools
from enum import StrEnum

import msgspec

from roles.categories import ResidenceCategory


class Role(StrEnum):
    RESIDENT = "resident"
    WARDEN = "warden"  # 协管员
    PROPERTY = "property"  # 物业
    COMMUNITY_WORKER = "community_worker"  # 社区工作者
    POLICE = "police"  # 社区民警
    MAINTENANCE = "maintenance"  # 维护中心: keeps the devices running
    DISTRICT_ADMIN = "district_admin"


STAFF_ROLES = frozenset(Role) - {Role.RESIDENT}
# These roles reach full personal data or manage staff: a passkey is mandatory.
PASSKEY_ROLES = frozenset({Role.POLICE, Role.DISTRICT_ADMIN})


class Action(StrEnum):
    VIEW_PLATE = "view_plate"
    SELF_REGISTER = "self_register"
    ADD_MEMBER = "add_member"
    VIEW_HOUSEHOLD = "view_household"
    REGISTER = "register"
    DEREGISTER = "deregister"
    VERIFY = "verify"
    CORRECT_RESIDENCY = "correct_residency"
    VIEW_RESIDENCY_HISTORY = "view_residency_history"
    FLAG_KEY_PERSON = "flag_key_person"
    VIEW_METRICS = "view_metrics"
    LIST_COMMUNITIES = "list_communities"
    MANAGE_STAFF = "manage_staff"
    MANAGE_PLATES = "manage_plates"
    ENROL_PASSKEY = "enrol_passkey"
    MANAGE_OWN_PASSKEYS = "manage_own_passkeys"
    RESET_PASSKEYS = "reset_passkeys"
    VIEW_OWN_ACCOUNT = "view_own_account"
    LIST_OWN_DOORS = "list_own_doors"
    OPEN_DOOR = "open_door"
    GRANT_ACCESS = "grant_access"
    VIEW_DEVICES = "view_devices"
    MANAGE_DEVICES = "manage_devices"
    VIEW_ACCESS_RECORDS = "view_access_records"
    VIEW_OWN_HOMES = "view_own_homes"
    VIEW_KEY_PERSONS = "view_key_persons"
    OPEN_NOTICES = "open_notices"  # the notices screen: the feeds of the caller's communities
    READ_NOTICES = "read_notices"  # the community's feed and a published notice
    WRITE_NOTICES = "write_notices"  # drafts, submit, publish, schedule, withdraw, read receipts
    REVIEW_NOTICES = "review_notices"  # approve or return policy and police content
    VIEW_SERVICES = "view_services"
    MANAGE_SERVICES = "manage_services"
    REQUEST_SERVICE = "request_service"
    USE_SERVICES = "use_services"  # a resident's services screen: home tiles, own requests
    VIEW_SERVICE_REQUEST = "view_service_request"
    OWN_SERVICE_REQUEST = "own_service_request"  # the requester's steps: attach a photo, rate
    HANDLE_SERVICE_REQUESTS = "handle_service_requests"
    MANAGE_PATROLS = "manage_patrols"
    PATROL = "patrol"  # start a patrol run
    RECORD_PATROL = "record_patrol"  # scan checkpoints on one's own run, end it
    VIEW_PATROLS = "view_patrols"
    VIEW_ALARMS = "view_alarms"  # alarms, zones, thresholds, buttons' status
    HANDLE_ALARM = "handle_alarm"  # acknowledge, dispatch, resolve, call a false alarm
    MANAGE_ZONES = "manage_zones"
    PAIR_BUTTON = "pair_button"
    MANAGE_THRESHOLDS = "manage_thresholds"
    WATCH_LIVE = "watch_live"  # a community's live event stream (alarms on the board)
    MANAGE_OWN_PUSH = "manage_own_push"  # this browser's push subscription, for one's own account
    VIEW_HOUSEHOLD_PASSES = "view_household_passes"
    MANAGE_CREDENTIALS = "manage_credentials"  # cards, ID cards, PINs and tags of any household
    MANAGE_OWN_CREDENTIALS = "manage_own_credentials"  # PINs and tags of one's own household
    INVITE_VISITOR = "invite_visitor"  # issue a pass for one's own household
    LIST_OWN_PASSES = "list_own_passes"
    CONFIRM_VISITOR = "confirm_visitor"  # a household accepts a walk-in registered for it
    REVOKE_PASS = "revoke_pass"
    REGISTER_WALK_IN = "register_walk_in"  # the guard desk, after checking an ID document
    VIEW_VISITS = "view_visits"  # who came with a pass, at which door, when
    ENROL_OWN_FACE = "enrol_own_face"  # one's own or a household member's face, with consent
    ENROL_FACE = "enrol_face"  # staff, for a resident whose consent they record
    VIEW_FACE_IMAGE = "view_face_image"  # an enrolment's photo (audited)
    MANAGE_VEHICLES = "manage_vehicles"  # register and revoke any household's vehicles
    MANAGE_OWN_VEHICLES = "manage_own_vehicles"  # one's own household's vehicles
    VIEW_VEHICLE_PASSAGES = "view_vehicle_passages"  # the community's barrier records
    VIEW_OWN_VEHICLE_PASSAGES = "view_own_vehicle_passages"  # one's own household's vehicles' passages
    ADMIT_VEHICLE = "admit_vehicle"  # the guard desk: vehicles held at the barrier, let in or refuse
    MANAGE_WATCH_LIST = "manage_watch_list"  # 布控 plates
    VIEW_FINDINGS = "view_findings"  # the analysis (研判) jobs' findings of a community
    HANDLE_FINDING = "handle_finding"  # close a finding (a welfare task: visited)
    VIEW_VIDEO = "view_video"  # cameras, recorders, coverage, inspection records and snapshots
    MANAGE_VIDEO = "manage_video"  # register cameras and recorders, report retention, set the schedule
    INSPECT_VIDEO = "inspect_video"  # start a video inspection round (视频巡检)
    RECORD_INSPECTION = "record_inspection"  # check cameras on one's own round, attach snapshots, end it
    CONTROL_PTZ = "control_ptz"  # pan, tilt, zoom a camera and send it to its presets (ONVIF)
    WATCH_VIDEO = "watch_video"  # live video of a camera on the monitoring-room wall, camera groups
    SEARCH_SIGHTINGS = "search_sightings"  # a MAC's sightings at the Wi-Fi probes (audited)
    VIEW_PROBE_COVERAGE = "view_probe_coverage"  # which entrances lack an online Wi-Fi probe
    VIEW_CALLS = (
        "view_calls"  # a household's intercom calls: its call log, its ringing stream, a call's offer
    )
    VIEW_ORGANISATIONS = "view_organisations"  # 实有单位 of a community
    MANAGE_ORGANISATIONS = "manage_organisations"  # register, change, remove them
    VERIFY_ORGANISATION = "verify_organisation"  # the police confirm what the property entered
    MANAGE_BUILDINGS = "manage_buildings"  # a building's 楼栋信息: entrusted agent, photo, floors, build date
    ANSWER_CALL = "answer_call"  # answer or hang up a call to one's household, open the door to its caller
    VIEW_UPLINK = "view_uplink"  # the uplink to the police platform: counts, lag, failures, rejected records
    VIEW_DISTRICT_UPLINK = "view_district_uplink"  # the same over a whole district
    VIEW_COMPLIANCE = "view_compliance"  # a community's self-assessment and score sheet
    ENTER_COMPLIANCE = "enter_compliance"  # score the items only people can judge; set the tier
    VIEW_DISTRICT_COMPLIANCE = "view_district_compliance"  # every community's score on one page


class Scope(StrEnum):
    ANYONE = "anyone"  # anonymous callers included
    SIGNED_IN = "signed_in"
    OWN_HOUSE = "own_house"  # a verified resident of the target house
    COMMUNITY = "community"  # an assigned community, or any in an assigned district
    DISTRICT = "district"  # an assigned district only
    HOME_DOOR = "home_door"  # a verified resident at their community's gates, their building and unit doors
    GRANTED = "granted"  # an assigned community, and a grant for this door valid now
    HOME_COMMUNITY = "home_community"  # a verified resident of the target community
    OWN_RECORD = "own_record"  # the caller's own record (a service request, a patrol run)


ANONYMOUS = None  # the matrix key for callers who are not signed in
_FIELD_STAFF = {Role.WARDEN: Scope.COMMUNITY, Role.PROPERTY: Scope.COMMUNITY, Role.POLICE: Scope.COMMUNITY}
_ALARM_STAFF = {**_FIELD_STAFF, Role.MAINTENANCE: Scope.COMMUNITY, Role.DISTRICT_ADMIN: Scope.DISTRICT}

MATRIX: dict[Action, dict[Role | None, Scope]] = {
    Action.VIEW_PLATE: {ANONYMOUS: Scope.ANYONE, **{role: Scope.SIGNED_IN for role in Role}},
    Action.SELF_REGISTER: {ANONYMOUS: Scope.ANYONE, Role.RESIDENT: Scope.SIGNED_IN},
    Action.ADD_MEMBER: {Role.RESIDENT: Scope.OWN_HOUSE},
    Action.VIEW_HOUSEHOLD: {
        Role.RESIDENT: Scope.OWN_HOUSE,
        **_FIELD_STAFF,
        Role.COMMUNITY_WORKER: Scope.COMMUNITY,
        Role.DISTRICT_ADMIN: Scope.DISTRICT,
    },
    Action.REGISTER: _FIELD_STAFF,
    Action.DEREGISTER: _FIELD_STAFF,
    Action.VERIFY: _FIELD_STAFF,
    # A verified residency that was wrong (false 常住, wrong person) is corrected by police only.
    Action.CORRECT_RESIDENCY: {Role.POLICE: Scope.COMMUNITY},
    Action.VIEW_RESIDENCY_HISTORY: _FIELD_STAFF,
    Action.FLAG_KEY_PERSON: {Role.POLICE: Scope.COMMUNITY},
    Action.VIEW_METRICS: {
        **_FIELD_STAFF,
        Role.COMMUNITY_WORKER: Scope.COMMUNITY,
        Role.DISTRICT_ADMIN: Scope.DISTRICT,
    },
    Action.LIST_COMMUNITIES: {role: Scope.SIGNED_IN for role in STAFF_ROLES},
    Action.MANAGE_STAFF: {Role.DISTRICT_ADMIN: Scope.DISTRICT},
    Action.MANAGE_PLATES: {Role.PROPERTY: Scope.COMMUNITY, Role.DISTRICT_ADMIN: Scope.DISTRICT},
    Action.ENROL_PASSKEY: {role: Scope.SIGNED_IN for role in Role},
    Action.MANAGE_OWN_PASSKEYS: {role: Scope.SIGNED_IN for role in Role},
    Action.RESET_PASSKEYS: {Role.DISTRICT_ADMIN: Scope.DISTRICT},
    Action.VIEW_OWN_ACCOUNT: {role: Scope.SIGNED_IN for role in Role},
    Action.LIST_OWN_DOORS: {role: Scope.SIGNED_IN for role in Role},
    Action.OPEN_DOOR: {Role.RESIDENT: Scope.HOME_DOOR, **{role: Scope.GRANTED for role in STAFF_ROLES}},
    Action.GRANT_ACCESS: {Role.PROPERTY: Scope.COMMUNITY, Role.DISTRICT_ADMIN: Scope.DISTRICT},
    Action.VIEW_DEVICES: {
        Role.MAINTENANCE: Scope.COMMUNITY,
        Role.PROPERTY: Scope.COMMUNITY,
        Role.POLICE: Scope.COMMUNITY,
        Role.DISTRICT_ADMIN: Scope.DISTRICT,
    },
    Action.MANAGE_DEVICES: {Role.MAINTENANCE: Scope.COMMUNITY, Role.DISTRICT_ADMIN: Scope.DISTRICT},
    # Who passed which door: wardens and police their communities' (every staff read audited with
    # the people shown); a resident their own household's passes.
    Action.VIEW_ACCESS_RECORDS: {
        Role.WARDEN: Scope.COMMUNITY,
        Role.POLICE: Scope.COMMUNITY,
        Role.DISTRICT_ADMIN: Scope.DISTRICT,
    },
    Action.VIEW_HOUSEHOLD_PASSES: {Role.RESIDENT: Scope.OWN_HOUSE},
    # Cards and ID cards are issued at the property office or by the community police, who check
    # the holder; a verified resident adds PINs and tags for their own household only.
    Action.MANAGE_CREDENTIALS: {Role.PROPERTY: Scope.COMMUNITY, Role.POLICE: Scope.COMMUNITY},
    Action.MANAGE_OWN_CREDENTIALS: {Role.RESIDENT: Scope.OWN_HOUSE},
    Action.VIEW_OWN_HOMES: {Role.RESIDENT: Scope.SIGNED_IN},
    # 重点人员: police only, like the flags themselves.
    Action.VIEW_KEY_PERSONS: {Role.POLICE: Scope.COMMUNITY},
    Action.OPEN_NOTICES: {role: Scope.SIGNED_IN for role in Role},
    Action.READ_NOTICES: {
        Role.RESIDENT: Scope.HOME_COMMUNITY,
        **_FIELD_STAFF,
        Role.COMMUNITY_WORKER: Scope.COMMUNITY,
        Role.DISTRICT_ADMIN: Scope.DISTRICT,
    },
    # Property staff write for the property and, on its behalf, the owners' committee.
    Action.WRITE_NOTICES: {
        Role.PROPERTY: Scope.COMMUNITY,
        Role.COMMUNITY_WORKER: Scope.COMMUNITY,
        Role.POLICE: Scope.COMMUNITY,
    },
    # Each reviewer role speaks for one side: the community, or the community police.
    Action.REVIEW_NOTICES: {Role.COMMUNITY_WORKER: Scope.COMMUNITY, Role.POLICE: Scope.COMMUNITY},
    Action.VIEW_SERVICES: {
        Role.RESIDENT: Scope.HOME_COMMUNITY,
        **_FIELD_STAFF,
        Role.COMMUNITY_WORKER: Scope.COMMUNITY,
        Role.DISTRICT_ADMIN: Scope.DISTRICT,
    },
    Action.MANAGE_SERVICES: {Role.PROPERTY: Scope.COMMUNITY},
    Action.REQUEST_SERVICE: {Role.RESIDENT: Scope.HOME_COMMUNITY},
    Action.USE_SERVICES: {Role.RESIDENT: Scope.SIGNED_IN},
    # A request names its requester's flat and needs: the requester and the property staff only.
    Action.VIEW_SERVICE_REQUEST: {Role.RESIDENT: Scope.OWN_RECORD, Role.PROPERTY: Scope.COMMUNITY},
    Action.OWN_SERVICE_REQUEST: {Role.RESIDENT: Scope.OWN_RECORD},
    Action.HANDLE_SERVICE_REQUESTS: {Role.PROPERTY: Scope.COMMUNITY},
    Action.MANAGE_PATROLS: {Role.PROPERTY: Scope.COMMUNITY},
    Action.PATROL: {Role.PROPERTY: Scope.COMMUNITY},  # guards are property staff
    Action.RECORD_PATROL: {Role.PROPERTY: Scope.OWN_RECORD},
    # Supervisors; the seed's 二维码门牌 rule shows 巡查记录 to police and wardens.
    Action.VIEW_PATROLS: {**_FIELD_STAFF, Role.DISTRICT_ADMIN: Scope.DISTRICT},
    # Everyone an alarm is routed to (routing.py) sees and handles the community's alarms.
    Action.VIEW_ALARMS: {**_ALARM_STAFF, Role.COMMUNITY_WORKER: Scope.COMMUNITY},
    Action.HANDLE_ALARM: _ALARM_STAFF,
    Action.MANAGE_ZONES: {Role.PROPERTY: Scope.COMMUNITY, Role.DISTRICT_ADMIN: Scope.DISTRICT},
    # A button is paired by staff in the field or by a verified resident of the flat (a family member).
    Action.PAIR_BUTTON: {
        Role.RESIDENT: Scope.OWN_HOUSE,
        Role.WARDEN: Scope.COMMUNITY,
        Role.PROPERTY: Scope.COMMUNITY,
    },
    Action.MANAGE_THRESHOLDS: {Role.PROPERTY: Scope.COMMUNITY, Role.DISTRICT_ADMIN: Scope.DISTRICT},
    Action.WATCH_LIVE: {
        **_FIELD_STAFF,
        Role.MAINTENANCE: Scope.COMMUNITY,
        Role.DISTRICT_ADMIN: Scope.DISTRICT,
    },
    Action.MANAGE_OWN_PUSH: {role: Scope.SIGNED_IN for role in Role},
    Action.INVITE_VISITOR: {Role.RESIDENT: Scope.OWN_HOUSE},
    Action.LIST_OWN_PASSES: {Role.RESIDENT: Scope.SIGNED_IN},
    Action.CONFIRM_VISITOR: {Role.RESIDENT: Scope.OWN_HOUSE},
    # The household that holds the pass, or the guard desk that may have issued it.
    Action.REVOKE_PASS: {Role.RESIDENT: Scope.OWN_HOUSE, Role.PROPERTY: Scope.COMMUNITY},
    Action.REGISTER_WALK_IN: {Role.PROPERTY: Scope.COMMUNITY},
    Action.VIEW_VISITS: {Role.RESIDENT: Scope.OWN_HOUSE, **_FIELD_STAFF},
    Action.ENROL_OWN_FACE: {Role.RESIDENT: Scope.OWN_HOUSE},
    Action.ENROL_FACE: _FIELD_STAFF,
    # A resident sees no face but the ones they enrolled; staff reads are audited.
    Action.VIEW_FACE_IMAGE: {
        Role.RESIDENT: Scope.OWN_RECORD,
        Role.PROPERTY: Scope.COMMUNITY,
        Role.POLICE: Scope.COMMUNITY,
    },
    # Property and wardens register vehicles in the field; a verified resident their own household's.
    Action.MANAGE_VEHICLES: {Role.PROPERTY: Scope.COMMUNITY, Role.WARDEN: Scope.COMMUNITY},
    Action.MANAGE_OWN_VEHICLES: {Role.RESIDENT: Scope.OWN_HOUSE},
    Action.VIEW_VEHICLE_PASSAGES: _FIELD_STAFF,
    Action.VIEW_OWN_VEHICLE_PASSAGES: {Role.RESIDENT: Scope.OWN_HOUSE},
    Action.ADMIT_VEHICLE: {Role.PROPERTY: Scope.COMMUNITY},  # guards are property staff
    # Which plates the police watch is theirs alone: nobody else may read or change the list.
    Action.MANAGE_WATCH_LIST: {Role.POLICE: Scope.COMMUNITY},
    # 研判: the community police and its wardens; findings about 重点人员 need VIEW_KEY_PERSONS too.
    Action.VIEW_FINDINGS: {Role.WARDEN: Scope.COMMUNITY, Role.POLICE: Scope.COMMUNITY},
    Action.HANDLE_FINDING: {Role.WARDEN: Scope.COMMUNITY, Role.POLICE: Scope.COMMUNITY},
    # The monitoring room is the property's security staff's; the community police read its records
    # (the seed's 视频巡检 is evidence for the police). Residents never see cameras.
    Action.VIEW_VIDEO: {
        Role.PROPERTY: Scope.COMMUNITY,
        Role.POLICE: Scope.COMMUNITY,
        Role.DISTRICT_ADMIN: Scope.DISTRICT,
    },
    Action.MANAGE_VIDEO: {Role.PROPERTY: Scope.COMMUNITY},
    Action.INSPECT_VIDEO: {Role.PROPERTY: Scope.COMMUNITY},
    Action.RECORD_INSPECTION: {Role.PROPERTY: Scope.OWN_RECORD},
    # Turning a camera is the monitoring room's (property security) and the community police's;
    # residents and wardens never, and every command is audited.
    Action.CONTROL_PTZ: {Role.PROPERTY: Scope.COMMUNITY, Role.POLICE: Scope.COMMUNITY},
    # Live video is the monitoring room's (the property's security staff) and the community police's;
    # residents and wardens never watch cameras, district admins read records, not live pictures.
    Action.WATCH_VIDEO: {Role.PROPERTY: Scope.COMMUNITY, Role.POLICE: Scope.COMMUNITY},
    # 无线上网安全管理: where a phone's MAC was seen is the police's alone; the property keeps the
    # probes running, so it sees which entrances lack one, never a sighting.
    Action.SEARCH_SIGHTINGS: {Role.POLICE: Scope.COMMUNITY},
    Action.VIEW_PROBE_COVERAGE: {Role.PROPERTY: Scope.COMMUNITY, Role.POLICE: Scope.COMMUNITY},
    # 可视对讲: a call to a flat, its caller's video and the door it opens are the household's alone.
    Action.VIEW_CALLS: {Role.RESIDENT: Scope.OWN_HOUSE},
    Action.ANSWER_CALL: {Role.RESIDENT: Scope.OWN_HOUSE},
    # 实有单位: the property knows the shops and offices on its estate and enters them; the
    # community police verify them (一标三实); wardens read the list, district admins oversee it.
    Action.VIEW_ORGANISATIONS: {
        Role.PROPERTY: Scope.COMMUNITY,
        Role.POLICE: Scope.COMMUNITY,
        Role.WARDEN: Scope.COMMUNITY,
        Role.DISTRICT_ADMIN: Scope.DISTRICT,
    },
    Action.MANAGE_ORGANISATIONS: {Role.PROPERTY: Scope.COMMUNITY, Role.POLICE: Scope.COMMUNITY},
    Action.VERIFY_ORGANISATION: {Role.POLICE: Scope.COMMUNITY},
    Action.MANAGE_BUILDINGS: {Role.PROPERTY: Scope.COMMUNITY, Role.POLICE: Scope.COMMUNITY},
    # The uplink to the police platform is watched by the district's admins and by the police: a
    # community's police its own communities'; the district-wide view, police assigned to the district.
    Action.VIEW_UPLINK: {Role.DISTRICT_ADMIN: Scope.DISTRICT, Role.POLICE: Scope.COMMUNITY},
    Action.VIEW_DISTRICT_UPLINK: {Role.DISTRICT_ADMIN: Scope.DISTRICT, Role.POLICE: Scope.DISTRICT},
    # The acceptance is the district's and the police's (the seed's 验收 by 公安 and the district); the
    # property builds and runs most of what is scored, so it reads its community's sheet too.
    Action.VIEW_COMPLIANCE: {
        Role.DISTRICT_ADMIN: Scope.DISTRICT,
        Role.POLICE: Scope.COMMUNITY,
        Role.PROPERTY: Scope.COMMUNITY,
    },
    # The safety items (cases, drugs, petitions…) and the tier are for the police and the district.
    Action.ENTER_COMPLIANCE: {Role.DISTRICT_ADMIN: Scope.DISTRICT, Role.POLICE: Scope.COMMUNITY},
    Action.VIEW_DISTRICT_COMPLIANCE: {Role.DISTRICT_ADMIN: Scope.DISTRICT, Role.POLICE: Scope.DISTRICT},
}

# What a police officer or admin can do in a session not signed in with a passkey.
PASSKEY_EXEMPT = frozenset({Action.ENROL_PASSKEY, Action.VIEW_OWN_ACCOUNT})
# Changing an account's passkeys needs a passkey session, whatever the role: a stolen
# phone code must not be enough to plant a key or remove the holder's.
PASSKEY_SESSION_ONLY = frozenset({Action.MANAGE_OWN_PASSKEYS})

# 不得注销常住人口信息: the seed forbids deregistering permanent residents, for everyone.
UNDEREGISTRABLE = frozenset({ResidenceCategory.PERMANENT})


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling, as far as authorisation cares."""

    account_id: int | None = None
    role: Role | None = None
    communities: frozenset[int] = frozenset()
    districts: frozenset[int] = frozenset()
    # Where the caller verifiably lives (verified residencies only).
    houses: frozenset[int] = frozenset()
    units: frozenset[int] = frozenset()
    buildings: frozenset[int] = frozenset()
    home_communities: frozenset[int] = frozenset()
    has_passkey: bool = False
    # The session was signed in with a passkey assertion (or began by enrolling one).
    passkey_session: bool = False

    @property
    def signed_in(self) -> bool:
        return self.account_id is not None

    @property
    def must_enrol_passkey(self) -> bool:
        return self.role in PASSKEY_ROLES and not self.has_passkey


def may_sign_in_with_code(role: Role, has_passkey: bool) -> bool:
    """Police and admins use the phone code only to reach their first passkey enrolment."""
    return role not in PASSKEY_ROLES or not has_passkey


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """What the action touches."""

    community_id: int | None = None
    district_id: int | None = None
    house_id: int | None = None
    residence_category: ResidenceCategory | None = None
    # Doors: their kind ("gate", "building", "unit", "garage"), where they are, and whether
    # the caller holds a grant for them valid now (looked up by the access service).
    door_kind: str | None = None
    building_id: int | None = None
    unit_id: int | None = None
    granted: bool = False
    # Grants: the account that would receive the access.
    grantee_id: int | None = None
    # Personal records: the account they belong to (a request's requester, a run's guard).
    owner_id: int | None = None


NOWHERE = Target()  # for actions that touch no particular place


class Forbidden(Exception):
    """Refused; ``code`` is machine-readable, ``status`` 401 (sign in) or 403."""

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _in_scope(scope: Scope, who: Principal, target: Target) -> bool:
    match scope:
        case Scope.ANYONE:
            return True
        case Scope.SIGNED_IN:
            return who.signed_in
        case Scope.OWN_HOUSE:
            return target.house_id is not None and target.house_id in who.houses
        case Scope.COMMUNITY:
            return target.community_id in who.communities or target.district_id in who.districts
        case Scope.DISTRICT:
            return target.district_id in who.districts
        case Scope.HOME_DOOR:
            return _home_door(who, target)
        case Scope.GRANTED:
            return target.granted and _in_scope(Scope.COMMUNITY, who, target)
        case Scope.HOME_COMMUNITY:
            return target.community_id in who.home_communities
        case Scope.OWN_RECORD:
            return who.signed_in and target.owner_id == who.account_id
    return False


def _home_door(who: Principal, target: Target) -> bool:
    match target.door_kind:
        case "gate":
            return target.community_id in who.home_communities
        case "building":
            return target.building_id in who.buildings
        case "unit":
            return target.unit_id in who.units
    return False


def household_opens(community_id: int, building_id: int, unit_id: int, door: Target) -> bool:
    """HOME_DOOR for a household rather than a caller: the doors its verified residents open,
    and so the doors a pass issued for it may open."""
    home = Principal(
        home_communities=frozenset({community_id}),
        buildings=frozenset({building_id}),
        units=frozenset({unit_id}),
    )
    return _home_door(home, door)


def authorize(who: Principal, action: Action, target: Target = NOWHERE) -> None:
    """Raise :class:`Forbidden` unless ``who`` may do ``action`` on ``target``."""
    if (refused := _refusal(who, action, target)) is not None:
        raise refused


def _refusal(who: Principal, action: Action, target: Target = NOWHERE) -> Forbidden | None:
    """Why ``who`` may not do ``action`` on ``target``, or None if they may.

    Returned rather than raised: a scan asks about a dozen actions, and raising and catching a
    refusal for each cost more than the rest of the decision.
    """
    rules = MATRIX[action]
    if not who.signed_in and ANONYMOUS not in rules:
        return Forbidden("sign_in_required", "Sign in first", status=401)
    if (refused := _passkey_refusal(who, action)) is not None:
        return refused
    scope = rules.get(who.role)
    if scope is None or not _in_scope(scope, who, target):
        return Forbidden("forbidden", f"Not allowed to {action.value} here")
    if action is Action.DEREGISTER and target.residence_category in UNDEREGISTRABLE:
        return Forbidden("permanent_resident", "Permanent (常住) residents cannot be deregistered")
    if action is Action.SELF_REGISTER and target.house_id is not None and target.house_id in who.houses:
        return Forbidden("already_resident", "You are already a verified resident here; add members instead")
    if action is Action.GRANT_ACCESS and target.grantee_id == who.account_id:
        return Forbidden("self_grant", "Nobody grants door access to themselves; ask another manager")
    return None


def _passkey_refusal(who: Principal, action: Action) -> Forbidden | None:
    if who.passkey_session:
        return None
    if action in PASSKEY_SESSION_ONLY or (action is Action.ENROL_PASSKEY and who.has_passkey):
        return Forbidden("passkey_session_required", "Sign in with a passkey to change your passkeys")
    if who.role in PASSKEY_ROLES and action not in PASSKEY_EXEMPT:
        return Forbidden("passkey_required", "Sign in with a passkey to use this role")
    return None


# Decisions are pure functions of frozen values, asked again and again (a dozen on every scan):
# the recent ones are kept.
@functools.lru_cache(maxsize=4096)
def is_allowed(who: Principal, action: Action, target: Target = NOWHERE) -> bool:
    return _refusal(who, action, target) is None


def authorize_any(who: Principal, actions: tuple[Action, ...], target: Target) -> None:
    """Refuse unless one of ``actions`` is allowed (a record its owner and supervisors both read);
    the refusal is the last action's, saying why."""
    if not any(is_allowed(who, action, target) for action in actions):
        authorize(who, actions[-1], target)


@functools.lru_cache(maxsize=4096)
def allowed_actions(who: Principal, actions: tuple[Action, ...], target: Target) -> tuple[Action, ...]:
    return tuple(action for action in actions if is_allowed(who, action, target))
