"""LA, REC and national administrators land on their organisation (issue 16 point 4; SPEC R-4,
M-10, L-2): its schools with the last run of each workflow and what needs attention, its own
non-MIS accounts, the accounts expiring within eight weeks, and links into each school."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from directory.model import (
    AccountKind,
    AccountState,
    NewAccount,
    Organisation,
    OrganisationKind,
    Role,
    School,
    SchoolType,
)
from operational import workflow_runs
from operational.statuses import WorkflowOutcome
from operational.tables import WORKFLOWS
from operational.workflow_runs import RecordError, RunCounts
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from webui.portal.dashboard import Flag, provisioning_flags

THIRD_SCHOOL = "6615000"  # of the LA, never provisioned
FAR_SCHOOL = "6629999"  # of another LA


def text(response) -> str:
    return response.get_data(as_text=True)


def store(portal):
    return portal.porth.runtime.store


def run(portal, school: str, workflow: str, outcome: WorkflowOutcome, errors: int = 0, days_ago: int = 0) -> int:
    db = portal.porth.runtime.db
    started = datetime.now(UTC) - timedelta(days=days_ago)
    run_id = workflow_runs.start_run(db, school, workflow, started)
    workflow_runs.finish_run(db, run_id, outcome, started + timedelta(minutes=1), RunCounts(created=1),
                             [RecordError(f"A{n}", "Missing UPN") for n in range(errors)])
    return run_id


def organisations(portal):
    store(portal).add_organisation(Organisation("SEW", "South East Wales", OrganisationKind.CONSORTIUM))
    store(portal).add_organisation(Organisation("661", "Cardiff", OrganisationKind.LOCAL_AUTHORITY, parent="SEW"))
    store(portal).add_organisation(Organisation("662", "Newport", OrganisationKind.LOCAL_AUTHORITY, parent="SEW"))
    store(portal).add_school(School(THIRD_SCHOOL, "Ysgol Newydd", SchoolType.PRIMARY, "661"))
    store(portal).add_school(School(FAR_SCHOOL, "Ysgol Pell", SchoolType.PRIMARY, "662"))


def la_person(portal, now, surname: str, forename: str, **fields):
    return store(portal).add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname=surname, forename=forename,
                                                created_by="test", organisation="661", **fields), now)


def la_administrator(portal, now, **fields):
    return la_person(portal, now, "Evans", "Huw", password=PASSWORD, roles=frozenset({Role.LA_ADMINISTRATOR}),
                     **fields)


def rows(page: str) -> dict[str, str]:
    """School DfES number -> its flags, for each row of the schools table."""
    return dict(re.findall(r'<tr class="govuk-table__row" data-school="(\d+)" data-flags="([^"]*)"', page))


def test_flags_come_from_the_last_run_of_each_workflow():
    def summary(outcome, errors=0):
        return workflow_runs.RunSummary(1, SCHOOL, "staff", datetime.now(UTC), None, outcome, False, RunCounts(),
                                        errors)
    assert provisioning_flags({"staff": summary(WorkflowOutcome.SUCCEEDED)}, stale=False) == ()
    assert provisioning_flags({"staff": summary(WorkflowOutcome.FAILED), "learners": summary(
        WorkflowOutcome.SUCCEEDED, errors=3)}, stale=False) == (Flag.FAILED, Flag.RECORD_ERRORS)
    assert provisioning_flags({"leavers": summary(WorkflowOutcome.HELD)}, stale=True) == (Flag.HELD, Flag.STALE)
    assert provisioning_flags({}, stale=True) == (Flag.STALE,)


def test_an_la_administrator_lands_on_the_las_schools_with_their_provisioning_status(portal, now):
    """Not "Your account does not belong to a school": the LA's three schools, what needs attention
    at each (a failed run and record errors, no run at all), and the way into each school."""
    organisations(portal)
    for workflow in WORKFLOWS:
        run(portal, SCHOOL, workflow, WorkflowOutcome.SUCCEEDED)
    run(portal, OTHER_SCHOOL, "learners", WorkflowOutcome.SUCCEEDED, errors=2)
    failed = run(portal, OTHER_SCHOOL, "staff", WorkflowOutcome.FAILED)
    la_administrator(portal, now)
    page = text(portal.sign_in("EvansH@hwbcymru.net"))
    assert "does not belong to a school" not in page and "School Administrator Dashboard" not in page
    assert "<h1 class=\"govuk-heading-xl\">Cardiff</h1>" in page
    assert rows(page) == {SCHOOL: "", OTHER_SCHOOL: "failed record-errors", THIRD_SCHOOL: "stale"}
    other = page.split(f'data-school="{OTHER_SCHOOL}"')[1].split("</tr>")[0]
    assert "2 record errors" in other and "A workflow failed" in other
    assert f'href="/portal/runs/{failed}"' in other  # the failed run's error log, one click away
    assert "1 school needs attention" not in page and "2 need attention" in page
    assert "Never run" in page.split(f'data-school="{THIRD_SCHOOL}"')[1].split("</tr>")[0]
    # Into a school: its own dashboard, with a way back to the overview.
    school_page = text(portal.open(f"/portal/?school={OTHER_SCHOOL}"))
    assert "Ysgol Arall" in school_page and 'id="workflows"' in school_page and 'id="back-to-overview"' in school_page
    # Only the schools that need attention; a search by name.
    assert set(rows(text(portal.open("/portal/?attention=yes")))) == {OTHER_SCHOOL, THIRD_SCHOOL}
    assert set(rows(text(portal.open("/portal/?q=arall")))) == {OTHER_SCHOOL}
    # another LA's overview does not exist for this administrator.
    assert portal.client.get("/portal/?org=662").status_code == 404


def test_the_overview_counts_the_las_own_accounts_and_links_their_lists(portal, now):
    organisations(portal)
    la_administrator(portal, now)
    la_person(portal, now, "Lloyd", "Cari")
    gone = la_person(portal, now, "Morgan", "Mai")
    store(portal).set_state(gone.id, AccountState.DEACTIVATED, by="test", reason="left", now=now)
    page = text(portal.sign_in("EvansH@hwbcymru.net"))
    accounts = page.split('id="organisation-accounts"')[1].split("</ul>")[0]
    assert "2 active accounts" in accounts and "1 deactivated account" in accounts
    assert 'href="/portal/organisation-users?org=661&amp;active=N"' in accounts


def test_the_overview_warns_of_expiring_la_accounts_and_of_the_administrators_own(portal, now):
    """L-2 for LA accounts: the banner counts those expiring within 8 weeks, the administrator's
    own included and named; the list extends them."""
    organisations(portal)
    today = datetime.now(UTC)
    me = la_administrator(portal, now, expiry=today + timedelta(days=30))
    la_person(portal, now, "Lloyd", "Cari", expiry=today + timedelta(days=10))
    la_person(portal, now, "Rees", "Rhys", expiry=today + timedelta(days=120))
    page = text(portal.sign_in("EvansH@hwbcymru.net"))
    banner = page.split('id="expiring-banner"')[1].split("</div>\n</div>")[0]
    assert 'data-expiring="2"' in banner and "2 non-MIS accounts expire in the next 8 weeks." in banner
    assert "Your own account expires on" in banner
    assert 'href="/portal/expiring?org=661"' in banner
    listed = text(portal.open("/portal/expiring?org=661"))
    assert 'data-username="LloydC"' in listed and 'data-username="EvansH"' in listed
    assert 'data-username="ReesR"' not in listed
    from tests.saml_services import csrf_token
    extended = portal.client.post("/portal/expiring?org=661", data={
        "csrf_token": csrf_token(listed), "account": me.id, "extend_by": "6-months"})
    assert extended.status_code == 303 and extended.headers["Location"] == "/portal/expiring?org=661"
    assert store(portal).get_account(me.id).expiry > today + timedelta(weeks=8)
    after = text(portal.open("/portal/"))
    assert "Your own account expires on" not in after and 'data-expiring="1"' in after
    assert portal.client.get("/portal/expiring?org=662").status_code == 404


def test_a_governor_is_told_their_own_account_expires_soon(portal, now):
    store(portal).add_account(NewAccount(kind=AccountKind.GOVERNOR, surname="Ifan", forename="Gwen",
                                         created_by="test", school=SCHOOL, password=PASSWORD,
                                         expiry=datetime.now(UTC) + timedelta(days=20)), now)
    page = text(portal.sign_in("IfanG@hwbcymru.net"))
    assert "Your own account expires on" in page and "Ask your administrator to extend it" in page


def test_a_rec_administrator_sees_every_school_of_the_region_with_its_la(portal, now):
    organisations(portal)
    store(portal).add_account(NewAccount(kind=AccountKind.REC_NONMIS, surname="Owen", forename="Siân",
                                         created_by="test", organisation="SEW", password=PASSWORD,
                                         roles=frozenset({Role.REC_ADMINISTRATOR})), now)
    page = text(portal.sign_in("OwenS@hwbcymru.net"))
    assert "Regional consortium" in page and "South East Wales" in page
    assert set(rows(page)) == {SCHOOL, OTHER_SCHOOL, THIRD_SCHOOL, FAR_SCHOOL}
    assert "Newport" in page.split(f'data-school="{FAR_SCHOOL}"')[1].split("</tr>")[0]
    cardiff = text(portal.open("/portal/?org=661"))
    assert set(rows(cardiff)) == {SCHOOL, OTHER_SCHOOL, THIRD_SCHOOL}


def test_a_national_administrator_starts_from_all_of_wales_and_narrows_to_one_organisation(portal, now):
    organisations(portal)
    store(portal).add_account(NewAccount(kind=AccountKind.STAKEHOLDER, surname="Cenedl", forename="Gwen",
                                         created_by="test", password=PASSWORD,
                                         roles=frozenset({Role.NATIONAL_ADMINISTRATOR})), now)
    page = text(portal.sign_in("CenedlG@hwbcymru.net"))
    assert "All of Wales" in page and set(rows(page)) == {SCHOOL, OTHER_SCHOOL, THIRD_SCHOOL, FAR_SCHOOL}
    assert 'id="organisation-accounts"' not in page  # no one organisation's accounts to count
    newport = text(portal.open("/portal/?org=662"))
    assert set(rows(newport)) == {FAR_SCHOOL} and 'id="organisation-accounts"' in newport


def test_the_schools_come_a_page_at_a_time_and_the_page_links_keep_the_search(portal, now):
    organisations(portal)
    for n in range(11):  # the fixture's pages hold 10
        store(portal).add_school(School(f"66170{n:02d}", f"Ysgol Prawf {n:02d}", SchoolType.PRIMARY, "661"))
    la_administrator(portal, now)
    portal.sign_in("EvansH@hwbcymru.net")
    first = text(portal.open("/portal/?q=Prawf"))
    assert len(rows(first)) == 10 and "11 schools shown" in first and "Page 1 of 2" in first
    next_link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "q=Prawf" in next_link
    second = text(portal.open(next_link))
    assert list(rows(second)) == ["6617010"]


def test_the_overview_reads_in_welsh(portal, now):
    """S-4: the overview's words, flags and filter in Welsh, as the switch gives them."""
    organisations(portal)
    la_administrator(portal, now)
    portal.sign_in("EvansH@hwbcymru.net")
    page = text(portal.open("/portal/?lang=cy"))
    assert '<html lang="cy"' in page
    for words in ("Trosolwg", "Awdurdod lleol", "Angen sylw", "Dim rhediad llwyddiannus ers 7 diwrnod",
                  "Dim ond ysgolion y mae angen sylw arnynt", "Cyfrifon y tu allan i"):
        assert words in page, words
    listed = text(portal.open("/portal/organisation-users?org=661&active=N"))
    assert "Gweithredol" in listed and "cyfrifon sydd wedi dod i ben neu wedi" in listed
