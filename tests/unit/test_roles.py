"""The matrix's rules, tested without HTTP."""

from __future__ import annotations

import datetime as dt

import pytest

from roles import (
    Action,
    Forbidden,
    Principal,
    Role,
    Target,
    Viewer,
    authorize,
    is_allowed,
    project_person,
    viewer_for,
)
from roles.categories import ResidenceCategory
from roles.masking import age_band
from roles.matrix import may_sign_in_with_code

HOME = Target(community_id=1, district_id=10, house_id=100)
ELSEWHERE = Target(community_id=2, district_id=10, house_id=200)


def staff(role: Role, **extra) -> Principal:
    return Principal(
        account_id=1, role=role, communities=frozenset({1}), has_passkey=True, passkey_session=True, **extra
    )


def test_anonymous_may_only_do_public_things():
    anonymous = Principal()
    assert is_allowed(anonymous, Action.SELF_REGISTER, HOME)
    with pytest.raises(Forbidden) as refused:
        authorize(anonymous, Action.VERIFY, HOME)
    assert refused.value.status == 401


@pytest.mark.parametrize("role", [Role.WARDEN, Role.PROPERTY, Role.POLICE])
def test_permanent_residents_cannot_be_deregistered_by_anyone(role):
    who = staff(role)
    assert is_allowed(
        who, Action.DEREGISTER, Target(community_id=1, residence_category=ResidenceCategory.FLOATING)
    )
    with pytest.raises(Forbidden) as refused:
        authorize(
            who, Action.DEREGISTER, Target(community_id=1, residence_category=ResidenceCategory.PERMANENT)
        )
    assert refused.value.code == "permanent_resident"


def test_no_role_may_deregister_permanent_residents_anywhere():
    god = Principal(
        account_id=1,
        role=Role.DISTRICT_ADMIN,
        districts=frozenset({10}),
        communities=frozenset({1}),
        has_passkey=True,
        passkey_session=True,
    )
    for role in Role:
        who = Principal(**{**{f: getattr(god, f) for f in god.__struct_fields__}, "role": role})
        assert not is_allowed(
            who,
            Action.DEREGISTER,
            Target(community_id=1, district_id=10, residence_category=ResidenceCategory.PERMANENT),
        )


def test_scope_is_the_assigned_community_or_district():
    assert is_allowed(staff(Role.WARDEN), Action.VERIFY, HOME)
    assert not is_allowed(staff(Role.WARDEN), Action.VERIFY, ELSEWHERE)
    admin = Principal(
        account_id=2,
        role=Role.DISTRICT_ADMIN,
        districts=frozenset({10}),
        has_passkey=True,
        passkey_session=True,
    )
    assert is_allowed(admin, Action.VIEW_METRICS, ELSEWHERE)
    assert not is_allowed(admin, Action.VIEW_METRICS, Target(community_id=3, district_id=11))


def test_residents_act_only_on_their_own_flat():
    resident = Principal(account_id=3, role=Role.RESIDENT, houses=frozenset({100}))
    assert is_allowed(resident, Action.ADD_MEMBER, HOME)
    assert not is_allowed(resident, Action.ADD_MEMBER, ELSEWHERE)


def test_police_and_admins_must_enrol_a_passkey_first():
    police = Principal(account_id=4, role=Role.POLICE, communities=frozenset({1}))
    with pytest.raises(Forbidden) as refused:
        authorize(police, Action.VERIFY, HOME)
    assert refused.value.code == "passkey_required"
    authorize(police, Action.ENROL_PASSKEY)
    assert not Principal(account_id=5, role=Role.WARDEN).must_enrol_passkey


def test_police_and_admins_act_only_in_a_passkey_session():
    code_session = Principal(account_id=4, role=Role.POLICE, communities=frozenset({1}), has_passkey=True)
    with pytest.raises(Forbidden) as refused:
        authorize(code_session, Action.VIEW_HOUSEHOLD, HOME)
    assert refused.value.code == "passkey_required"
    authorize(code_session, Action.VIEW_OWN_ACCOUNT)
    assert not may_sign_in_with_code(Role.POLICE, has_passkey=True)
    assert may_sign_in_with_code(Role.POLICE, has_passkey=False)
    assert may_sign_in_with_code(Role.WARDEN, has_passkey=True)


