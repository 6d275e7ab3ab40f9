"""The directory store against a real slapd: lookups, allocation, writes, states."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, date, timedelta

import ldap3
import pytest

from directory import errors
from directory.ldap.sign_in import SignInDirectory
from directory.model import (
    AccountKind,
    AccountState,
    Consent,
    Contact,
    GroupKind,
    NewAccount,
    PasswordStatus,
    Role,
)
from directory.rules.passwords import PasswordPolicyError
from directory.rules.usernames import UsernameError
from directory.rules.vault import PasswordVault
from directory.store import DirectoryConfig, DirectoryStore, Lockout
from tests.integration.conftest import BASE_DN, OTHER_SCHOOL, ROOT_DN, SCHOOL, learner, make_store, staff


@pytest.fixture
def sign_in(store):
    """The IdP's password check (the only one), on the test's directory."""
    directory = SignInDirectory(store.config)
    yield directory
    directory.close()


def test_add_and_find_by_username_any_case_with_or_without_domain(store, now):
    created = store.add_account(learner("Bloggs", "Joe", year_group="3"), now)
    assert created.username == "BloggsJ"
    assert created.mail == "BloggsJ@hwbcymru.net"
    for spelling in ("BloggsJ", "bloggsj", "BLOGGSJ@HWBCYMRU.NET", " bloggsj@hwbcymru.net "):
        found = store.find_by_username(spelling)
        assert found is not None and found.id == created.id
    assert store.find_by_username("BloggsJ@another.domain") is None
    assert store.find_by_username("nobody") is None


def test_numeric_suffixes_when_taken(store, now):
    names = [store.add_account(learner("Bloggs", forename), now).username for forename in ("Joe", "Jane", "Jac")]
    assert names == ["BloggsJ", "BloggsJ2", "BloggsJ3"]


def test_a_former_username_is_an_alias_and_never_reused(store, now):
    joe = store.add_account(learner("Bloggs", "Joe"), now)
    renamed = store.change_username(joe.id, "Jones", "Joe")
    assert renamed.username == "JonesJ" and renamed.aliases == ("BloggsJ",)
    assert renamed.mail == "JonesJ@hwbcymru.net"
    # The old address still resolves to the same account ...
    assert store.find_by_username("bloggsj@hwbcymru.net").id == joe.id
    # ... and is never given to anyone else.
    assert store.add_account(learner("Bloggs", "Jim"), now).username == "BloggsJ2"


def test_the_directory_itself_refuses_a_taken_name(slapd, store, now):
    """The unique overlay, not only Porth's own check, guards uid (case-insensitive)."""
    joe = store.add_account(learner("Bloggs", "Joe"), now)
    conn = ldap3.Connection(slapd.url, ROOT_DN, slapd.root_password, auto_bind=True)
    ok = conn.modify(store.account_dn(store.add_account(learner("Evans", "Ann"), now).id),
                     {"uid": [(ldap3.MODIFY_ADD, ["BLOGGSJ"])]})
    assert not ok and conn.result["description"] == "constraintViolation"
    assert store.find_by_username("bloggsj").id == joe.id


def _allocate_many(args):
    url, password, surname, count = args
    from datetime import datetime

    from directory.rules.vault import PasswordVault
    from directory.store import DirectoryConfig, DirectoryStore

    worker_store = DirectoryStore(
        DirectoryConfig(url=url, base_dn=BASE_DN, bind_dn=ROOT_DN, bind_password=password, mail_domain="hwbcymru.net"),
        PasswordVault(PasswordVault.new_key()),
    )
    now = datetime.now(UTC)
    return [worker_store.add_account(learner(surname, "Joe"), now).username for _ in range(count)]


def test_two_processes_allocating_the_same_name_at_once_never_collide(slapd, store):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_allocate_many, [(slapd.url, slapd.root_password, "Race", 15)] * 2)
    names = results[0] + results[1]
    assert len(names) == 30
    assert {n.casefold() for n in names} == {("RaceJ" if n == 1 else f"RaceJ{n}").casefold() for n in range(1, 31)}
    assert sum(1 for _ in store.iter_accounts(school=SCHOOL)) == 30


def test_name_that_folds_to_nothing_is_refused_before_any_write(store, now):
    with pytest.raises(UsernameError, match="legal surname '!!!'"):
        store.add_account(learner("!!!", "Joe"), now)
    assert list(store.iter_accounts(school=SCHOOL)) == []


