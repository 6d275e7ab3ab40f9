"""The portal's heavy pages against the raw slapd limit, measured in the same run.

    .venv/bin/python bench/portal.py [--learners 2000] [--group 300] [--repeat 20]

On a scratch durable private slapd holding one school of `--learners` learners
(with Porth's Argon2 hashes and reveal copies), a digital champion signed in
through the IdP (Flask test client, in process) times:
  (1) View Learners, first page (and a search, a registration-group filter, the
      last page), against the raw read of the school's learner entries with
      python-ldap, and against the raw read of one sorted page (slapd's server-side
      sort and virtual list view, what the page asks for since issue 16); the same
      page read whole as before, as on a directory without the sssvlv overlay;
  (2) resetting the passwords of a `--group`-learner registration group, against
      the raw LDAP work: the same number of Argon2 hashes and modifies of
      userPassword, status and reveal copy with python-ldap;
  (3) the all-pupils CSV (every learner, passwords revealed and audited),
      against the raw read of the same entries with their reveal copies.
Not a test: record the figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from directory.ldap import filters  # noqa: E402
from directory.ldap.accounts import REGISTER_SORT_KEYS  # noqa: E402
from directory.ldap.connections import python_ldap_connection  # noqa: E402
from directory.ldap.mapping import ACCOUNTS, LIST_FIELDS, A, account_attributes  # noqa: E402
from directory.ldap.passwords import ldap_password_hash  # noqa: E402
from directory.model import AccountKind, GroupKind, NewAccount, Role, School, SchoolType  # noqa: E402
from directory.rules.passwords import generate_learner_password  # noqa: E402
from directory.slapd import PrivateSlapd  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.integration.conftest import BASE_DN, ROOT_DN  # noqa: E402
from tests.integration.idp_fixtures import make_porth  # noqa: E402
from tests.integration.portal_fixtures import PortalBrowser  # noqa: E402
from tests.saml_services import csrf_token  # noqa: E402

SCHOOL = "6617777"
PASSWORD = "Tiger4821"


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_of(repeat: int, action) -> float:
    return statistics.median(timed(action) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--group", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="porth-bench-portal-") as scratch_name:
        scratch = Path(scratch_name)
        slapd = PrivateSlapd(scratch / "slapd", "127.0.0.1", free_port(), BASE_DN, ROOT_DN,
                             secrets.token_urlsafe(12), no_sync=False)
        slapd.start()
        try:
            porth = make_porth(slapd, scratch / "porth", portal={"page_size": 50})
            store = porth.runtime.store
            store.initialise()
            store.add_school(School(SCHOOL, "Ysgol Fawr", SchoolType.SECONDARY, "661"))
            groups = [f"{year}{letter}" for year in range(7, 14) for letter in "ABCDEFGH"]
            store.add_group(SCHOOL, GroupKind.REGISTRATION_GROUP, "7X")
            for code in groups:
                store.add_group(SCHOOL, GroupKind.REGISTRATION_GROUP, code)
            started = time.perf_counter()
            for n in range(args.learners):
                group = "7X" if n < args.group else groups[n % len(groups)]
                store.add_account(NewAccount(kind=AccountKind.LEARNER, surname=f"Learner{chr(65 + n % 26)}",
                                             forename=f"Dai{n}", created_by="bench", school=SCHOOL,
                                             upn_hash=secrets.token_hex(32), year_group=group[:-1],
                                             registration_group=group, admission_number=f"{n:06d}",
                                             password=generate_learner_password()), now)
            print(f"set-up: {args.learners} learners in {time.perf_counter() - started:.0f} s")
            store.add_account(NewAccount(kind=AccountKind.STAFF, surname="Price", forename="Non", created_by="bench",
                                         school=SCHOOL, staff_code="DC1", password=PASSWORD,
                                         roles=frozenset({Role.DIGITAL_CHAMPION})), now)
            browser = PortalBrowser(porth)
            browser.sign_in("PriceN@hwbcymru.net")
            client = browser.client
            raw = python_ldap_connection(store.config, 60)
            import ldap

            learner_filter = filters.all_of(ACCOUNTS, filters.equals(A["school"], SCHOOL),
                                            filters.equals(A["kind"], "learner"))

            def raw_read(attributes):
                return raw.search_s(store.people_dn, ldap.SCOPE_ONELEVEL, learner_filter, attributes)

            read_attributes = None  # every user attribute
            raw_list = median_of(args.repeat, lambda: raw_read(read_attributes))

            def view(path):
                answer = client.get(path)
                assert answer.status_code == 200, answer.status_code

            from ldap.controls.sss import SSSRequestControl
            from ldap.controls.vlv import VLVRequestControl

            def raw_sorted_page():
                # What View Learners asks slapd for: 50 entries in register order and the count,
                # the list's fields only; a new connection each time, so no kept sort piles up.
                conn = python_ldap_connection(store.config, 60)
                controls = [SSSRequestControl(True, REGISTER_SORT_KEYS),
                            VLVRequestControl(True, before_count=0, after_count=49, offset=1, content_count=0)]
                conn.result3(conn.search_ext(store.people_dn, ldap.SCOPE_ONELEVEL, learner_filter,
                                             account_attributes(LIST_FIELDS), serverctrls=controls))
                conn.unbind_s()
            raw_page = median_of(args.repeat, raw_sorted_page)

            from directory.model import AccountState
            from directory.store import AccountQuery

            listed = AccountQuery(school=SCHOOL, kinds=(AccountKind.LEARNER,), states=(AccountState.ACTIVE,),
                                  fields=(*LIST_FIELDS, "subsidiary_groups"))  # what View Learners asks for
            page_read = median_of(args.repeat, lambda: store.find_page(listed, 1, 50))
            first_page = median_of(args.repeat, lambda: view("/portal/users/learners"))
            search = median_of(args.repeat, lambda: view("/portal/users/learners?q=LearnerQ"))
            filtered = median_of(args.repeat, lambda: view("/portal/users/learners?reg=9C"))
            last_page = median_of(args.repeat, lambda: view(f"/portal/users/learners?page={args.learners // 50}"))
            # The same page on a directory that cannot sort (Porth's fallback, and every list before
            # issue 16): the whole list read, sorted and cut in Porth.
            store._ldap._sorted_windows_offered = False
            whole_read = median_of(args.repeat, lambda: view("/portal/users/learners"))
            store._ldap._sorted_windows_offered = None

            token = csrf_token(client.get("/portal/users/learners").get_data(as_text=True))
            reset = timed(lambda: client.post("/portal/users/learners/group-reset",
                                              data={"csrf_token": token, "group": "reg:7X", "confirmed": "yes"}))
            group_filter = learner_filter.replace(")(", f")({A['registration_group']}=7X)(", 1)
            targets = [dn for dn, _ in raw.search_s(store.people_dn, ldap.SCOPE_ONELEVEL, group_filter, ["1.1"])]
            assert len(targets) == args.group

            def raw_reset():
                for dn in targets:
                    raw.modify_s(dn, [(ldap.MOD_REPLACE, A["password"], ldap_password_hash("Otter1234").encode()),
                                      (ldap.MOD_REPLACE, A["password_status"], b"available"),
                                      (ldap.MOD_REPLACE, A["password_vault"], store.vault.seal("Otter1234").encode())])
            raw_reset_time = timed(raw_reset)

            csv_time = median_of(max(3, args.repeat // 4), lambda: client.post(
                f"/portal/download/pupils?school={SCHOOL}", data={"csrf_token": token}))
            download = client.post(f"/portal/download/pupils?school={SCHOOL}", data={"csrf_token": token})
            rows = download.get_data(as_text=True).count("\r\n") - 1
            assert rows == args.learners, rows

            def raw_csv():
                for _dn, attributes in raw_read(None):
                    store.vault.open(attributes[A["password_vault"]][0].decode())
            raw_csv_time = median_of(max(3, args.repeat // 4), raw_csv)
            raw.unbind_s()
        finally:
            slapd.stop()
    n, g = args.learners, args.group
    print(f"\nOne school of {n} learners, durable slapd, medians of {args.repeat} runs:")
    print(f"  raw read of the school's learner entries (python-ldap)   {raw_list * 1000:7.1f} ms")
    print(f"  raw read of one sorted page of 50 (SSS + VLV, new conn)  {raw_page * 1000:7.1f} ms")
    print(f"  Porth's read of that page (DirectoryStore.find_page)     {page_read * 1000:7.1f} ms"
          f"   page read / raw read of the school {page_read / raw_list:5.0%}")
    print(f"  (1) View Learners, first page of 50                      {first_page * 1000:7.1f} ms"
          f"   page / raw read of the school {first_page / raw_list:5.0%}"
          f"   raw sorted page / porth {raw_page / first_page:5.0%}")
    print(f"      ... read whole and sorted in Porth (no sssvlv)       {whole_read * 1000:7.1f} ms"
          f"   page / raw read of the school {whole_read / raw_list:5.0%}")
    print(f"      ... a search (surname)                               {search * 1000:7.1f} ms")
    print(f"      ... a registration-group filter                      {filtered * 1000:7.1f} ms")
    print(f"      ... the last page                                    {last_page * 1000:7.1f} ms")
    print(f"  raw reset of {g} passwords (Argon2 + modify)             {raw_reset_time:7.2f} s")
    print(f"  (2) group reset of {g} learners                          {reset:7.2f} s"
          f"   ratio raw/porth {raw_reset_time / reset:5.0%}")
    print(f"  raw read of {n} entries with reveal copies decrypted     {raw_csv_time * 1000:7.1f} ms")
    print(f"  (3) all-pupils CSV ({n} rows, passwords audited)         {csv_time * 1000:7.1f} ms"
          f"   ratio raw/porth {raw_csv_time / csv_time:5.0%}")


if __name__ == "__main__":
    main()
