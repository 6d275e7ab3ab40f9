"""The permission table enforced on every request (issue 5 point 2; SPEC R-1..R-5).

For each portal role, one person signs in and asks for every kind of page;
the answer must be what directory/rules/permissions.decide says for that
person: 200 when allowed, 403 when in scope but not theirs to do, 404 when
out of scope. The table itself is checked against the SPEC's words in
tests/unit/test_permissions.py; this walk proves no page skips the check.
"""

from __future__ import annotations

import pytest

from directory.model import AccountKind, NewAccount, Organisation, OrganisationKind, Role
from operational import workflow_runs
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from webui.portal.access import SchoolRegister, portal_user
from webui.portal.permissions import Action, Decision, PortalRole, Target, TargetKind, decide

STATUS = {Decision.ALLOWED: 200, Decision.FORBIDDEN: 403, Decision.NOT_FOUND: 404}


def person(role: PortalRole) -> NewAccount:
    common = {"surname": "Actor", "forename": "Zed", "created_by": "test", "password": PASSWORD}
    if role is PortalRole.PRIMARY_LEARNER:
        return learner("Actor", "Zed", password=PASSWORD)
    if role is PortalRole.SECONDARY_LEARNER:
        return learner("Actor", "Zed", school=OTHER_SCHOOL, password=PASSWORD)
    if role is PortalRole.NON_MIS_USER:
        return NewAccount(kind=AccountKind.GOVERNOR, school=SCHOOL, **common)
    if role is PortalRole.SCHOOL_STAFF:
        return staff("Actor", "Zed", code="Z1", password=PASSWORD)
    if role is PortalRole.DIGITAL_CHAMPION:
        return staff("Actor", "Zed", code="Z1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION}))
    if role is PortalRole.LA_ADMINISTRATOR:
        return NewAccount(kind=AccountKind.LA_NONMIS, organisation="661", roles=frozenset({Role.LA_ADMINISTRATOR}),
                          **common)
    if role is PortalRole.REC_ADMINISTRATOR:
        return NewAccount(kind=AccountKind.REC_NONMIS, organisation="SEWC", roles=frozenset({Role.REC_ADMINISTRATOR}),
                          **common)
    return NewAccount(kind=AccountKind.STAKEHOLDER, roles=frozenset({Role.NATIONAL_ADMINISTRATOR}), **common)


@pytest.mark.parametrize("role", list(PortalRole))
def test_every_page_answers_as_the_table_says_for_each_role(portal, now, role):
    store = portal.porth.runtime.store
    store.add_organisation(Organisation("SEWC", "South East Wales", OrganisationKind.CONSORTIUM))
    store.add_organisation(Organisation("661", "Cardiff", OrganisationKind.LOCAL_AUTHORITY, parent="SEWC"))
    pupil = store.add_account(learner("Pupil", "Pat"), now)
    colleague = store.add_account(staff("Colleague", "Cai", code="C1"), now)
    governor = store.add_account(NewAccount(kind=AccountKind.GOVERNOR, surname="Gov", forename="Gwen",
                                            created_by="test", school=SCHOOL), now)
    run_id = workflow_runs.start_run(portal.porth.runtime.db, SCHOOL, "learners", now)
    me = store.add_account(person(role), now)
    portal.sign_in(f"{me.username}@hwbcymru.net", path="/portal/profile")
    actor = portal_user(me, SchoolRegister(store)).actor
    school = Target(TargetKind.SCHOOL, school=SCHOOL)

    def kind_in_school(kind: TargetKind) -> Target:
        return Target(kind, school=SCHOOL)

    pages = [
        (f"/portal/?school={SCHOOL}", Action.VIEW_SCHOOL, school),
        (f"/portal/users/learners?school={SCHOOL}", Action.VIEW_ACCOUNTS, kind_in_school(TargetKind.LEARNER)),
        (f"/portal/users/staff?school={SCHOOL}", Action.VIEW_ACCOUNTS, kind_in_school(TargetKind.STAFF)),
        (f"/portal/users/governors?school={SCHOOL}", Action.VIEW_ACCOUNTS, kind_in_school(TargetKind.GOVERNOR)),
        (f"/portal/accounts/{pupil.id}", Action.VIEW_ACCOUNTS, Target(TargetKind.LEARNER, pupil.id, SCHOOL)),
        (f"/portal/accounts/{pupil.id}/password/reset", Action.RESET_PASSWORD,
         Target(TargetKind.LEARNER, pupil.id, SCHOOL)),
        (f"/portal/accounts/{colleague.id}/password/reset", Action.RESET_PASSWORD,
         Target(TargetKind.STAFF, colleague.id, SCHOOL)),
        (f"/portal/accounts/{pupil.id}/edit", Action.EDIT_NAMES, Target(TargetKind.LEARNER, pupil.id, SCHOOL)),
        (f"/portal/accounts/{governor.id}/deactivate", Action.DEACTIVATE,
         Target(TargetKind.GOVERNOR, governor.id, SCHOOL)),
        (f"/portal/accounts/{pupil.id}/consent/confirm", Action.MANAGE_CONSENT,
         Target(TargetKind.LEARNER, pupil.id, SCHOOL)),
        (f"/portal/download/pupils?school={SCHOOL}", Action.DOWNLOAD_CREDENTIALS, kind_in_school(TargetKind.LEARNER)),
        (f"/portal/download/staff?school={SCHOOL}", Action.DOWNLOAD_CREDENTIALS, kind_in_school(TargetKind.STAFF)),
        (f"/portal/users/governors/new?school={SCHOOL}&understood=yes", Action.CREATE_ACCOUNT,
         kind_in_school(TargetKind.GOVERNOR)),
        (f"/portal/expiring?school={SCHOOL}", Action.EXTEND_EXPIRY, kind_in_school(TargetKind.GOVERNOR)),
        (f"/portal/licences?school={SCHOOL}", Action.MANAGE_LICENCES, school),
        (f"/portal/runs/{run_id}", Action.VIEW_PROVISIONING, school),
        (f"/portal/champions?school={SCHOOL}", Action.PROMOTE, kind_in_school(TargetKind.DIGITAL_CHAMPION)),
        (f"/portal/audit?school={SCHOOL}", Action.VIEW_AUDIT, school),
        (f"/portal/users/learners/group-reset?school={SCHOOL}", Action.RESET_PASSWORD,
         kind_in_school(TargetKind.LEARNER)),
        (f"/portal/users/learners/print-group?school={SCHOOL}", Action.PRINT_CREDENTIALS,
         kind_in_school(TargetKind.LEARNER)),
    ]
    answers = {path: portal.client.get(path).status_code for path, _action, _target in pages}
    expected = {path: STATUS[decide(actor, action, target)] for path, action, target in pages}
    assert answers == expected
    assert portal.client.get("/portal/profile").status_code == 200  # everyone has a profile page
