"""Sign-in across two web nodes and a replicated directory (issue 17 point 7), in one run.

    .venv/bin/python bench/login.py --nodes 2 [--accounts 400] [--clients 16] [--seconds 15] [--rounds 3]
                                              [--workers N] [--postgres ADMIN_URL]

The deployment of docs/deployment.md, shrunk onto this machine:
  - a directory provider (server id 1, syncprov) and a read-only consumer replicating from it
    (chain overlay, updateref, sign-in times and lock-outs forwarded to the provider), both
    private slapds with durable commits and Porth's Argon2 hashes;
  - two `porth serve` nodes with one public address, the same keys and one operational database
    on PostgreSQL (a scratch database, dropped afterwards): node A looks people up and binds at
    the provider, node B at the consumer; both write to the provider.
Then, alternating for --rounds rounds:
  (a) the raw limit: LDAP simple binds/s, half the clients at the provider and half at the
      consumer at the same time;
  (b) Porth: half the browsers at node A, half at node B at the same time, each doing the whole
      flow as bench/login.py does (AuthnRequest, the form, the credentials POST, a signed Response).
It prints sign-ins/s and p50/p95/p99 per node and in total, and the total's ratio to (a).
Everything shares this machine's cores: the figures show that sign-in holds across nodes and a
consumer, and what the nodes cost each other here, not what two machines would give.
Not a test: record the figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.login import (  # noqa: E402
    BASE,
    PASSWORD,
    ROOT_DN,
    SCHOOL,
    SURNAMES,
    _create_database,
    _drop_database,
    browser_flows,
    describe,
    raw_binds,
    raw_binds_once,
)
from directory.model import AccountKind, NewAccount, School, SchoolType  # noqa: E402
from directory.replication import Replication  # noqa: E402
from directory.rules.vault import PasswordVault  # noqa: E402
from directory.slapd import PrivateSlapd  # noqa: E402
from directory.store import DirectoryConfig, DirectoryStore  # noqa: E402
from tests.conftest import free_port, wait_until_answering  # noqa: E402
from tests.saml_services import OneLoginService, PostedForm, posted_form  # noqa: E402


@dataclass
class Node:
    """One `porth serve` and what its browsers measured."""

    name: str
    reads_at: str  # which directory server it looks people up and binds at
    url: str
    process: subprocess.Popen | None = None
    flows: list[float] = field(default_factory=list)
    time: float = 0.0
    failures: int = 0
    samples: list[str] = field(default_factory=list)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2, choices=(2,), help="web nodes (two: A and B)")
    parser.add_argument("--accounts", type=int, default=400, help="accounts per phase")
    parser.add_argument("--clients", type=int, default=16, help="in all, half at each node or server")
    parser.add_argument("--seconds", type=float, default=15, help="per phase and round")
    parser.add_argument("--rounds", type=int, default=3, help="(a) and (b) alternate this many times")
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn workers of each porth serve (default: its own, 2 x cores + 1)")
    parser.add_argument("--postgres", metavar="ADMIN_URL", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL server for the nodes' shared operational database")
    return parser.parse_args()


def _raw_round(servers: list[str], dns: list[str], clients: int, seconds: float) -> tuple[int, list[float], float]:
    """Raw binds at every server at once, the clients split between them."""
    results: list[tuple[int, list[float], float]] = [(0, [], 0.0)] * len(servers)

    def at(index: int) -> None:
        results[index] = raw_binds(servers[index], dns[index::len(servers)], clients // len(servers), seconds)

    threads = [threading.Thread(target=at, args=(i,)) for i in range(len(servers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(r[0] for r in results), [v for r in results for v in r[1]], max(r[2] for r in results)


def _porth_round(nodes: list[Node], public_url: str, service: OneLoginService, usernames: list[str], clients: int,
                 seconds: float) -> float:
    """Each node's share of the browsers at once (one client process per node); the round's wall time."""
    started = time.perf_counter()

    def at(index: int, node: Node) -> None:
        flows, _posts, failed, sampled, elapsed, _cpu = browser_flows(
            public_url, service.entity_id, service.acs_url, usernames[index::len(nodes)], clients // len(nodes),
            seconds, processes=1, node_url=node.url)
        node.flows += flows
        node.time += elapsed
        node.failures += failed
        node.samples += sampled[:2]

    threads = [threading.Thread(target=at, args=(i, node)) for i, node in enumerate(nodes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    args = arguments()
    with tempfile.TemporaryDirectory(prefix="porth-nodes-bench-") as scratch_name:
        scratch = Path(scratch_name)
        password = secrets.token_urlsafe(16)
        provider_port, consumer_port = free_port(), free_port()
        provider = PrivateSlapd(scratch / "provider", "127.0.0.1", provider_port, BASE, ROOT_DN, password,
                                replication=Replication("provider", 1, ()))
        consumer = PrivateSlapd(scratch / "consumer", "127.0.0.1", consumer_port, BASE, ROOT_DN, password,
                                replication=Replication("consumer", None, (provider.url,)))
        nodes: list[Node] = []
        database = None
        try:
            provider.start()
            store = DirectoryStore(DirectoryConfig(url=provider.url, base_dn=BASE, bind_dn=ROOT_DN,
                                                   bind_password=password, mail_domain="hwbcymru.net"),
                                   PasswordVault(PasswordVault.new_key()))
            store.initialise()
            store.add_school(School(SCHOOL, "Bench", SchoolType.SECONDARY, "661"))
            now = datetime.now(UTC)
            accounts = [store.add_account(NewAccount(kind=AccountKind.STAFF, surname=SURNAMES[i % len(SURNAMES)],
                                                     forename=f"Bench{i}", created_by="bench", school=SCHOOL,
                                                     staff_code=f"B{i:05d}", password=PASSWORD), now)
                        for i in range(2 * args.accounts)]
            store.close()
            dns = [store.account_dn(a.id) for a in accounts]
            # Every account's sign-in time of the hour written once, on the provider, before any timing
            # (bench/login.py says why); the consumer then starts and copies it all.
            raw_binds_once(provider.url, dns)
            consumer.start()
            states = consumer.wait_in_step(timeout=120)
            if any(state.behind or not state.answers for state in states):
                raise SystemExit(f"the consumer did not catch up with the provider: {states}")
            print(f"{len(accounts)} accounts on a provider, copied to its consumer; "
                  f"{args.clients} concurrent clients in all, {args.seconds:.0f} s per phase", flush=True)

            database = _create_database(args.postgres)
            services = scratch / "services"
            services.mkdir()
            nodes = [Node("A", "provider", f"http://127.0.0.1:{free_port()}"),
                     Node("B", "consumer", f"http://127.0.0.1:{free_port()}")]
            public_url = nodes[0].url  # the load balancer's address; node B answers for it too
            for node in nodes:
                var = scratch / f"var-{node.name}"
                if node is not nodes[0]:  # every node the same keys (docs/deployment.md, "Secrets")
                    shutil.copytree(scratch / f"var-{nodes[0].name}" / "secrets", var / "secrets")
                env = {k: v for k, v in os.environ.items() if not k.startswith("PORTH_")}
                env.update(PORTH_VAR_DIR=str(var), PORTH_LDAP__URL=provider.url,
                           PORTH_LDAP__READ_URLS=provider.url if node.reads_at == "provider" else consumer.url,
                           PORTH_LDAP__BASE_DN=BASE, PORTH_LDAP__BIND_DN=ROOT_DN, PORTH_LDAP__BIND_PASSWORD=password,
                           PORTH_IDP__BASE_URL=public_url, PORTH_IDP__SERVICES_DIR=str(services),
                           PORTH_DATABASE__URL=database, PORTH_LOG_LEVEL="WARNING")
                port = node.url.rsplit(":", 1)[1]
                workers = ["--workers", str(args.workers)] if args.workers else []
                log = (scratch / f"serve-{node.name}.log").open("w")
                node.process = subprocess.Popen(
                    [sys.executable, "-m", "entrypoints.cli", "serve", "--port", port, *workers], cwd=ROOT, env=env,
                    stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
                wait_until_answering(node.url + "/readyz", node.process)
            with urllib.request.urlopen(public_url + "/idp/metadata") as response:  # noqa: S310 (our own node)
                service = OneLoginService(entity_id="https://bench-sp.example/sp",
                                          idp_metadata=response.read().decode())
            (services / "bench.xml").write_bytes(service.metadata())
            (services / "bench.toml").write_text('category = "core"\nrelease = ["mail", "given_name"]\n')
            time.sleep(1.1)  # the registry re-reads the folder at most once a second

            raw_set, porth_set = dns[:args.accounts], accounts[args.accounts:]
            raw_count, raw_time, raw_latencies, porth_time = 0, 0.0, [], 0.0
            for round_number in range(1, args.rounds + 1):
                count, latencies, elapsed = _raw_round([provider.url, consumer.url], raw_set, args.clients,
                                                       args.seconds)
                raw_count, raw_time, raw_latencies = raw_count + count, raw_time + elapsed, raw_latencies + latencies
                before = [len(node.flows) for node in nodes]
                wall = _porth_round(nodes, public_url, service, [a.username for a in porth_set], args.clients,
                                    args.seconds)
                porth_time += wall
                made = [len(node.flows) - b for node, b in zip(nodes, before, strict=True)]
                print(f"round {round_number}: (a) {count / elapsed:.0f} binds/s, (b) "
                      + ", ".join(f"node {n.name} {m / wall:.1f}" for n, m in zip(nodes, made, strict=True))
                      + f" = {sum(made) / wall:.1f} sign-ins/s", flush=True)

            raw_rate = raw_count / raw_time
            total = sum(len(node.flows) for node in nodes)
            print(f"(a) raw binds, provider + consumer:   {raw_rate:7.1f} /s   {describe(raw_latencies)}")
            for node in nodes:
                print(f"(b) node {node.name} (reads at the {node.reads_at}): {len(node.flows) / node.time:7.1f} /s   "
                      f"{describe(node.flows)}   failed flows: {node.failures}")
            print(f"(b) both nodes:                        {total / porth_time:7.1f} /s   "
                  f"{describe([v for node in nodes for v in node.flows])}   ratio to (a): "
                  f"{total / porth_time / raw_rate:.0%}")
            valid = {node.name: sum(bool(auth.is_authenticated() and not auth.get_errors()) for auth in
                                    (service.accept(posted_form(page) or PostedForm("", {}), None)
                                     for page in node.samples)) for node in nodes}
            print("    Responses validated by python3-saml (strict): "
                  + ", ".join(f"node {n.name} {valid[n.name]}/{len(n.samples)}" for n in nodes))
        finally:
            for node in nodes:
                if node.process is not None and node.process.poll() is None:
                    os.killpg(node.process.pid, 2)
                    node.process.wait(timeout=30)
            consumer.stop()
            provider.stop()
            if database:
                _drop_database(args.postgres, database)


if __name__ == "__main__":
    main()
