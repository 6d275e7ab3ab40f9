"""A full Microsoft 365 sync against the fake Graph, and the fake's own ceiling, in one run.

    .venv/bin/python bench/graph_sync.py [--accounts 50000] [--throttle 0.05] [--budget-scale 50]

On a scratch private slapd preloaded (slapadd) with `--accounts` accounts
(nine learners in ten, four in five of them with consent; a staff member in
ten, three in five with a licence allocated in the portal), it measures:
  (a) the ceiling: the writes per second the fake Graph accepts when a bare
      client sends pre-built $batch requests of 20 user creations as fast as
      it lets it (retrying only what it answers 429), i.e. the documented
      write budget (3,000 per 150 s per app; its window shortened by
      `--budget-scale` so the run takes minutes, not hours) or the fake's own
      speed, whichever is lower;
  (b) Porth's full tenant sync of every account (user + licence), with
      `--throttle` of the requests answered 429 at random;
and prints requests sent, batches, retries, accounts/s, writes/s and the ratio
of (b) to (a), then checks that nothing was lost or made twice.
Not a test: record the figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import random
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.graph.client import GraphClient, WritePacer  # noqa: E402
from connectors.graph.desired import Skus  # noqa: E402
from connectors.graph.sync import TenantSync  # noqa: E402
from connectors.graph.tokens import LocalAuthority, TokenSource  # noqa: E402
from demo.fake_graph import FACULTY_SKU, STUDENT_SKU, FakeGraph, FakeTenantSettings  # noqa: E402
from directory.ldap.mapping import ACCOUNT_OBJECT_CLASSES, OBJECT_CLASS, A, DirectoryTree  # noqa: E402
from directory.model import School, SchoolType  # noqa: E402
from directory.rules.vault import PasswordVault  # noqa: E402
from directory.slapd import PrivateSlapd  # noqa: E402
from directory.store import DirectoryConfig, DirectoryStore  # noqa: E402
from operational.db import Database  # noqa: E402
from operational.tables import LicenceRequest  # noqa: E402
from tests.conftest import free_port  # noqa: E402

BASE = "dc=porth"
ROOT_DN = f"cn=porth,{BASE}"
TREE = DirectoryTree(BASE)
SCHOOLS = 50


def accounts_ldif(count: int, rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """The entries, and (account id, school) of the staff to allocate a licence to."""
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%SZ")
    entries, allocated = [], []
    for n in range(count):
        entry_id, school = str(uuid.uuid4()), f"661{n % SCHOOLS:04d}"
        kind = "staff" if n % 10 == 0 else "learner"
        name = f"User{n}A"
        values = [*((OBJECT_CLASS, c) for c in ACCOUNT_OBJECT_CLASSES), (A["id"], entry_id), (A["username"], name),
                  (A["names"], name), (A["mail"], f"{name}@hwbcymru.net"), (A["common_name"], f"Alun User{n}"),
                  (A["surname"], f"User{n}"), (A["forename"], "Alun"), (A["display_name"], f"Alun User{n}"),
                  (A["kind"], kind), (A["state"], "active"), (A["state_changed_at"], now),
                  (A["state_changed_by"], "bench"), (A["state_reason"], "created"), (A["school"], school)]
        if kind == "learner":
            values.append((A["consent"], rng.choice(["explicit", "explicit", "legacy", "explicit", "not-obtained"])))
        elif rng.random() < 0.6:
            allocated.append((entry_id, school))
        entries.append("\n".join([f"dn: {TREE.account(entry_id)}", *(f"{k}: {v}" for k, v in values)]))
    return "\n\n".join(entries) + "\n", allocated


def ceiling(fake: FakeGraph, seconds: float) -> float:
    """Writes per second the fake accepts from a bare client sending batches of 20 as fast as it lets it."""
    token = httpx.post(f"{fake.url}/{fake.settings.tenant}/oauth2/v2.0/token",
                       data={"grant_type": "client_credentials", "client_id": fake.settings.client_id,
                             "client_secret": fake.settings.client_secret}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    accepted, serial = 0, 0
    with httpx.Client(headers=headers, timeout=30) as http:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            steps = []
            for n in range(20):
                serial += 1
                steps.append({"id": str(n), "method": "POST", "url": "/users",
                              "headers": {"Content-Type": "application/json"},
                              "body": {"accountEnabled": True, "displayName": "x", "mailNickname": f"c{serial}",
                                       "userPrincipalName": f"Ceiling{serial}@hwbcymru.net",
                                       "passwordProfile": {"password": "Tiger4821x"}}})
            answer = http.post(f"{fake.graph_url}/$batch", json={"requests": steps}).json()
            done = [r for r in answer["responses"] if r["status"] == 201]
            accepted += len(done)
            waits = [float(r["headers"].get("Retry-After", 0)) for r in answer["responses"] if r["status"] == 429]
            if waits and len(done) == 0:
                time.sleep(min(waits))
        elapsed = time.perf_counter() - started
    return accepted / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50000)
    parser.add_argument("--throttle", type=float, default=0.05)
    parser.add_argument("--budget-scale", type=float, default=50.0,
                        help="the documented budgets' windows divided by this: 50 makes 3,000 writes per 150 s "
                             "into 3,000 per 3 s (1 = the real budget: a 50,000-account sync then takes 83 min)")
    parser.add_argument("--ceiling-seconds", type=float, default=20.0)
    args = parser.parse_args()
    rng = random.Random(7)
    app_budget = (3000, 150.0 / args.budget_scale)
    tenant_budget = (18000, 300.0 / args.budget_scale)
    with tempfile.TemporaryDirectory(prefix="porth-bench-graph-") as scratch_dir:
        scratch = Path(scratch_dir)
        password = secrets.token_urlsafe(12)
        slapd = PrivateSlapd(scratch / "slapd", "127.0.0.1", free_port(), BASE, ROOT_DN, password, no_sync=True)
        slapd.start()
        config = DirectoryConfig(url=slapd.url, base_dn=BASE, bind_dn=ROOT_DN, bind_password=password,
                                 mail_domain="hwbcymru.net")
        store = DirectoryStore(config, PasswordVault(PasswordVault.new_key()))
        store.initialise()
        for n in range(SCHOOLS):
            store.add_school(School(f"661{n:04d}", f"Ysgol {n}", SchoolType.PRIMARY, "661"))
        store.close()
        slapd.stop()
        ldif, allocated = accounts_ldif(args.accounts, rng)
        (scratch / "people.ldif").write_text(ldif)
        started = time.perf_counter()
        subprocess.run(["slapadd", "-q", "-F", str(slapd.config_dir), "-b", BASE, "-l", str(scratch / "people.ldif")],
                       check=True, capture_output=True)
        print(f"preloaded {args.accounts} accounts in {time.perf_counter() - started:.0f} s")
        slapd.start()
        store = DirectoryStore(config, PasswordVault(PasswordVault.new_key()))
        db = Database(f"sqlite:///{scratch / 'ops.sqlite3'}")
        db.migrate()
        now = datetime.now(UTC)
        with db.session() as session, session.begin():
            session.add_all(LicenceRequest(account_id=a, school=s, wanted=True, requested_by="bench", requested_at=now,
                                           state="pending") for a, s in allocated)
        try:
            settings = FakeTenantSettings(app_writes=app_budget, tenant_writes=tenant_budget)
            with FakeGraph(settings) as fake:
                top = ceiling(fake, args.ceiling_seconds)
            print(f"(a) ceiling: {top:,.0f} writes/s accepted by the fake "
                  f"(budget {app_budget[0] / app_budget[1]:,.0f}/s per app, "
                  f"{tenant_budget[0] / tenant_budget[1]:,.0f}/s per tenant)")
            settings = FakeTenantSettings(app_writes=app_budget, tenant_writes=tenant_budget,
                                          throttle_rate=args.throttle, retry_after="0.2",
                                          seats={STUDENT_SKU[0]: args.accounts, FACULTY_SKU[0]: args.accounts})
            with FakeGraph(settings) as fake:
                tokens = TokenSource(settings.client_id, settings.client_secret, fake.authority,
                                     LocalAuthority(fake.login_url, fake.url))
                with GraphClient(fake.graph_url, tokens, max_attempts=30,
                                 pacer=WritePacer(*app_budget)) as graph:
                    started = time.perf_counter()
                    report = TenantSync(store, db, graph, Skus(STUDENT_SKU[1], FACULTY_SKU[1]), now).run(full=True)
                    elapsed = time.perf_counter() - started
                    stats = graph.stats
                writes = fake.stats["writes"]
                users = len(fake.users)
                licensed = sum(1 for held in fake.licences.values() if held)
                throttled = fake.stats["throttled_injected"] + fake.stats["throttled_budget"]
        finally:
            store.close()
            slapd.stop()
    expected_licensed = report.counts.get("licensed", 0)
    print(f"(b) Porth's full sync of {args.accounts:,} accounts: {elapsed:.1f} s, {args.accounts / elapsed:,.0f} "
          f"accounts/s, {writes / elapsed:,.0f} writes/s")
    print(f"    {stats.requests:,} HTTP requests, {stats.batches:,} batches, {stats.steps:,} steps sent, "
          f"{stats.retries:,} retries; the fake answered {throttled:,} requests 429")
    print(f"    ratio (b)/(a): {writes / elapsed / top:.0%} of the ceiling (target: within 2x, i.e. at least 50 %)")
    print(f"    outcome: {report.counts}; {len(report.errors)} errors")
    lost = args.accounts - users
    print(f"    cloud users {users:,} for {args.accounts:,} accounts (lost {lost}, duplicated {max(0, -lost)}); "
          f"{licensed:,} licensed ({expected_licensed:,} licences reported applied)")


if __name__ == "__main__":
    main()
