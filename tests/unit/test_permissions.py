"""SPEC R-1..R-5: the portal's permission table, walked for every role.

The expected grants below are written from the SPEC's wording, row by row,
not copied from directory/rules/permissions.py: every (role, action, target
kind) not granted here must be refused, and every one granted must be allowed.
"""

from __future__ import annotations

import itertools

import pytest

from directory.model import Account, AccountKind, AccountState, Role, SchoolType
from webui.portal.permissions import (
    Action,
    Actor,
    Decision,
    PortalRole,
    Scope,
    Target,
    TargetKind,
    actions_allowed,
    decide,
    portal_role,
)

A, T = Action, TargetKind
SCHOOL_ACCOUNTS = {T.LEARNER, T.STAFF, T.GOVERNOR, T.SCHOOL_NONMIS}
ORGANISATION_ACCOUNTS = {T.LA_NONMIS, T.REC_NONMIS, T.STAKEHOLDER}


def grants(action: Action, kinds) -> set[tuple[Action, TargetKind]]:
    return {(action, kind) for kind in kinds}


R1_PRIMARY = grants(A.VIEW_SCHOOL, {T.SCHOOL})
R1_OTHERS = R1_PRIMARY  # + their own password, per their own kind (below)
R2_STAFF = (R1_PRIMARY | grants(A.CHANGE_OWN_PASSWORD, {T.STAFF})
            | set().union(*(grants(a, {T.LEARNER}) for a in (A.VIEW_ACCOUNTS, A.RESET_PASSWORD, A.SHOW_PASSWORD,
                                                               A.PRINT_CREDENTIALS, A.DOWNLOAD_CREDENTIALS))))
R3_CHAMPION = (R1_PRIMARY
               | grants(A.CHANGE_OWN_PASSWORD, SCHOOL_ACCOUNTS)
               | set().union(*(grants(a, SCHOOL_ACCOUNTS) for a in (
                   A.VIEW_ACCOUNTS, A.RESET_PASSWORD, A.SHOW_PASSWORD, A.PRINT_CREDENTIALS, A.EDIT_NAMES,
                   A.DEACTIVATE, A.REACTIVATE)))
               | grants(A.DOWNLOAD_CREDENTIALS, {T.LEARNER, T.STAFF})  # P-2: all pupils and all staff
               | grants(A.CREATE_ACCOUNT, {T.GOVERNOR, T.SCHOOL_NONMIS})
               | grants(A.EXTEND_EXPIRY, {T.GOVERNOR, T.SCHOOL_NONMIS})
               | grants(A.MANAGE_CONSENT, {T.LEARNER})
               | grants(A.MANAGE_LICENCES, {T.STAFF, T.SCHOOL})
               | grants(A.VIEW_PROVISIONING, {T.SCHOOL})
               | grants(A.VIEW_AUDIT, {T.SCHOOL})
               | grants(A.PROMOTE, {T.DIGITAL_CHAMPION}) | grants(A.DEMOTE, {T.DIGITAL_CHAMPION})
               # Issue 18: the school's badge settings, and printing and revoking its learners' badges.
               | grants(A.MANAGE_BADGES, {T.SCHOOL, T.LEARNER}))
R4_ADMINISTRATOR = (R3_CHAMPION
                    | set().union(*(grants(a, ORGANISATION_ACCOUNTS) for a in (
                        A.CHANGE_OWN_PASSWORD, A.VIEW_ACCOUNTS, A.RESET_PASSWORD, A.SHOW_PASSWORD,
                        A.PRINT_CREDENTIALS, A.CREATE_ACCOUNT, A.EDIT_NAMES, A.DEACTIVATE, A.REACTIVATE,
                        A.EXTEND_EXPIRY)))
                    | grants(A.PROMOTE, {T.ADMINISTRATOR}) | grants(A.DEMOTE, {T.ADMINISTRATOR}))

EXPECTED = {
    PortalRole.PRIMARY_LEARNER: R1_PRIMARY,
    PortalRole.SECONDARY_LEARNER: R1_OTHERS | grants(A.CHANGE_OWN_PASSWORD, {T.LEARNER}),
    PortalRole.NON_MIS_USER: R1_OTHERS | grants(A.CHANGE_OWN_PASSWORD,
                                                {T.GOVERNOR, T.SCHOOL_NONMIS} | ORGANISATION_ACCOUNTS),
    PortalRole.SCHOOL_STAFF: R2_STAFF,
    PortalRole.DIGITAL_CHAMPION: R3_CHAMPION,
    PortalRole.LA_ADMINISTRATOR: R4_ADMINISTRATOR,
    PortalRole.REC_ADMINISTRATOR: R4_ADMINISTRATOR,
    PortalRole.NATIONAL_ADMINISTRATOR: R4_ADMINISTRATOR,
}
EVERYWHERE = Scope(schools=None, organisations=None)