def test_a_failed_add_leaves_nothing_half_written(store, now):
    bad = NewAccount(kind=AccountKind.LA_NONMIS, surname="Bloggs", forename="Joe", created_by="test",
                     organisation="Gwynedd ŵ")  # IA5 syntax: the server refuses the whole entry
    with pytest.raises(errors.InvalidEntry):
        store.add_account(bad, now)
    assert store.find_by_username("BloggsJ") is None
    assert list(store.iter_accounts()) == []
    # the name was not consumed either
    assert store.add_account(learner("Bloggs", "Joe"), now).username == "BloggsJ"


def test_find_by_upn_hash_and_multiple_matches(slapd, store, now):
    first = store.add_account(learner("Bloggs", "Joe", upn_hash="a" * 64), now)
    assert store.find_by_upn_hash("a" * 64).id == first.id
    assert store.find_by_upn_hash("b" * 64) is None
    with pytest.raises(errors.UpnHashTaken):  # one learner, one account (the unique overlay, issue 13)
        store.add_account(learner("Bloggs", "Jo", upn_hash="a" * 64, school=OTHER_SCHOOL), now)
    # Twins made before the overlay had a domain on the hash (or with the relax control, which
    # bypasses it) are still found and named, not one of them silently taken.
    twin = store.add_account(learner("Bloggs", "Jo", upn_hash="b" * 64, school=OTHER_SCHOOL), now)
    conn = ldap3.Connection(slapd.url, ROOT_DN, slapd.root_password, auto_bind=True)
    relax = ("1.3.6.1.4.1.4203.666.5.12", True, None)
    assert conn.modify(store.account_dn(twin.id), {"porthUpnHash": [(ldap3.MODIFY_REPLACE, ["a" * 64])]},
                       controls=[relax]), conn.result
    conn.unbind()
    with pytest.raises(errors.MultipleMatches, match="Multiple entries for search"):
        store.find_by_upn_hash("a" * 64)


def test_iter_accounts_by_school_and_kind_across_pages(slapd, store, now):
    small_pages = make_store(slapd, page_size=10)
    for n in range(23):
        small_pages.add_account(learner("Pupil", f"N{chr(65 + n)}"), now)
    for n in range(4):
        small_pages.add_account(staff("Teacher", f"T{chr(65 + n)}", code=f"S{n}"), now)
    small_pages.add_account(learner("Elsewhere", "Ann", school=OTHER_SCHOOL), now)
    learners = list(small_pages.iter_accounts(school=SCHOOL, kind=AccountKind.LEARNER))
    assert len(learners) == 23 and len({a.id for a in learners}) == 23
    assert all(a.kind is AccountKind.LEARNER and a.school == SCHOOL for a in learners)
    assert len(list(small_pages.iter_accounts(school=SCHOOL, kind=AccountKind.STAFF))) == 4
    counts = small_pages.account_counts()
    assert counts[SCHOOL][AccountKind.LEARNER] == 23 and counts[OTHER_SCHOOL][AccountKind.LEARNER] == 1


def test_domain_objects_round_trip_every_field(store, now):
    expiry = now + timedelta(days=30)
    created = store.add_account(
        learner("ap Rhys", "Dafydd", admission_number="000123", year_group="7", registration_group="7B",
                classes=("7B", "Maths 7/2"), consent=Consent.LEGACY, leaving_date=date(2027, 7, 20),
                roles=frozenset(), expiry=expiry),
        now,
    )
    read = store.get_account(created.id)
    assert read.username == "ApRhysD"
    assert (read.surname, read.forename, read.display_name) == ("ap Rhys", "Dafydd", "Dafydd ap Rhys")
    assert (read.year_group, read.registration_group, read.classes) == ("7", "7B", ("7B", "Maths 7/2"))
    assert read.consent is Consent.LEGACY
    assert read.leaving_date == date(2027, 7, 20)
    assert read.expiry == expiry.replace(microsecond=0)
    assert read.state_change.by == "test" and read.state_change.at == now
    assert read.created_at is not None


def test_update_replaces_and_removes_fields(store, now):
    created = store.add_account(learner(year_group="3", registration_group="3A", classes=("3A",)), now)
    store.update_account(created.id, {"year_group": "4", "registration_group": None, "classes": ("4A", "4 Maths")})
    read = store.get_account(created.id)
    assert (read.year_group, read.registration_group, read.classes) == ("4", None, ("4 Maths", "4A"))
    store.update_account(created.id, {"forename": "Joseph"})
    read = store.get_account(created.id)
    assert read.display_name == "Joseph Bloggs" and read.username == "BloggsJ"  # a name change keeps the username
    with pytest.raises(ValueError, match="state"):
        store.update_account(created.id, {"state": "deleted"})


