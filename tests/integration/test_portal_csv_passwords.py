"""Issue 15 point 6, the CSV part (SPEC A-3, P-2): the download holds every password exactly, and no cell a
spreadsheet would run as a formula (OWASP CSV Injection: = + - @ tab CR first).

On main a typed password `=Daffodil2024` was accepted and then written as `'=Daffodil2024`: the slip in the
spreadsheet was not the password. Now the policy refuses a typed password starting like a formula, the
generators never make one, so the password column is written as it is; names are still made inert."""

from __future__ import annotations

import csv
import io
import random

import pytest

from directory.rules.passwords import generate_learner_password, generate_password, policy_problems
from tests.integration.conftest import SCHOOL, learner
from tests.integration.portal_fixtures import portal  # noqa: F401 (fixture)
from tests.integration.test_portal_manage import add, as_champion, post, store, text

FORMULA_FIRST_CHARACTERS = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV Injection


def download(portal) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text(post(portal, f"/portal/download/pupils?school={SCHOOL}"))
                                       .lstrip("\ufeff"))))


@pytest.mark.parametrize("first", ["=", "+", "-", "@"])
def test_a_typed_password_starting_like_a_formula_is_refused_in_the_form(portal, now, first):
    pupil = add(portal, learner("Avery", "Ann"), now)
    as_champion(portal, now)
    path = f"/portal/accounts/{pupil.id}/password/reset"
    refused = post(portal, path, {"password": f"{first}Daffodil2024", "update": "yes"}, page=path)
    assert refused.status_code == 400 and "must not start with = + - or @" in text(refused)
    assert store(portal).reveal_password(pupil.id) != f"{first}Daffodil2024"


def test_the_download_holds_each_password_exactly_and_no_cell_starts_like_a_formula(portal, now):
    typed = add(portal, learner("Avery", "Ann", admission_number="A001"), now)
    generated = add(portal, learner("Bevan", "Ben", admission_number="A002"), now)
    for n, surname in enumerate(["=HYPERLINK(\"http://x\")", "+Evans", "-Jones", "@Ifan"], start=3):
        add(portal, learner(surname, "Cai", admission_number=f"A00{n}", password=f"Tiger48{n}1"), now)
    as_champion(portal, now)
    path = f"/portal/accounts/{typed.id}/password/reset"
    assert post(portal, path, {"password": "=Daffodil2024", "update": "yes"}, page=path).status_code == 400
    assert post(portal, path, {"password": "Daffodil=2024", "update": "yes"}, page=path).status_code == 303
    path = f"/portal/accounts/{generated.id}/password/reset"
    shown = text(post(portal, path, {"generate": "password"}, page=path))
    new = shown.split('name="password" type="text" value="', 1)[1].split('"', 1)[0]
    assert post(portal, path, {"password": new, "update": "yes"}, page=path).status_code == 303

    rows = download(portal)
    by_admission = {row[-1]: row for row in rows[1:]}
    assert by_admission["A001"][3] == "Daffodil=2024" == store(portal).reveal_password(typed.id)
    assert by_admission["A002"][3] == new == store(portal).reveal_password(generated.id)
    accounts = {a.mail: a for a in store(portal).iter_accounts(school=SCHOOL)}
    for row in rows[1:]:
        assert row[3] == store(portal).reveal_password(accounts[row[2]].id)  # every one exactly
        for cell in row:
            assert not cell.startswith(FORMULA_FIRST_CHARACTERS) or cell == "-", row
    assert {row[1] for row in rows[1:]} >= {"'=HYPERLINK(\"http://x\")", "'+Evans", "'-Jones", "'@Ifan"}


def test_the_generators_never_start_a_password_like_a_formula():
    rng = random.Random(15)
    for _ in range(5000):
        for password in (generate_password(rng), generate_learner_password(rng)):
            assert not password.startswith(FORMULA_FIRST_CHARACTERS) and policy_problems(password) == []


def test_a_reveal_copy_from_before_the_policy_is_never_written_changed():
    """A password stored before the policy refused `=` first cannot be both exact and safe in a cell:
    the cell says to use Show password instead of holding a changed password."""
    from webui.portal.credentials import UNSAFE_PASSWORD_CELL, csv_cell, password_cell

    assert password_cell("=Legacy2024") == UNSAFE_PASSWORD_CELL
    assert password_cell("Legacy=2024") == "Legacy=2024"
    assert csv_cell("=Bevan") == "'=Bevan" and csv_cell("-") == "-"