@pytest.mark.parametrize("role", list(Role))
def test_changing_passkeys_needs_a_passkey_session_for_everyone(role):
    code_session = Principal(account_id=6, role=role, has_passkey=True)
    for action in (Action.ENROL_PASSKEY, Action.MANAGE_OWN_PASSKEYS):
        with pytest.raises(Forbidden) as refused:
            authorize(code_session, action)
        assert refused.value.code == "passkey_session_required"
    authorize(
        Principal(account_id=6, role=role, has_passkey=True, passkey_session=True), Action.MANAGE_OWN_PASSKEYS
    )


@pytest.mark.parametrize(
    "who,viewer",
    [
        (Principal(), Viewer.ANONYMOUS),
        (Principal(account_id=3, role=Role.RESIDENT, houses=frozenset({100})), Viewer.RESIDENT),
        (Principal(account_id=3, role=Role.RESIDENT, houses=frozenset({200})), Viewer.ANONYMOUS),
        (staff(Role.WARDEN), Viewer.STAFF),
        (staff(Role.PROPERTY), Viewer.STAFF),
        (staff(Role.POLICE), Viewer.POLICE),
        (
            Principal(
                account_id=1,
                role=Role.POLICE,
                communities=frozenset({2}),
                has_passkey=True,
                passkey_session=True,
            ),
            Viewer.ANONYMOUS,
        ),
    ],
)
def test_viewer_follows_role_and_scope(who, viewer):
    assert viewer_for(who, HOME) is viewer


PERSON = {
    "residency_id": 1,
    "person_id": 2,
    "name": "张伟",
    "status": "verified",
    "relation": "1",
    "residence_category": "permanent",
    "gender": "1",
    "birth_date": dt.date(1980, 1, 1),
    "phone": "13812345678",
    "id_number": "42011219800101123X",
    "key_person": True,
    "key_category": "涉稳",
    "id_number_encrypted": "…",
}


def test_projections_mask_and_hide():
    warden = project_person(Viewer.STAFF, PERSON)
    assert warden["id_number"] == "420***********123X" and warden["phone"] == "138****5678"
    assert "key_person" not in warden and "id_number_encrypted" not in warden
    # Beside a masked ID number, a birth date only as its band.
    assert "birth_date" not in warden and warden["age_band"].endswith("9")
    police = project_person(Viewer.POLICE, PERSON)
    assert police["id_number"] == PERSON["id_number"] and police["key_category"] == "涉稳"
    assert police["birth_date"] == PERSON["birth_date"] and "age_band" not in police


@pytest.mark.parametrize(
    "born,band",
    [
        (dt.date(2024, 6, 2), "0-9"),
        (dt.date(1994, 6, 1), "30-39"),
        (dt.date(1994, 6, 2), "20-29"),  # turns 30 tomorrow
        (dt.date(1944, 6, 1), "80+"),
        (dt.date(1900, 1, 1), "80+"),
    ],
)
def test_age_bands(born, band):
    assert age_band(born, today=dt.date(2024, 6, 1)) == band
    assert project_person(Viewer.ANONYMOUS, PERSON) == {}


def test_a_kept_decision_never_answers_for_a_caller_who_has_since_moved_out():
    """Decisions are kept (roles.matrix's lru_cache): a resident deregistered since, whose token
    now carries no home, must get the outsider's answer, not the one kept for them."""
    flat = Target(community_id=1, district_id=1, house_id=5)
    home = Principal(account_id=7, role=Role.RESIDENT, houses=frozenset({5}), home_communities=frozenset({1}))
    assert is_allowed(home, Action.VIEW_HOUSEHOLD, flat) and viewer_for(home, flat) is Viewer.RESIDENT
    moved_out = Principal(account_id=7, role=Role.RESIDENT)
    assert not is_allowed(moved_out, Action.VIEW_HOUSEHOLD, flat)
    assert viewer_for(moved_out, flat) is Viewer.ANONYMOUS
    with pytest.raises(Forbidden):
        authorize(moved_out, Action.VIEW_HOUSEHOLD, flat)