def test_state_changes_record_who_when_why(store, now):
    created = store.add_account(staff(), now)
    later = now + timedelta(hours=2)
    store.set_state(created.id, AccountState.DEACTIVATED, by="BloggsJ", reason="left the school", now=later)
    read = store.get_account(created.id)
    assert read.state is AccountState.DEACTIVATED
    change = read.state_change
    assert (change.by, change.reason, change.at) == ("BloggsJ", "left the school", later)
    store.set_state(created.id, AccountState.ACTIVE, by="BloggsJ", reason="returned", now=later)
    assert store.get_account(created.id).is_active


def test_deletion_erases_the_contact_details_of_a_non_mis_account(slapd, store, now):
    """L-4: a deleted non-MIS account keeps no work address, phone, job title or organisation name."""
    contact = Contact(organisation_name="Cardiff Council", job_title="Officer",
                      work_email="huw.evans@cardiff.gov.uk", phone="029 2087 2000")
    created = store.add_account(NewAccount(kind=AccountKind.LA_NONMIS, surname="Evans", forename="Huw",
                                           created_by="test", organisation="661", contact=contact), now)
    store.delete_account(created.id, by="lifecycle", reason="12 months after leaving", now=now)
    conn = ldap3.Connection(slapd.url, ROOT_DN, slapd.root_password, auto_bind=True)
    conn.search(store.account_dn(created.id), "(objectClass=*)", ldap3.BASE, attributes=["*"])
    left = conn.entries[0].entry_attributes_as_dict
    assert not {"o", "title", "porthWorkEmail", "telephoneNumber"} & set(left), left
    assert "porthContactInfo" not in left["objectClass"]
    assert left["porthAccountState"] == ["deleted"]


def test_deletion_erases_personal_data_but_keeps_the_name_reserved(slapd, store, now):
    created = store.add_account(learner("Bloggs", "Joe", password="Tiger4821"), now)
    store.delete_account(created.id, by="lifecycle", reason="12 months after leaving", now=now)
    assert store.find_by_username("BloggsJ") is None  # deleted accounts are gone for look-ups
    conn = ldap3.Connection(slapd.url, ROOT_DN, slapd.root_password, auto_bind=True)
    conn.search(store.account_dn(created.id), "(objectClass=*)", ldap3.BASE, attributes=["*"])
    left = conn.entries[0].entry_attributes_as_dict
    assert "givenName" not in left and "userPassword" not in left and "porthUpnHash" not in left
    assert left["porthAccountState"] == ["deleted"]
    assert store.add_account(learner("Bloggs", "Jim"), now).username == "BloggsJ2"


def test_password_is_stored_as_an_argon2id_hash_slapd_verifies_and_a_reveal_copy_is_kept(slapd, store, sign_in, now):
    created = store.add_account(learner(password="Tiger4821"), now)
    conn = ldap3.Connection(slapd.url, ROOT_DN, slapd.root_password, auto_bind=True)
    conn.search(store.account_dn(created.id), "(objectClass=*)", ldap3.BASE,
                attributes=["userPassword", "porthPasswordVault"])
    stored = conn.entries[0].entry_attributes_as_dict
    assert stored["userPassword"][0].startswith(b"{ARGON2}$argon2id$v=19$m=4096,t=3,p=1$")
    assert b"Tiger4821" not in stored["userPassword"][0]
    assert "Tiger4821" not in stored["porthPasswordVault"][0]
    assert created.password_status is PasswordStatus.AVAILABLE
    assert store.reveal_password(created.id) == "Tiger4821"
    assert sign_in.authenticate("bloggsj", "Tiger4821").id == created.id
    with pytest.raises(errors.InvalidCredentials):
        sign_in.authenticate("bloggsj", "Tiger4822")


def test_cleartext_written_by_another_ldap_client_is_hashed_by_slapd(slapd, store, sign_in, now):
    created = store.add_account(learner(password="Tiger4821"), now)
    conn = ldap3.Connection(slapd.url, ROOT_DN, slapd.root_password, auto_bind=True)
    conn.modify(store.account_dn(created.id), {"userPassword": [(ldap3.MODIFY_REPLACE, ["Lion5555a"])]})
    conn.search(store.account_dn(created.id), "(objectClass=*)", ldap3.BASE, attributes=["userPassword"])
    stored = conn.entries[0].entry_attributes_as_dict["userPassword"][0]
    assert stored.startswith(b"{ARGON2}$argon2") and b"Lion5555a" not in stored
    assert sign_in.authenticate("bloggsj", "Lion5555a").id == created.id


