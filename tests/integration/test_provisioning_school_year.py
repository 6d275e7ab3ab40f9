"""Issue 13 as a local authority lives it, on a real slapd: the school year's calendar, a small
school's truncated export, an administrator's decision, and UPNs typed into the wrong columns.

Dates are the runs' own (provision_school takes `now`), so the August rollover runs on the
calendar it belongs to whatever day the suite runs.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from connectors.mis import porth_csv
from connectors.provisioning.service import ProvisioningOutcome, finish_last_pass, provision_school
from directory.model import AccountKind, AccountState
from operational import workflow_runs
from tests.conftest import run_porth
from tests.integration.conftest import BASE_DN, OTHER_SCHOOL, ROOT_DN, SCHOOL
from tests.integration.test_provision_cli import env  # noqa: F401 - the porth command's environment fixture
from tests.integration.test_provisioning import KEY, LEARNER_HEADER, STAFF_HEADER, upn

PRIMARY, SECONDARY = SCHOOL, OTHER_SCHOOL
JULY = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
SEPTEMBER = datetime(2026, 9, 3, 2, 0, tzinfo=UTC)  # the first night of the new school year


def _row(n: int, school: str, year: str, *, admitted: str = "2020-09-01", left: str = "", reg: str | None = None,
         surname: str = "Jones") -> str:
    return ",".join([school, f"{school[-3:]}{n:04d}", upn(n), surname, f"Learner{n}", admitted, left, year,
                     reg or f"{year}A", ""])


def _export(rows: list[str], school: str):
    data = ("\n".join([LEARNER_HEADER, *rows]) + "\n").encode()
    [export] = porth_csv.parse({"learners.csv": data}, KEY, default_school=school)
    return export


def _primary(day: str) -> list[str]:
    """A 180-pupil primary, 30 a year in Years 1 to 6 (learners 31-210, Year 6 = 181-210)."""
    year = {n: 1 + (n - 31) // 30 for n in range(31, 211)}
    if day == "july":
        return [_row(n, PRIMARY, str(y)) for n, y in year.items()]
    # September: Year 6 is listed with its leaving date, everyone else is a year up, and 30
    # Reception children were admitted on 2 September.
    moved_up = [_row(n, PRIMARY, str(y + 1)) for n, y in year.items() if y < 6]
    leavers = [_row(n, PRIMARY, "6", left="2026-07-22") for n, y in year.items() if y == 6]
    reception = [_row(n, PRIMARY, "R", admitted="2026-09-02") for n in range(1, 31)]
    return moved_up + leavers + reception


def _secondary(day: str) -> list[str]:
    """A secondary of 150 (Years 7-11, 500-649); in September Year 11 leaves and the primary's
    Year 6 arrives as its Year 7 (a transfer by UPN, M-6)."""
    current = [_row(n, SECONDARY, str(7 + (n - 500) // 30)) for n in range(500, 650)]
    if day == "july":
        return current
    moved_up = [_row(n, SECONDARY, str(8 + (n - 500) // 30)) for n in range(500, 620)]
    year_11_leavers = [_row(n, SECONDARY, "11", left="2026-06-26") for n in range(620, 650)]
    year_7 = [_row(n, SECONDARY, "7", admitted="2026-09-02", reg="7T") for n in range(181, 211)]
    return moved_up + year_11_leavers + year_7


def _active(store, school):
    return {a.admission_number: a for a in store.iter_accounts(school=school) if a.is_active}


def test_the_august_rollover_of_a_primary_and_its_secondary_applies_without_a_hold(store, db):
    for school, rows in ((PRIMARY, _primary("july")), (SECONDARY, _secondary("july"))):
        assert provision_school(store, db, _export(rows, school), JULY).outcome is ProvisioningOutcome.SUCCEEDED
    before = {a.upn_hash: a for a in store.iter_accounts(school=PRIMARY)}

    # The secondary's export comes first tonight: its Year 7 wait for the primary to release them,
    # and the last pass moves them in the same run (M-6), as `porth provision` does.
    secondary = provision_school(store, db, _export(_secondary("september"), SECONDARY), SEPTEMBER,
                                 defer_last_pass=True)
    primary = provision_school(store, db, _export(_primary("september"), PRIMARY), SEPTEMBER)
    assert primary.outcome is ProvisioningOutcome.SUCCEEDED, primary.message
    assert secondary.outcome is ProvisioningOutcome.SUCCEEDED, secondary.message
    secondary = finish_last_pass(store, db, secondary)
    assert secondary.outcome is ProvisioningOutcome.SUCCEEDED, secondary.message
    assert not [e for e in primary.errors + secondary.errors if e.error == "Pending transfer"]

    primary_now, secondary_now = _active(store, PRIMARY), _active(store, SECONDARY)
    assert len(primary_now) == 180  # 150 moved up + 30 new Reception
    assert sum(1 for a in primary_now.values() if a.year_group == "R") == 30
    assert sum(1 for a in primary_now.values() if a.year_group == "6") == 30  # last year's Year 5
    assert sum(1 for a in primary_now.values() if a.year_group == "1") == 0  # nobody stayed behind
    assert len(secondary_now) == 150  # 120 moved up + 30 arrived
    arrived = [a for a in secondary_now.values() if a.year_group == "7"]
    assert len(arrived) == 30
    for account in arrived:  # the same account, moved: same username and mail (M-6)
        old = before[account.upn_hash]
        assert (account.id, account.username, account.mail) == (old.id, old.username, old.mail)
        assert account.registration_group == "7T"
    gone = [a for a in store.iter_accounts(school=SECONDARY) if not a.is_active]
    assert len(gone) == 30 and all(a.year_group == "11" for a in gone)  # Year 11 left


def test_a_20_account_school_losing_15_is_held_and_losing_3_is_not(store, db):
    rows = [_row(n, PRIMARY, "3") for n in range(1, 21)]
    provision_school(store, db, _export(rows, PRIMARY), JULY)
    truncated = provision_school(store, db, _export(rows[:5], PRIMARY), SEPTEMBER)
    assert truncated.outcome is ProvisioningOutcome.HELD
    assert "15" in (truncated.message or "") and len(_active(store, PRIMARY)) == 20  # nothing applied

    three_left = provision_school(store, db, _export(rows[3:], PRIMARY), SEPTEMBER)
    assert three_left.outcome is ProvisioningOutcome.SUCCEEDED
    assert len(_active(store, PRIMARY)) == 17


def test_an_account_an_administrator_deactivated_stays_deactivated_after_mis_runs(store, db):
    rows = [_row(n, PRIMARY, "4") for n in range(1, 4)]
    provision_school(store, db, _export(rows, PRIMARY), JULY)
    target = _active(store, PRIMARY)[f"{PRIMARY[-3:]}0002"]
    store.set_state(target.id, AccountState.DEACTIVATED, "PriceN", "safeguarding", JULY)

    for night in (SEPTEMBER, SEPTEMBER.replace(day=4)):
        outcome = provision_school(store, db, _export(rows, PRIMARY), night)
        assert outcome.outcome is ProvisioningOutcome.SUCCEEDED
        account = store.get_account(target.id)
        assert account is not None and account.state is AccountState.DEACTIVATED
        assert account.state_change is not None and account.state_change.by == "PriceN"
    log = workflow_runs.get_run(db, workflow_runs.last_runs(db, PRIMARY)["learners"].id)
    assert log is not None
    [why] = [e for e in log.errors if e.record == target.admission_number]
    assert why.error == "Deactivated by an administrator"
    assert "PriceN" in (why.detail or "") and "not reactivated from the MIS" in (why.detail or "")


def test_a_upn_in_every_wrong_column_is_refused_and_stored_nowhere(env, slapd, store, tmp_path):
    """M-3: after a run with UPNs typed into every other column, no UPN is in LDAP, in the
    command's output or logs, or in the operational store."""
    wrong = {name: upn(900 + i) for i, name in enumerate(
        ("admission", "surname", "forename", "preferred", "staff code", "staff name", "oneroster id"))}
    right = [upn(n) for n in range(1, 6)]
    school = tmp_path / "exports" / "csv"
    school.mkdir(parents=True)
    (school / "learners.csv").write_text("\n".join([
        LEARNER_HEADER + ",preferred_forename",
        f"{SCHOOL},{wrong['admission']},{right[0]},Jones,Ann,2024-09-02,,7,7A,,",
        f"{SCHOOL},000002,{right[1]},{wrong['surname']},Ann,2024-09-02,,7,7A,,",
        f"{SCHOOL},000003,{right[2]},Jones,{wrong['forename']},2024-09-02,,7,7A,,",
        f"{SCHOOL},000004,{right[3]},Jones,Ann,2024-09-02,,7,7A,,{wrong['preferred']}",
        f"{SCHOOL},000005,{right[4]},Jones,Ann,2024-09-02,,7,7A,,",
    ]) + "\n", encoding="utf-8")
    (school / "staff.csv").write_text("\n".join([
        STAFF_HEADER, f"{SCHOOL},{wrong['staff code']},Evans,Ann,2020-09-01,",
        f"{SCHOOL},S2,{wrong['staff name']},Ann,2020-09-01,", f"{SCHOOL},S3,Evans,Bet,2020-09-01,",
    ]) + "\n", encoding="utf-8")
    roster = tmp_path / "exports" / "oneroster"
    roster.mkdir()
    (roster / "orgs.csv").write_text("sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
                                     f"org1,active,2026-09-01,Ysgol Arall,school,{OTHER_SCHOOL},\n")
    (roster / "users.csv").write_text(
        "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,"
        "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n"
        f"{wrong['oneroster id']},active,2026-09-01,true,org1,student,x,,Gwen,Llŵyd,,{upn(950)},,,,,07,\n"
        f"u2,active,2026-09-01,true,org1,student,y,,Huw,Llŵyd,,{upn(951)},,,,,07,\n")
    (roster / "enrollments.csv").write_text(
        "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,"
        "endDate\n"
        f"e1,active,2026-09-01,c1,org1,{wrong['oneroster id']},student,false,2024-09-02,\n"
        "e2,active,2026-09-01,c1,org1,u2,student,false,2024-09-02,\n")

    result = run_porth(["provision", "--jobs", "2", str(tmp_path / "exports")], env)
    assert result.returncode == 0, result.stdout + result.stderr
    accounts = list(store.iter_accounts())
    # One learner and one staff member are whole at the CSV school, one learner at the OneRoster one.
    assert sorted((a.school, a.kind) for a in accounts) == sorted([
        (SCHOOL, AccountKind.LEARNER), (SCHOOL, AccountKind.STAFF), (OTHER_SCHOOL, AccountKind.LEARNER)])
    # Everything the directory holds, read as its administrator; everything Porth wrote to disk.
    dump = "\n".join(str(attributes) for _dn, attributes in _everything(slapd))
    output = result.stdout + result.stderr
    var = tmp_path / "var"
    files = b"".join(p.read_bytes() for p in var.rglob("*") if p.is_file())
    rows = _all_rows(next(var.rglob("*.sqlite3")))
    database = "\n".join(str(row) for row in rows)
    # Each refused record is in its school's log, named by field: "UPN in another field".
    assert sum(1 for row in rows if "UPN in another field" in row) == len(wrong)
    for value in [*wrong.values(), *right, upn(950), upn(951)]:
        for where, text in (("LDAP", dump), ("output", output), ("operational store", database)):
            assert value not in text and value.lower() not in text.lower(), (value, where)
        assert value.encode() not in files, (value, "var/")


def _everything(slapd):
    import ldap

    conn = ldap.initialize(slapd.url)
    conn.simple_bind_s(ROOT_DN, slapd.root_password)
    try:
        return conn.search_s(BASE_DN, ldap.SCOPE_SUBTREE, "(objectClass=*)", ["*", "+"])
    finally:
        conn.unbind_s()


def _all_rows(path):
    with sqlite3.connect(path) as conn:
        tables = [name for (name,) in conn.execute("select name from sqlite_master where type = 'table'")]
        return [row for table in tables for row in conn.execute(f'select * from "{table}"')]  # noqa: S608 - own names