@pytest.mark.parametrize("role", list(PortalRole))
def test_the_whole_table_for_each_role(role):
    """R-1..R-4: every action on every kind of target, in scope, is allowed exactly when the SPEC grants it."""
    actor = Actor(account_id="actor", role=role, scope=EVERYWHERE)
    for action, kind in itertools.product(Action, TargetKind):
        own = action is A.CHANGE_OWN_PASSWORD  # one's own password: the target is oneself
        target = Target(kind, account_id="actor" if own else "someone-else", school="6610001")
        expected = Decision.ALLOWED if (action, kind) in EXPECTED[role] else Decision.FORBIDDEN
        assert decide(actor, action, target) is expected, (role, action, kind)


def test_nobody_changes_another_persons_password_as_their_own():
    actor = Actor("me", PortalRole.DIGITAL_CHAMPION, Scope(frozenset({"6610001"})))
    assert decide(actor, A.CHANGE_OWN_PASSWORD, Target(T.STAFF, "someone-else", "6610001")) is Decision.FORBIDDEN
    assert decide(actor, A.RESET_PASSWORD, Target(T.STAFF, "someone-else", "6610001")) is Decision.ALLOWED


@pytest.mark.parametrize(("role", "kind"), [(PortalRole.DIGITAL_CHAMPION, T.DIGITAL_CHAMPION),
                                            (PortalRole.LA_ADMINISTRATOR, T.ADMINISTRATOR),
                                            (PortalRole.NATIONAL_ADMINISTRATOR, T.ADMINISTRATOR)])
def test_nobody_demotes_themselves(role, kind):
    """R-5, and the seed: 'Digital Champions cannot demote themselves'."""
    actor = Actor("me", role, Scope(frozenset({"6610001"}), frozenset({"661"})))
    assert decide(actor, A.DEMOTE, Target(kind, "me", "6610001")) is Decision.FORBIDDEN
    assert decide(actor, A.DEMOTE, Target(kind, "colleague", "6610001")) is Decision.ALLOWED


@pytest.mark.parametrize("role", [PortalRole.DIGITAL_CHAMPION, PortalRole.LA_ADMINISTRATOR,
                                  PortalRole.NATIONAL_ADMINISTRATOR])
def test_nobody_locks_themselves_out(role):
    """With R-5's "nobody can demote themselves": whoever may deactivate accounts may not deactivate
    their own (it could not sign in again, A-6), though they may deactivate a colleague's."""
    actor = Actor("me", role, Scope(frozenset({"6610001"}), frozenset({"661"})), school="6610001")
    assert decide(actor, A.DEACTIVATE, Target(T.STAFF, "me", "6610001")) is Decision.FORBIDDEN
    assert decide(actor, A.DEACTIVATE, Target(T.STAFF, "colleague", "6610001")) is Decision.ALLOWED
    assert decide(actor, A.RESET_PASSWORD, Target(T.STAFF, "me", "6610001")) is Decision.ALLOWED


def test_a_target_outside_the_scope_is_not_found_whatever_the_role_may_do():
    """R-5: out of scope answers 'not found' (404), not 'forbidden', even for actions the role lacks."""
    champion = Actor("me", PortalRole.DIGITAL_CHAMPION, Scope(frozenset({"6610001"})), school="6610001")
    elsewhere = Target(T.LEARNER, "learner-elsewhere", school="6620002")
    for action in Action:
        assert decide(champion, action, elsewhere) is Decision.NOT_FOUND
    assert decide(champion, A.VIEW_ACCOUNTS, Target(T.LA_NONMIS, "la-user", organisation="661")) is Decision.NOT_FOUND
    assert decide(champion, A.VIEW_ACCOUNTS, Target(T.STAKEHOLDER, "inspector")) is Decision.NOT_FOUND


def test_la_and_rec_administrators_reach_their_schools_and_organisations_only():
    la = Actor("la", PortalRole.LA_ADMINISTRATOR, Scope(frozenset({"6610001", "6610002"}), frozenset({"661"})))
    assert decide(la, A.RESET_PASSWORD, Target(T.STAFF, "s", school="6610002")) is Decision.ALLOWED
    assert decide(la, A.RESET_PASSWORD, Target(T.LA_NONMIS, "n", organisation="661")) is Decision.ALLOWED
    assert decide(la, A.RESET_PASSWORD, Target(T.LA_NONMIS, "n", organisation="662")) is Decision.NOT_FOUND
    assert decide(la, A.RESET_PASSWORD, Target(T.REC_NONMIS, "r", organisation="SEWC")) is Decision.NOT_FOUND
    national = Actor("n", PortalRole.NATIONAL_ADMINISTRATOR, EVERYWHERE)
    assert decide(national, A.VIEW_ACCOUNTS, Target(T.STAKEHOLDER, "inspector")) is Decision.ALLOWED