def test_a_user_set_password_destroys_the_copy(store, sign_in, now):
    created = store.add_account(learner(password="Tiger4821"), now)
    assert store.set_password(created.id, "MyOwnPass99", set_by_user=True) is PasswordStatus.USER_CHANGED
    assert store.get_account(created.id).password_status is PasswordStatus.USER_CHANGED
    assert store.reveal_password(created.id) is None
    assert sign_in.authenticate("BloggsJ", "MyOwnPass99").id == created.id
    store.forget_password_copy(created.id)
    assert store.get_account(created.id).password_status is PasswordStatus.UNAVAILABLE


def test_password_policy_is_checked_before_writing(store, now):
    with pytest.raises(PasswordPolicyError, match="digit"):
        store.add_account(learner(password="Tigertiger"), now)
    assert list(store.iter_accounts()) == []


def test_wrong_password_unknown_user_and_lockout_look_the_same(store, sign_in, now):
    created = store.add_account(learner(password="Tiger4821"), now)
    with pytest.raises(errors.InvalidCredentials) as unknown:
        sign_in.authenticate("NoSuchUser", "Tiger4821")
    with pytest.raises(errors.InvalidCredentials) as wrong:
        sign_in.authenticate("BloggsJ", "Wrong12345")
    assert str(unknown.value) == str(wrong.value)
    for _ in range(10):  # ppolicy: pwdMaxFailure 10, then locked
        with pytest.raises(errors.InvalidCredentials):
            sign_in.authenticate("BloggsJ", "Wrong12345")
    with pytest.raises(errors.InvalidCredentials) as locked:
        sign_in.authenticate("BloggsJ", "Tiger4821")
    assert str(locked.value) == str(wrong.value)
    assert store.get_account(created.id).is_active
    gone = store.add_account(learner("Evans", "Ann", password="Tiger4821"), now)
    store.delete_account(gone.id, by="test", reason="deleted", now=now)
    with pytest.raises(errors.InvalidCredentials) as deleted:
        sign_in.authenticate("EvansA", "Tiger4821")
    assert str(deleted.value) == str(wrong.value)


def test_learner_without_school_or_upn_is_refused(store, now):
    with pytest.raises(errors.InvalidEntry, match="needs a school"):
        store.add_account(NewAccount(kind=AccountKind.LEARNER, surname="A", forename="B", created_by="t",
                                     upn_hash="a" * 64), now)
    with pytest.raises(errors.InvalidEntry, match="UPN"):
        store.add_account(NewAccount(kind=AccountKind.LEARNER, surname="A", forename="B", created_by="t",
                                     school=SCHOOL), now)


