"""Welsh everywhere (issue 16 point 8; SPEC S-4, Welsh Language Standards): every page type of the
portal and the sign-in, read in Welsh by each role, holds none of the English words of Porth's own
interface. Names, usernames and what a MIS file held are data, not interface, and are left out
(the test's people have names that are no English UI word; a MIS detail is marked lang="en").
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from html import unescape

from directory.model import AccountKind, NewAccount, Organisation, OrganisationKind, Role
from operational import workflow_runs
from operational.workflow_runs import RecordError, RunCounts
from tests.integration.conftest import SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token
from webui.portal.words import ERROR_NAMES, FIELD_NAMES

# Words of Porth's English interface that a Welsh page never shows (whole words, case as written).
ENGLISH_UI_WORDS = (
    "Dashboard", "Sign out", "Sign in", "Show password", "Search", "Filter", "Succeeded", "Failed", "Learners",
    "Governors", "Password", "Username", "Reset", "Print", "Download", "Details", "View", "Back", "Next",
    "Previous", "Select", "Cancel", "Continue", "Yes", "Consent", "Active", "Deactivate", "Reactivate", "School",
    "Year", "Class", "Group", "Error", "Errors", "Outcome", "Action", "Who", "When", "Target", "Held", "Running",
    "Pending", "Applied", "Never", "Missing", "Temporary", "Invalid", "Duplicate", "Unreadable", "champion",
    "Champion", "Administrator", "administrator", "Licence", "Licences", "Expires", "Created", "Started",
    "Ended", "Record", "Field", "Menu", "Language", "Skip", "Sorry", "Page not found", "Try again", "Go to",
    "Edit", "Promote", "Demote", "Allocate", "Revoke", "Extend", "Stakeholder", "Workflow", "Users", "Profile",
    "Name", "Surname", "Forename", "Status", "From", "Nothing", "Success", "Warning", "Important", "the", "and",
    "of", "your", "you", "with", "not", "account", "accounts", "password", "passwords", "Learner", "Governor",
    "Admission", "Registration", "Provisioning", "Expiry", "Organisation", "Generate", "Update", "Confirm",
    "Withdraw", "Allocated", "Add", "Remove", "Home", "Refused", "Deactivated", "Dual", "Leavers", "legal",
    "admission", "state", "code", "start", "date", "name",
)
WORD_PATTERN = re.compile(r"(?<![\w’'-])(" + "|".join(re.escape(w) for w in ENGLISH_UI_WORDS) + r")(?![\w’'-])")


def readable(page: str) -> str:
    """What a person (or a screen reader) gets of a page: its text and labels, not its markup,
    without what is marked as English on purpose (the switch's "English", a MIS file's detail)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL)
    page = re.sub(r"<(a|span|p|td|li)\b[^>]*\blang=\"en\"[^>]*>.*?</\1>", " ", page, flags=re.DOTALL)
    labels = re.findall(r'\b(?:aria-label|title|placeholder|alt)="([^"]*)"', page)
    values = re.findall(r'<input[^>]*type="(?:submit|button)"[^>]*value="([^"]*)"', page)
    return unescape(" ".join([re.sub(r"<[^>]+>", " ", page), *labels, *values]))


def english_left(page: str) -> list[str]:
    return sorted(set(WORD_PATTERN.findall(readable(page))))


def text(response) -> str:
    return response.get_data(as_text=True)


