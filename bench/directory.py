"""Directory store speed against the raw slapd limit, measured in the same run.

    .venv/bin/python bench/directory.py [--accounts N] [--no-sync]

Starts its own private slapd in a temporary folder (durable commits unless
--no-sync), then for each operation measures the raw rate with plain ldap3
calls (the limit: no Porth code in the way) and Porth's store doing the same
job with its rules (username allocation, reveal copy, mapping to domain
objects), and prints both rates and their ratio. Not a test: figures go in
bench/README.md.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import ldap3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from directory.ldap import filters
from directory.ldap.mapping import ACCOUNT_OBJECT_CLASSES, A, account_attributes
from directory.ldap.sign_in import SignInDirectory
from directory.model import AccountKind, NewAccount, School, SchoolType
from directory.rules.vault import PasswordVault
from directory.slapd import PrivateSlapd
from directory.store import DirectoryConfig, DirectoryStore
from tests.conftest import free_port

BASE = "dc=porth-bench"
ROOT_DN = f"cn=porth,{BASE}"
SCHOOL = "6619999"
SURNAMES = ["Jones", "Davies", "Williams", "Evans", "Thomas", "Roberts", "Hughes", "Lewis"]


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def timed(fn, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return rate(count, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=600)
    parser.add_argument("--binds", type=int, default=200)
    parser.add_argument("--no-sync", action="store_true", help="olcDbNoSync: skip fsync per commit")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        password = secrets.token_urlsafe(16)
        slapd = PrivateSlapd(Path(folder), "127.0.0.1", free_port(), BASE, ROOT_DN, password, no_sync=args.no_sync)
        slapd.start()
        try:
            run(slapd, password, args)
        finally:
            slapd.stop()


def run(slapd: PrivateSlapd, password: str, args) -> None:
    store = DirectoryStore(
        DirectoryConfig(url=slapd.url, base_dn=BASE, bind_dn=ROOT_DN, bind_password=password,
                        mail_domain="hwbcymru.net", pool_size=1),
        PasswordVault(PasswordVault.new_key()),
    )
    store.initialise()
    store.add_school(School(SCHOOL, "Bench", SchoolType.SECONDARY, "661"))
    raw = ldap3.Connection(slapd.url, ROOT_DN, password, auto_bind=True)
    now = datetime.now(UTC)
    people = store.tree.people
    n = args.accounts
    results: list[tuple[str, float, float]] = []

    # Adds with an Argon2-hashed password: raw ldap3 add vs store.add_account.
    def raw_add(i: int) -> None:
        name, entry_id = f"Raw{i}", str(uuid.uuid4())
        added = raw.add(store.tree.account(entry_id), ACCOUNT_OBJECT_CLASSES, {
            A["id"]: entry_id, A["names"]: name, A["username"]: name, A["surname"]: "Raw", A["common_name"]: name,
            A["kind"]: "learner", A["state"]: "active", A["school"]: SCHOOL, A["password"]: "Tiger4821",
        })
        assert added, raw.result

    def store_add(i: int) -> None:
        store.add_account(NewAccount(kind=AccountKind.LEARNER, surname=SURNAMES[i % len(SURNAMES)],
                                     forename="Joe", created_by="bench", school=SCHOOL,
                                     upn_hash=secrets.token_hex(32), year_group="7",
                                     password="Tiger4821"), now)

    results.append(("add (with Argon2 password)", timed(raw_add, n), timed(store_add, n)))

    # Look-up by username, indexed equality.
    def raw_find(i: int) -> None:
        raw.search(people, filters.equals(A["names"], f"Raw{i % n}"),
                   attributes=account_attributes(("id", "username", "surname", "forename")))

    def store_find(i: int) -> None:
        store.find_by_username(f"JonesJ{(i % (n // len(SURNAMES))) + 1}" if i % 2 else "JonesJ")

    results.append(("find by username", timed(raw_find, n * 2), timed(store_find, n * 2)))

    # Password check: a simple bind as the account (Argon2 in slapd).
    server = ldap3.Server(slapd.url, get_info=ldap3.NONE)

    def raw_bind(i: int) -> None:
        raw.search(people, filters.equals(A["names"], f"Raw{i % n}"), attributes=[A["id"]])
        dn = raw.response[0]["dn"]
        conn = ldap3.Connection(server, dn, "Tiger4821")
        assert conn.bind()
        conn.unbind()

    sign_in = SignInDirectory(store.config)  # the IdP's check, the only one

    def store_bind(i: int) -> None:
        sign_in.authenticate("JonesJ", "Tiger4821")

    results.append(("sign-in check (search + Argon2 bind)", timed(raw_bind, args.binds), timed(store_bind, args.binds)))

    # Reading a school's accounts in pages.
    def raw_read(_: int) -> None:
        raw.extend.standard.paged_search(people, filters.equals(A["school"], SCHOOL), attributes=["*"], paged_size=500,
                                         generator=False)

    def store_read(_: int) -> None:
        sum(1 for _ in store.iter_accounts(school=SCHOOL))

    total = 2 * n
    raw_rate = timed(raw_read, 3) * total
    store_rate = timed(store_read, 3) * total
    results.append((f"read a school's {total} accounts (entries/s)", raw_rate, store_rate))

    raw.unbind()
    store.close()
    sign_in.close()
    durability = "olcDbNoSync" if args.no_sync else "durable commits"
    print(f"Porth directory bench: {n} accounts, {durability}, slapd at {slapd.url}")
    print(f"{'operation':44} {'raw ldap3/s':>12} {'porth/s':>10} {'ratio':>7}")
    for name, raw_per_s, porth_per_s in results:
        print(f"{name:44} {raw_per_s:12.0f} {porth_per_s:10.0f} {porth_per_s / raw_per_s:7.0%}")


if __name__ == "__main__":
    main()