def test_ones_own_account_is_in_scope_even_without_a_school():
    inspector = Actor("me", PortalRole.NON_MIS_USER, Scope(frozenset()))
    assert decide(inspector, A.CHANGE_OWN_PASSWORD, Target(T.STAKEHOLDER, "me")) is Decision.ALLOWED
    assert decide(inspector, A.VIEW_ACCOUNTS, Target(T.STAKEHOLDER, "someone")) is Decision.NOT_FOUND


def _account(kind: AccountKind, roles=()) -> Account:
    return Account(id="x", username="BloggsJ", kind=kind, state=AccountState.ACTIVE, surname="Bloggs",
                   forename="Jo", display_name="Jo Bloggs", mail="BloggsJ@hwbcymru.net", roles=frozenset(roles))


@pytest.mark.parametrize(("kind", "roles", "school_type", "expected"), [
    (AccountKind.LEARNER, (), SchoolType.PRIMARY, PortalRole.PRIMARY_LEARNER),
    (AccountKind.LEARNER, (), SchoolType.NURSERY, PortalRole.PRIMARY_LEARNER),
    (AccountKind.LEARNER, (), SchoolType.SECONDARY, PortalRole.SECONDARY_LEARNER),
    (AccountKind.STAFF, (), SchoolType.PRIMARY, PortalRole.SCHOOL_STAFF),
    (AccountKind.STAFF, (Role.DIGITAL_CHAMPION,), SchoolType.PRIMARY, PortalRole.DIGITAL_CHAMPION),
    (AccountKind.GOVERNOR, (), SchoolType.PRIMARY, PortalRole.NON_MIS_USER),
    (AccountKind.SCHOOL_NONMIS, (), SchoolType.SECONDARY, PortalRole.NON_MIS_USER),
    (AccountKind.LA_NONMIS, (Role.LA_ADMINISTRATOR,), None, PortalRole.LA_ADMINISTRATOR),
    (AccountKind.REC_NONMIS, (Role.REC_ADMINISTRATOR,), None, PortalRole.REC_ADMINISTRATOR),
    (AccountKind.STAKEHOLDER, (), None, PortalRole.NON_MIS_USER),
])
def test_portal_role_comes_from_kind_school_type_and_roles(kind, roles, school_type, expected):
    assert portal_role(_account(kind, roles), school_type) is expected


def test_actions_allowed_lists_what_a_page_may_offer():
    staff = Actor("me", PortalRole.SCHOOL_STAFF, Scope(frozenset({"6610001"})))
    offered = actions_allowed(staff, Target(T.LEARNER, "pupil", school="6610001"))
    assert offered == {A.VIEW_ACCOUNTS, A.RESET_PASSWORD, A.SHOW_PASSWORD, A.PRINT_CREDENTIALS,
                       A.DOWNLOAD_CREDENTIALS}
    assert not actions_allowed(staff, Target(T.STAFF, "colleague", school="6610001")) - {A.VIEW_SCHOOL}


def test_scope_for_each_kind_of_administrator():
    """R-4: LA administrators reach their LA's schools; REC administrators every LA of the region."""
    from directory.model import Organisation, OrganisationKind, School

    organisations = [Organisation("SEWC", "South East Wales", OrganisationKind.CONSORTIUM),
                     Organisation("661", "Cardiff", OrganisationKind.LOCAL_AUTHORITY, parent="SEWC"),
                     Organisation("662", "Newport", OrganisationKind.LOCAL_AUTHORITY, parent="SEWC"),
                     Organisation("663", "Gwynedd", OrganisationKind.LOCAL_AUTHORITY, parent="GwE")]
    schools = [School("6610001", "A", SchoolType.PRIMARY, "661"), School("6620001", "B", SchoolType.PRIMARY, "662"),
               School("6630001", "C", SchoolType.PRIMARY, "663")]
    la_admin = _account(AccountKind.LA_NONMIS, (Role.LA_ADMINISTRATOR,))
    la_admin = Account(**{**la_admin.__dict__, "organisation": "661"})
    assert portal_role(la_admin, None) is PortalRole.LA_ADMINISTRATOR
    from webui.portal.permissions import scope_for
    assert scope_for(la_admin, PortalRole.LA_ADMINISTRATOR, schools, organisations) == \
        Scope(frozenset({"6610001"}), frozenset({"661"}))
    rec_admin = Account(**{**la_admin.__dict__, "organisation": "SEWC", "roles": frozenset({Role.REC_ADMINISTRATOR})})
    assert scope_for(rec_admin, PortalRole.REC_ADMINISTRATOR, schools, organisations) == \
        Scope(frozenset({"6610001", "6620001"}), frozenset({"SEWC", "661", "662"}))
    champion = Account(**{**la_admin.__dict__, "kind": AccountKind.STAFF, "organisation": None, "school": "6630001",
                          "roles": frozenset({Role.DIGITAL_CHAMPION})})
    assert scope_for(champion, PortalRole.DIGITAL_CHAMPION, schools, organisations) == \
        Scope(frozenset({"6630001"}), frozenset())
    assert scope_for(la_admin, PortalRole.NATIONAL_ADMINISTRATOR, schools, organisations).schools is None