def walk(portal, paths: list[str]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        answer = portal.client.get(path)
        assert answer.status_code in (200, 403, 404), (path, answer.status_code)
        left = english_left(text(answer))
        if left:
            found[path] = left
    return found


def test_a_digital_champion_reads_every_page_type_in_welsh(portal, now):
    store = portal.porth.runtime.store
    pupil = store.add_account(learner("Bevan", "Bethan", password="Teigr4821", year_group="5",
                                      registration_group="5B"), now)
    store.add_account(learner("Cadwgan", "Cai", year_group="5", registration_group="5B"), now)
    teacher = store.add_account(staff("Dafis", "Dilys", code="S002", password=PASSWORD), now)
    # Expiring from the real today, the portal's.
    store.add_account(NewAccount(kind=AccountKind.GOVERNOR, surname="Ifan", forename="Gwen", created_by="test",
                                 school=SCHOOL, expiry=datetime.now(UTC) + timedelta(days=20)), now)
    store.add_account(staff("Prys", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION})),
                      now)
    db = portal.porth.runtime.db
    run_id = workflow_runs.start_run(db, SCHOOL, "learners", now - timedelta(hours=2))
    workflow_runs.finish_run(db, run_id, "held", now - timedelta(hours=1), RunCounts(created=3),
                             [RecordError(f"A{n:04d}", name, field) for n, (name, field) in
                              enumerate(zip(ERROR_NAMES, itertools.cycle(FIELD_NAMES)))])
    portal.sign_in("PrysN@hwbcymru.net")
    portal.client.get("/portal/?lang=cy")
    token = csrf_token(text(portal.client.get("/portal/")))
    portal.client.post(f"/portal/accounts/{pupil.id}/password", data={"csrf_token": token},
                       headers={"Accept": "application/json"})
    portal.client.post(f"/portal/accounts/{teacher.id}/deactivate", data={"csrf_token": token})
    found = walk(portal, [
        "/portal/", "/portal/users/learners", "/portal/users/staff", "/portal/users/governors",
        "/portal/users/non-mis", f"/portal/accounts/{pupil.id}", f"/portal/accounts/{pupil.id}/edit",
        f"/portal/accounts/{pupil.id}/password/reset", f"/portal/accounts/{pupil.id}/deactivate",
        f"/portal/accounts/{teacher.id}/reactivate", f"/portal/accounts/{pupil.id}/consent/confirm",
        "/portal/users/learners/group-reset", "/portal/users/learners/print-group",
        f"/portal/download/pupils?school={SCHOOL}", "/portal/champions", "/portal/licences", "/portal/audit",
        f"/portal/runs/{run_id}", "/portal/profile", "/portal/expiring", "/portal/users/governors/new",
        "/portal/users/non-mis/new", "/portal/no-such-page", "/portal/organisation-users",
    ])
    assert not found, f"English left on Welsh pages: {found}"


def test_a_local_authority_administrator_and_a_signed_out_visitor_read_welsh_too(portal, now):
    store = portal.porth.runtime.store
    store.add_organisation(Organisation("661", "Caerdydd", OrganisationKind.LOCAL_AUTHORITY))
    store.add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname="Evans", forename="Huw", created_by="test",
                                 organisation="661", password=PASSWORD, roles=frozenset({Role.LA_ADMINISTRATOR})),
                      now)
    portal.client.get("/?lang=cy")
    signed_out = walk(portal, ["/", "/no-such-page", "/idp/problem", "/idp/sso/init?service=nowhere",
                               "/idp/logout"])
    sign_in_form = english_left(text(portal.open("/portal/")))
    portal.sign_in("EvansH@hwbcymru.net")
    found = walk(portal, ["/portal/", f"/portal/?school={SCHOOL}", f"/portal/users/learners?school={SCHOOL}",
                          "/portal/administrators", "/portal/organisation-users", "/portal/organisation-users/new",
                          "/portal/audit", "/portal/expiring", "/portal/profile"])
    assert not signed_out and not sign_in_form and not found, (signed_out, sign_in_form, found)


def test_the_word_check_finds_english_where_there_is_some():
    """The check itself: it sees interface words in text and labels, and not in names or markup."""
    assert english_left('<p>Show password</p><a aria-label="Menu" href="/portal/users/learners">x</a>') == [
        "Menu", "Show password"]
    assert english_left('<p class="Search">Dangos cyfrinair</p><span lang="en">Missing UPN</span>') == []