def test_roles_schools_organisations_and_groups(store, now):
    champion = store.add_account(staff(roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    assert store.get_account(champion.id).roles == {Role.DIGITAL_CHAMPION}
    assert [s.dfes for s in store.schools()] == [SCHOOL, OTHER_SCHOOL]
    assert store.get_school(SCHOOL).mail_domain == "brawf.ysgol.cymru"
    assert store.get_school("0000000") is None
    group = store.add_group(SCHOOL, GroupKind.REGISTRATION_GROUP, "7B", "Form 7B")
    store.add_group(SCHOOL, GroupKind.CLASS, "7 Maths")
    assert store.groups(SCHOOL, GroupKind.REGISTRATION_GROUP) == [group]
    assert len(store.groups(SCHOOL)) == 2 and store.groups(OTHER_SCHOOL) == []
    with pytest.raises(errors.EntryAlreadyExists):
        store.add_school(store.get_school(SCHOOL))


def test_initialise_is_idempotent_and_creates_the_password_policy(slapd, store):
    assert store.initialise() is False
    conn = ldap3.Connection(slapd.url, ROOT_DN, slapd.root_password, auto_bind=True)
    conn.search(f"cn=default,ou=policies,{BASE_DN}", "(objectClass=pwdPolicy)", ldap3.BASE,
                attributes=["pwdMaxFailure", "pwdLockout", "pwdMinLength"])
    policy = conn.entries[0]
    assert (policy.pwdMaxFailure.value, policy.pwdLockout.value, policy.pwdMinLength.value) == (10, True, 8)


def _lockout_in_slapd(slapd) -> tuple[int, int, int]:
    conn = ldap3.Connection(slapd.url, ROOT_DN, slapd.root_password, auto_bind=True)
    conn.search(f"cn=default,ou=policies,{BASE_DN}", "(objectClass=pwdPolicy)", ldap3.BASE,
                attributes=["pwdMaxFailure", "pwdLockoutDuration", "pwdFailureCountInterval"])
    policy = conn.entries[0]
    return policy.pwdMaxFailure.value, policy.pwdLockoutDuration.value, policy.pwdFailureCountInterval.value


def test_the_lockout_slapd_applies_is_the_configured_one_and_follows_a_change(slapd, store, sign_in, now):
    """S-3: PORTH_IDP__FAILURES_BEFORE_LOCK / LOCK_MINUTES are the one statement of the lockout: the IdP's
    throttle reads them and initialise() writes them into slapd's password policy, an existing one too."""
    assert store.config.lockout == Lockout(failures=10, minutes=15)
    assert _lockout_in_slapd(slapd) == (10, 900, 900)
    stricter = make_store(slapd, lockout=Lockout(failures=2, minutes=30))
    try:
        assert stricter.initialise() is True  # the policy entry existed: brought in line
        assert _lockout_in_slapd(slapd) == (2, 1800, 1800)
        assert stricter.initialise() is False
        stricter.add_account(learner("Bloggs", "Joe", password="Tiger4821"), now)
        for _ in range(2):
            with pytest.raises(errors.InvalidCredentials):
                sign_in.authenticate("BloggsJ", "Wrong12345")
        with pytest.raises(errors.InvalidCredentials):  # locked after two failures, not ten
            sign_in.authenticate("BloggsJ", "Tiger4821")
    finally:
        assert store.initialise() is True
        stricter.close()
    assert _lockout_in_slapd(slapd) == (10, 900, 900)


def test_accounts_for_planning_reads_the_compared_fields_of_a_whole_school(slapd, store, now):
    """The bulk path (python-ldap) returns the same accounts and planner fields as ldap3."""
    from directory.store import PLANNING_FIELDS

    small_pages = make_store(slapd, page_size=10)
    for n in range(25):
        small_pages.add_account(learner("Pupil", f"N{chr(65 + n)}", year_group="7", classes=("7A", "7 Ma1")), now)
    small_pages.add_account(staff(roles=frozenset({Role.DIGITAL_CHAMPION})), now)
    small_pages.add_account(learner("Elsewhere", "Ann", school=OTHER_SCHOOL), now)
    full = {a.id: a for a in store.iter_accounts(school=SCHOOL)}
    bulk = {a.id: a for a in small_pages.accounts_for_planning(SCHOOL)}
    assert set(bulk) == set(full) and len(bulk) == 26
    for account_id, account in bulk.items():
        # The three state_changed_* / state_reason attributes make one StateChange.
        compared = {"state_change" if f.startswith(("state_changed", "state_reason")) else f for f in PLANNING_FIELDS}
        for field in compared:
            assert getattr(account, field) == getattr(full[account_id], field), field
    small_pages.close()


def test_accounts_for_planning_reports_an_unreachable_directory(now):
    from tests.conftest import free_port

    config = DirectoryConfig(
        url=f"ldap://127.0.0.1:{free_port()}", base_dn=BASE_DN, bind_dn=ROOT_DN, bind_password="x",
        mail_domain="hwbcymru.net", timeout_seconds=2)
    with pytest.raises(errors.DirectoryUnavailable, match=r"cannot reach the directory at ldap://127\.0\.0\.1:"):
        DirectoryStore(config, PasswordVault(PasswordVault.new_key())).accounts_for_planning(SCHOOL)


def test_a2_the_next_number_is_remembered_and_a_name_another_process_took_is_never_given(slapd, store, now):
    other_process = make_store(slapd)
    try:
        assert store.add_account(learner("Bloggs", "Joe"), now).username == "BloggsJ"
        assert other_process.add_account(learner("Bloggs", "Jim"), now).username == "BloggsJ2"
        # This store would try BloggsJ2 next; the unique overlay refuses it and the next free one is found.
        assert store.add_account(learner("Bloggs", "Jane"), now).username == "BloggsJ3"
        assert store.add_account(learner("Bloggs", "Jo"), now).username == "BloggsJ4"
    finally:
        other_process.close()
