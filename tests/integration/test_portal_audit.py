"""The audit log page (issue 5 point 10; SPEC R-7, R-5): what administrators see, within their scope."""

from __future__ import annotations

import re
from html import unescape

from directory.model import Role
from operational import audit
from operational.audit import AuditEntry, AuditFilter, events
from tests.integration.conftest import OTHER_SCHOOL, SCHOOL, learner, staff
from tests.integration.idp_fixtures import PASSWORD
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.saml_services import csrf_token


def text(response) -> str:
    return response.get_data(as_text=True)


def actions_listed(page: str) -> list[str]:
    return re.findall(r'<tr class="govuk-table__row" data-action="([^"]+)">', page)


def test_a_champion_sees_their_schools_actions_filtered_but_not_another_schools(portal, now):
    store = portal.porth.runtime.store
    ours = store.add_account(learner("Avery", "Ann", password="Tiger4821"), now)
    theirs = store.add_account(learner("Owen", "Osian", school=OTHER_SCHOOL, password="Tiger4821"), now)
    store.add_account(staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION})),
                      now)
    store.add_account(staff("Prys", "Pat", code="DC2", password=PASSWORD, school=OTHER_SCHOOL,
                            roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    # The other school's champion reveals their learner's password first.
    portal.sign_in("PrysP@hwbcymru.net")
    token = csrf_token(text(portal.open("/portal/")))
    portal.client.post(f"/portal/accounts/{theirs.id}/password", data={"csrf_token": token},
                       headers={"Accept": "application/json"})
    portal.client.post("/portal/sign-out", data={"csrf_token": token})
    portal.sign_in("PriceN@hwbcymru.net")
    token = csrf_token(text(portal.open("/portal/")))
    portal.client.post(f"/portal/accounts/{ours.id}/password", data={"csrf_token": token},
                       headers={"Accept": "application/json"})
    portal.client.post(f"/portal/accounts/{ours.id}/deactivate", data={"csrf_token": token})
    page = text(portal.open("/portal/audit"))
    assert actions_listed(page) == ["deactivate", "show-password"]  # newest first, ours only
    assert "AveryA" in page and "OwenO" not in page and "PriceN" in page
    assert actions_listed(text(portal.open("/portal/audit?action=show-password"))) == ["show-password"]
    assert actions_listed(text(portal.open("/portal/audit?actor=PrysP"))) == []
    assert portal.client.get(f"/portal/audit?school={OTHER_SCHOOL}").status_code == 404
    assert actions_listed(text(portal.open(f"/portal/audit?school={SCHOOL}&from=2000-01-01&to=2000-01-02"))) == []


def test_staff_do_not_see_the_audit_log(portal, now):
    portal.porth.runtime.store.add_account(staff(password=PASSWORD), now)
    portal.sign_in("JonesA@hwbcymru.net")
    assert portal.client.get("/portal/audit").status_code == 403
    assert portal.client.get(f"/portal/audit?school={SCHOOL}").status_code == 403


# -- readable in both languages (issue 16 point 7) -------------------------------------------------
def cells(page: str) -> list[list[str]]:
    """Each row of the log as a person reads it: the cells' text, tags and attributes left out."""
    rows = re.findall(r'<tr class="govuk-table__row" data-action="[^"]+">(.*?)</tr>', page, re.DOTALL)
    return [[" ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split())
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)] for row in rows]


def options(page: str) -> list[str]:
    select = re.search(r'<select class="govuk-select" id="action" name="action">(.*?)</select>', page, re.DOTALL)
    return [unescape(label) for label in re.findall(r"<option[^>]*>([^<]*)</option>", select.group(1))]


def champion_who_revealed_a_password(portal, now):
    store = portal.porth.runtime.store
    ours = store.add_account(learner("Avery", "Ann", password="Tiger4821"), now)
    store.add_account(staff("Price", "Non", code="DC1", password=PASSWORD, roles=frozenset({Role.DIGITAL_CHAMPION})),
                      now)
    portal.sign_in("PriceN@hwbcymru.net")
    token = csrf_token(text(portal.open("/portal/")))
    portal.client.post(f"/portal/accounts/{ours.id}/password", data={"csrf_token": token},
                       headers={"Accept": "application/json"})
    return token


def test_actions_roles_and_outcomes_read_as_words_in_english_and_welsh(portal, now):
    champion_who_revealed_a_password(portal, now)
    [row] = cells(text(portal.open("/portal/audit")))
    assert row[1] == "PriceN Digital champion" and row[2] == "Show password" and row[6] == "Succeeded"
    offered = options(text(portal.open("/portal/audit")))
    assert "Show password" in offered
    # Every action Porth records can be chosen, issue 18's badges and second factors too.
    assert {"Badge sign-in", "Print badge", "Revoke badge", "Second factor used", "Reset second factor"} <= set(offered)
    welsh = text(portal.open("/portal/audit?lang=cy"))
    [row] = cells(welsh)
    assert row[1] == "PriceN Hyrwyddwr digidol" and row[2] == "Dangos cyfrinair" and row[6] == "Llwyddodd"
    assert "Dangos cyfrinair" in options(welsh) and "Lawrlwytho Pob Disgybl" in options(welsh)
    for raw in ("show-password", "digital-champion", "success"):  # never the stored ids
        assert all(raw not in cell for cell in row) and raw not in " ".join(options(welsh))
    # The filter still matches the stored id the option sends.
    assert actions_listed(text(portal.open("/portal/audit?action=show-password"))) == ["show-password"]


def test_a_download_of_all_pupils_is_one_entry_naming_how_many_accounts_it_held(portal, now):
    store = portal.porth.runtime.store
    with_password = [store.add_account(learner(f"Learner{n}", "Lee", password="Tiger4821"), now) for n in range(3)]
    store.add_account(learner("Nopass", "Nia"), now)
    token = champion_who_revealed_a_password(portal, now)
    download = portal.client.post(f"/portal/download/pupils?school={SCHOOL}", data={"csrf_token": token})
    assert download.status_code == 200
    [entry] = [e for _i, e in events(portal.porth.runtime.db, AuditFilter(action="download-pupils"))]
    assert entry.detail["accounts"] == 5 and entry.detail["passwords"] == 4  # Avery's and the three
    # Whose passwords left Porth is still in the entry, not in a row each.
    assert set(entry.detail["revealed"]) >= {a.id for a in with_password}
    assert events(portal.porth.runtime.db, AuditFilter(action="download-credentials")) == []
    page = text(portal.open("/portal/audit"))
    assert actions_listed(page) == ["download-pupils", "show-password"]
    assert cells(page)[0][2] == "Download All Pupils" and "5 accounts, 4 passwords" in cells(page)[0][3]
    assert "5 o gyfrifon, 4 o gyfrineiriau" in cells(text(portal.open("/portal/audit?lang=cy")))[0][3]


def test_entries_written_before_the_words_still_read(portal, now):
    """Rows of older Porths: one per password of a download, and a download's count as `rows`."""
    db = portal.porth.runtime.db
    for action, detail in (("download-credentials", {}), ("download-pupils", {"rows": 2})):
        audit.record(db, AuditEntry(at=now, actor="PriceN", actor_role="digital-champion", action=action,
                                    target_kind="school", target_id=SCHOOL, target_label="Ysgol Brawf",
                                    school=SCHOOL, detail=detail))
    audit.record(db, AuditEntry(at=now, actor="scheduler", action="deactivate", target_kind="learner",
                                target_label="BloggsJ", school=SCHOOL, detail={"reason": "inactive"}))
    champion_who_revealed_a_password(portal, now)
    rows = cells(text(portal.open("/portal/audit?lang=cy")))
    assert [row[2] for row in rows] == ["Dangos cyfrinair", "Dadactifadu", "Lawrlwytho Pob Disgybl",
                                        "Cyfrinair mewn ffeil a lawrlwythwyd"]
    assert rows[1][1] == "scheduler Tasg wedi'i hamserlennu" and "2 o gyfrifon" in rows[2][3]
