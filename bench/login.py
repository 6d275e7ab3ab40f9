"""Sign-in speed of the identity provider against the raw slapd bind limit, in one run.

    .venv/bin/python bench/login.py [--accounts 400] [--clients 16] [--seconds 15] [--rounds 3] [--workers N]
                                    [--badges]
    .venv/bin/python bench/login.py --nodes 2 [...]   (two web nodes, a provider and a consumer: bench/login_nodes.py)

On a scratch private slapd with Porth's configuration (durable commits,
Argon2 hashes as Porth writes them) it measures:
  (a) the raw limit: LDAP simple binds/s of the same accounts, from as many
      concurrent clients on kept-open python-ldap connections;
  (b) Porth: `porth serve` (gunicorn, --workers) and as many concurrent
      browsers, each doing the whole flow with a new cookie jar every time
      (no single sign-on shortcut): AuthnRequest (HTTP-Redirect), answered
      with the sign-in form -> POST credentials -> signed Response. A sample of the Responses
      is validated by python3-saml in strict mode.
With --badges (issue 18 point 5) each round adds
  (c) badge sign-ins: as many Year 1 learners, each with a printed badge, and the same browsers
      doing what a child's device does: AuthnRequest -> the sign-in page, whose "Sign in with my
      badge" shows the camera in the page (no request) -> POST the badge's token -> signed
      Response (no Argon2: an HMAC and one indexed read; were the camera a page of its own, the
      browsers would load it too),
and prints badge sign-ins/s next to the password sign-ins/s of the same run (target: 3x).
It prints sign-ins/s, the ratio of (b) to (a), and p50/p95/p99 latency of the
whole flow and of the credentials POST. Every account is bound once before
the timing starts: slapd's lastbind overlay writes the time of an account's
first sign-in of the hour (~6 ms more of slapd's CPU, printed separately),
and the phases, at different rates, would otherwise pay it in different
shares.
Not a test: record the figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from directory.model import AccountKind, NewAccount, School, SchoolType  # noqa: E402
from directory.rules.vault import PasswordVault  # noqa: E402
from directory.slapd import PrivateSlapd  # noqa: E402
from directory.store import DirectoryConfig, DirectoryStore  # noqa: E402
from tests.conftest import free_port, wait_until_answering  # noqa: E402
from tests.saml_services import OneLoginService, PostedForm, posted_form  # noqa: E402

BASE = "dc=porth-bench"
ROOT_DN = f"cn=porth,{BASE}"
SCHOOL = "6619999"
PASSWORD = "Tiger4821"
SURNAMES = ["Jones", "Davies", "Williams", "Evans", "Thomas", "Roberts", "Hughes", "Lewis", "Morgan", "Price"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def describe(latencies: list[float]) -> str:
    ms = [v * 1000 for v in latencies]
    return f"p50 {percentile(ms, .50):6.1f} ms  p95 {percentile(ms, .95):6.1f} ms  p99 {percentile(ms, .99):6.1f} ms"


# -- CPU used, read from /proc ----------------------------------------------------------
_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICKS, idle / _TICKS


def _cpu_of(belongs) -> float:
    """CPU seconds of every live process whose pid `belongs(pid)` says is counted."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if belongs(int(entry.name)):
                    total += process_cpu(int(entry.name))
            except OSError:  # gone meanwhile
                continue
    return total


def group_cpu(pgid: int) -> float:
    """CPU seconds of a process group (porth serve: gunicorn and its workers)."""
    return _cpu_of(lambda pid: os.getpgid(pid) == pgid)


def postgres_cpu() -> float:
    """CPU seconds of the local PostgreSQL server's processes (all of them: run the benchmark
    while nothing else uses that server)."""
    return _cpu_of(lambda pid: Path(f"/proc/{pid}/comm").read_text().strip() in ("postgres", "postmaster"))


# -- (a) raw binds -----------------------------------------------------------------
def raw_binds(url: str, dns: list[str], clients: int, seconds: float) -> tuple[int, list[float], float]:
    import ldap

    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    counter = iter(range(10**9))

    def client() -> None:
        conn = ldap.initialize(url)
        conn.protocol_version = 3
        mine = []
        while time.perf_counter() < stop_at:
            dn = dns[next(counter) % len(dns)]
            started = time.perf_counter()
            conn.simple_bind_s(dn, PASSWORD)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), latencies, time.perf_counter() - started


def raw_binds_once(url: str, dns: list[str]) -> tuple[int, list[float], float]:
    import ldap

    conn = ldap.initialize(url)
    started = time.perf_counter()
    for dn in dns:
        conn.simple_bind_s(dn, PASSWORD)
    return len(dns), [], time.perf_counter() - started


# -- (b) the browser flow ---------------------------------------------------------------
def authn_request(idp_url: str, sp_entity: str, acs: str) -> str:
    request_id = "_" + secrets.token_hex(16)
    issued = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    xml = (f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
           f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{request_id}" Version="2.0" '
           f'IssueInstant="{issued}" Destination="{idp_url}/idp/sso/redirect" '
           f'AssertionConsumerServiceURL="{acs}" '
           f'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
           f"<saml:Issuer>{sp_entity}</saml:Issuer></samlp:AuthnRequest>").encode()
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    encoded = base64.b64encode(deflater.compress(xml) + deflater.flush()).decode()
    return f"{idp_url}/idp/sso/redirect?SAMLRequest={quote(encoded, safe='')}&RelayState=bench"


class _Browser:
    """Just enough of a browser: HTTP/1.1 over a plain socket, one connection per request
    (`porth serve`'s sync workers close each one), its own cookie jar. Real browsers do not
    run on the IdP's machine; these do, sharing its two cores with Porth and slapd, so they
    are kept small: http.client cost ~0.3 ms more per sign-in, a few per cent of the ratio."""

    def __init__(self, host: str, port: int):
        self.address = (host, port)
        self.host_header = f"{host}:{port}"
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, dict[str, str], str]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host_header}", "Connection: close"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        payload = body.encode("utf-8") if body is not None else b""
        if body is not None:
            lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(payload)}"]
        with socket.create_connection(self.address, timeout=30) as connection:
            connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        head, _, content = b"".join(chunks).partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            value = value.strip()
            if name.lower() == "set-cookie":
                cookie_name, _, rest = value.partition("=")
                self.cookies[cookie_name] = rest.split(";", 1)[0]
            headers[name] = value
        if "chunked" in headers.get("Transfer-Encoding", ""):
            raise RuntimeError("chunked answers are not expected from Porth's pages")
        return int(status_line.split(" ", 2)[1]), headers, content.decode("utf-8")


def _browser_process(idp_url: str, sp_entity: str, acs: str, usernames: list[str], threads: int, stop_at_wall: float,
                     results, badges: bool = False, node_url: str | None = None, part: str | None = None) -> None:
    """`usernames` are badge tokens when `badges`: the flow then goes through the badge page.
    `node_url`: where to connect when it is not `idp_url`, Porth's public address (one web node of
    several behind a load balancer, bench/login_nodes.py). `part` ("page": the AuthnRequest
    answered with the sign-in page, alone; "livez": a bare request to /livez) times one piece of a
    flow instead, for the breakdown of --badges."""
    from urllib.parse import urlencode, urlsplit

    flows, posts, failures, samples = [], [], [0], []
    lock = threading.Lock()
    counter = iter(range(10**9))
    address = urlsplit(node_url or idp_url)

    def browser() -> None:
        client = _Browser(address.hostname, address.port)
        mine_flows, mine_posts = [], []
        while time.time() < stop_at_wall:
            username = usernames[next(counter) % len(usernames)]
            client.cookies.clear()  # a new browser every time: no single sign-on shortcut
            started = time.perf_counter()
            try:
                if part == "livez":
                    status, _, _ = client.request("GET", "/livez")
                    if status != 200:
                        raise RuntimeError(f"/livez answered {status}")
                    mine_flows.append(time.perf_counter() - started)
                    continue
                status, headers, form = client.request("GET", authn_request(idp_url, sp_entity, acs)[len(idp_url):])
                if part == "page":
                    if status != 200 or 'name="pending"' not in form:
                        raise RuntimeError(f"no sign-in page ({status})")
                    mine_flows.append(time.perf_counter() - started)
                    continue
                if status in (302, 303):
                    location = headers["Location"]
                    _, _, form = client.request("GET", location[len(idp_url):] if location.startswith("http")
                                                else location)
                if badges and "data-badge-form" not in form:  # a camera page of its own: the device loads it
                    link = re.search(r'href="([^"]+)"[^>]* class="[^"]*badge-start', form).group(1)
                    _, _, form = client.request("GET", link.replace("&amp;", "&"))
                token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
                pending = re.search(r'name="pending" value="([^"]+)"', form).group(1)
                posted = time.perf_counter()
                if badges:
                    status, _, answer = client.request("POST", "/idp/badge", urlencode({
                        "csrf_token": token, "pending": pending, "badge": username}))
                else:
                    status, _, answer = client.request("POST", "/idp/sign-in", urlencode({
                        "csrf_token": token, "pending": pending, "username": username, "password": PASSWORD}))
                done = time.perf_counter()
                if status != 200 or 'name="SAMLResponse"' not in answer:
                    raise RuntimeError(f"no Response ({status})")
            except Exception:  # noqa: BLE001 - counted and reported, the run goes on
                with lock:
                    failures[0] += 1
                client = _Browser(address.hostname, address.port)
                continue
            mine_flows.append(done - started)
            mine_posts.append(done - posted)
            if len(samples) < 3:
                with lock:
                    samples.append(answer)
        with lock:
            flows.extend(mine_flows)
            posts.extend(mine_posts)

    workers = [threading.Thread(target=browser) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    used = os.times()
    results.put((flows, posts, failures[0], samples, used.user + used.system))


def browser_flows(idp_url: str, sp_entity: str, acs: str, usernames: list[str], clients: int,
                  seconds: float, processes: int = 2, badges: bool = False,
                  node_url: str | None = None,
                  part: str | None = None) -> tuple[list[float], list[float], int, list[str], float, float]:
    # Two processes, so the clients' own Python does not serialise on one GIL, and no more:
    # every process is a share of the two cores taken from Porth.
    processes = min(processes, clients)
    per_process = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    results = multiprocessing.Queue()
    stop_at = time.time() + seconds
    started = time.perf_counter()
    # Each process its own share of the people: walking one list in the same order, two processes
    # would sign the same person in at the same moment, which the throttle (S-3) counts as one
    # person's attempts in flight at once (three at once are delayed, as an attacker's would be).
    children = [multiprocessing.Process(target=_browser_process,
                                        args=(idp_url, sp_entity, acs, usernames[i::processes], n, stop_at, results,
                                              badges, node_url, part))
                for i, n in enumerate(per_process)]
    for child in children:
        child.start()
    gathered = [results.get() for _ in children]
    for child in children:
        child.join()
    elapsed = time.perf_counter() - started
    flows = [v for g in gathered for v in g[0]]
    posts = [v for g in gathered for v in g[1]]
    return (flows, posts, sum(g[2] for g in gathered), [s for g in gathered for s in g[3]], elapsed,
            sum(g[4] for g in gathered))


def print_badges(var_dir: Path, database_url: str | None, account_ids: list[str]) -> list[str]:
    """Badge sign-in on for the bench school, and a badge for each learner, as the portal prints
    them (idp/badges.py), under the key of the running server's own settings."""
    from config.settings import load_settings, secret_value, with_secrets
    from directory.rules.badges import SchoolBadges
    from idp import badges
    from operational.db import Database

    settings = with_secrets(load_settings(var_dir=var_dir, **({"database": {"url": database_url}}
                                                            if database_url else {})))
    db = Database(settings.database_url)
    key = badges.badge_key(secret_value(settings.secrets.persistent_id_key, "persistent_id_key").encode("utf-8"))
    now = datetime.now(UTC)
    badges.save_school_badges(db, SCHOOL, SchoolBadges(enabled=True), "bench", now)
    made = badges.issue_badges(db, key, SCHOOL, account_ids, False, "bench", now)
    db.dispose()
    return [made[account_id].token for account_id in account_ids]


def _create_database(admin_url: str) -> str:
    import psycopg

    name = f"porth_bench_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return "postgresql+psycopg://" + admin_url.split("://", 1)[1].rsplit("/", 1)[0] + f"/{name}"


def _drop_database(admin_url: str, url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def main() -> None:
    if "--nodes" in sys.argv:  # two web nodes against a provider and a consumer (issue 17 point 7)
        from bench.login_nodes import main as across_nodes

        return across_nodes()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=400, help="accounts per phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15, help="per phase and round")
    parser.add_argument("--rounds", type=int, default=3, help="(a) and (b) alternate this many times")
    parser.add_argument("--client-processes", type=int, default=2, help="processes the browsers run in")
    parser.add_argument("--postgres", metavar="ADMIN_URL", nargs="?", const="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="operational store on a scratch database of this PostgreSQL server, dropped afterwards "
                             "(default: SQLite, Porth's embedded default)")
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn workers of porth serve (default: its own, 2 x cores + 1)")
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default=None,
                        help="gunicorn worker class of porth serve (default: its own, web.worker_class)")
    parser.add_argument("--badges", action="store_true",
                        help="also time badge sign-ins (issue 18), printed next to password sign-ins")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="porth-login-bench-") as scratch_name:
        scratch = Path(scratch_name)
        password = secrets.token_urlsafe(16)
        slapd = PrivateSlapd(scratch / "slapd", "127.0.0.1", free_port(), BASE, ROOT_DN, password)
        slapd.start()
        server = None
        scratch_database = None
        try:
            store = DirectoryStore(DirectoryConfig(url=slapd.url, base_dn=BASE, bind_dn=ROOT_DN,
                                                   bind_password=password, mail_domain="hwbcymru.net"),
                                   PasswordVault(PasswordVault.new_key()))
            store.initialise()
            store.add_school(School(SCHOOL, "Bench", SchoolType.SECONDARY, "661"))
            now = datetime.now(UTC)
            accounts = [store.add_account(NewAccount(kind=AccountKind.STAFF, surname=SURNAMES[i % len(SURNAMES)],
                                                     forename=f"Bench{i}", created_by="bench", school=SCHOOL,
                                                     staff_code=f"B{i:05d}", password=PASSWORD), now)
                        for i in range(2 * args.accounts)]
            learners = [store.add_account(NewAccount(kind=AccountKind.LEARNER, surname=SURNAMES[i % len(SURNAMES)],
                                                     forename=f"Badge{i}", created_by="bench", school=SCHOOL,
                                                     upn_hash=secrets.token_hex(32), year_group="1"), now)
                        for i in range(args.accounts)] if args.badges else []
            store.close()
            raw_set, porth_set = accounts[:args.accounts], accounts[args.accounts:]
            first_binds, _, first_elapsed = raw_binds_once(slapd.url, [store.account_dn(a.id) for a in accounts])
            print(f"first sign-in of the hour (bind + lastbind write), one client: "
                  f"{first_binds / first_elapsed:.0f} /s", flush=True)
            print(f"{len(accounts)} accounts with Argon2 hashes on a durable private slapd; "
                  f"{args.clients} concurrent clients, {args.seconds:.0f} s per phase", flush=True)

            # Porth under gunicorn, started once; then (a) and (b) alternate for --rounds
            # rounds, so a noisy moment of the machine does not fall on one side only.
            port = free_port()
            idp_url = f"http://127.0.0.1:{port}"
            services = scratch / "services"
            services.mkdir()
            env = {k: v for k, v in os.environ.items() if not k.startswith("PORTH_")}
            env.update(PORTH_VAR_DIR=str(scratch / "var"), PORTH_LDAP__URL=slapd.url, PORTH_LDAP__BASE_DN=BASE,
                       PORTH_LDAP__BIND_DN=ROOT_DN, PORTH_LDAP__BIND_PASSWORD=password,
                       PORTH_IDP__BASE_URL=idp_url, PORTH_IDP__SERVICES_DIR=str(services),
                       PORTH_LOG_LEVEL="WARNING")
            if args.worker_class:
                env["PORTH_WEB__WORKER_CLASS"] = args.worker_class
            if args.postgres:
                env["PORTH_DATABASE__URL"] = scratch_database = _create_database(args.postgres)
            server_log = (scratch / "serve.log").open("w")
            workers = ["--workers", str(args.workers)] if args.workers else []
            server = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "serve", "--port", str(port), *workers],
                                      cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT, text=True,
                                      start_new_session=True)
            wait_until_answering(idp_url + "/healthz", server)
            with __import__("urllib.request").request.urlopen(idp_url + "/idp/metadata") as response:
                service = OneLoginService(entity_id="https://bench-sp.example/sp",
                                          idp_metadata=response.read().decode())
            (services / "bench.xml").write_bytes(service.metadata())
            (services / "bench.toml").write_text('category = "core"\nrelease = ["mail", "given_name"]\n'
                                                 + ("allow_badge = true\n" if args.badges else ""))
            tokens = print_badges(scratch / "var", scratch_database, [a.id for a in learners]) if args.badges else []
            time.sleep(1.1)  # the registry re-reads the folder at most once a second

            raw_count = raw_time = porth_count = porth_time = 0.0
            raw_latencies: list[float] = []
            all_flows: list[float] = []
            all_posts: list[float] = []
            failures, samples = 0, []
            badge_count = badge_time = 0.0
            badge_flows: list[float] = []
            badge_posts: list[float] = []
            badge_failures = 0
            raw_dns = [store.account_dn(a.id) for a in raw_set]
            slapd_pid = slapd.pid()
            cpu = {"raw slapd": 0.0, "raw clients": 0.0, "slapd": 0.0, "porth": 0.0, "browsers": 0.0,
                   "postgres": 0.0, "badge slapd": 0.0, "badge porth": 0.0, "badge browsers": 0.0,
                   "badge postgres": 0.0}
            machine = {"raw": [0.0, 0.0], "porth": [0.0, 0.0], "badge": [0.0, 0.0]}  # busy, idle
            for round_number in range(1, args.rounds + 1):
                slapd_before, own_before = process_cpu(slapd_pid), process_cpu(os.getpid())
                machine_before = machine_cpu()
                count, latencies, raw_elapsed = raw_binds(slapd.url, raw_dns, args.clients, args.seconds)
                machine["raw"] = [a + b - c for a, b, c in zip(machine["raw"], machine_cpu(), machine_before,
                                                                    strict=True)]
                cpu["raw slapd"] += process_cpu(slapd_pid) - slapd_before
                cpu["raw clients"] += process_cpu(os.getpid()) - own_before
                raw_count, raw_time = raw_count + count, raw_time + raw_elapsed
                raw_latencies += latencies
                slapd_before, porth_before = process_cpu(slapd_pid), group_cpu(server.pid)
                machine_before = machine_cpu()
                database_before = postgres_cpu() if args.postgres else 0.0
                flows, posts, failed, sampled, elapsed, browsers_cpu = browser_flows(
                    idp_url, service.entity_id, service.acs_url, [a.username for a in porth_set], args.clients,
                    args.seconds, args.client_processes)
                cpu["slapd"] += process_cpu(slapd_pid) - slapd_before
                cpu["porth"] += group_cpu(server.pid) - porth_before
                cpu["browsers"] += browsers_cpu
                cpu["postgres"] += postgres_cpu() - database_before if args.postgres else 0.0
                machine["porth"] = [a + b - c for a, b, c in zip(machine["porth"], machine_cpu(), machine_before,
                                                                    strict=True)]
                porth_count, porth_time = porth_count + len(flows), porth_time + elapsed
                all_flows += flows
                all_posts += posts
                failures += failed
                samples += sampled
                round_password_rate = len(flows) / elapsed
                badge_rate_now = ""
                if args.badges:
                    slapd_before, porth_before = process_cpu(slapd_pid), group_cpu(server.pid)
                    machine_before = machine_cpu()
                    database_before = postgres_cpu() if args.postgres else 0.0
                    flows, posts, failed, sampled, elapsed, browsers_cpu = browser_flows(
                        idp_url, service.entity_id, service.acs_url, tokens, args.clients, args.seconds,
                        args.client_processes, badges=True)
                    cpu["badge slapd"] += process_cpu(slapd_pid) - slapd_before
                    cpu["badge porth"] += group_cpu(server.pid) - porth_before
                    cpu["badge browsers"] += browsers_cpu
                    cpu["badge postgres"] += postgres_cpu() - database_before if args.postgres else 0.0
                    machine["badge"] = [a + b - c for a, b, c in zip(machine["badge"], machine_cpu(), machine_before,
                                                                        strict=True)]
                    badge_posts += posts
                    badge_count, badge_time = badge_count + len(flows), badge_time + elapsed
                    badge_flows += flows
                    badge_failures += failed
                    samples += sampled[:1]
                    badge_rate_now = f", (c) {len(flows) / elapsed:.1f} badge sign-ins/s"
                print(f"round {round_number}: (a) {count / raw_elapsed:.0f} binds/s, "
                      f"(b) {round_password_rate:.1f} sign-ins/s{badge_rate_now}", flush=True)
            raw_rate, porth_rate = raw_count / raw_time, porth_count / porth_time
            print(f"(a) raw LDAP simple binds:   {raw_rate:7.1f} /s   {describe(raw_latencies)}")
            print(f"(b) porth sign-ins (flow):   {porth_rate:7.1f} /s   {describe(all_flows)}"
                  f"   ratio to (a): {porth_rate / raw_rate:.0%}")
            print(f"    credentials POST alone:              {describe(all_posts)}")
            print(f"    failed flows: {failures}")
            if args.badges:
                badge_rate = badge_count / badge_time
                print(f"(c) porth badge sign-ins:    {badge_rate:7.1f} /s   {describe(badge_flows)}"
                      f"   {badge_rate / porth_rate:.1f}x the password sign-ins of (b) (target: 3x)")
                print(f"    badge POST alone:                    {describe(badge_posts)}")
                print(f"    failed badge flows: {badge_failures}")
            per_bind = {k: cpu[k] / raw_count * 1000 for k in ("raw slapd", "raw clients")}
            per_sign_in = {k: cpu[k] / porth_count * 1000 for k in ("slapd", "porth", "browsers", "postgres")}
            print(f"    CPU per raw bind:  slapd {per_bind['raw slapd']:.2f} ms, "
                  f"clients {per_bind['raw clients']:.2f} ms;  total {sum(per_bind.values()):.2f} ms")
            busy = {k: busy / (busy + idle) for k, (busy, idle) in machine.items()}
            print(f"    machine busy: {busy['raw']:.0%} during (a), {busy['porth']:.0%} during (b)"
                  + (f", {busy['badge']:.0%} during (c)" if args.badges else ""))
            print(f"    CPU per sign-in:   slapd {per_sign_in['slapd']:.2f} ms, "
                  f"porth serve {per_sign_in['porth']:.2f} ms, browsers {per_sign_in['browsers']:.2f} ms"
                  + (f", PostgreSQL {per_sign_in['postgres']:.2f} ms" if args.postgres else "")
                  + f";  total {sum(per_sign_in.values()):.2f} ms")
            if args.badges and badge_count:
                # Where the two cores go per badge sign-in, the figure that bounds (c) against (b).
                per_badge = {k: cpu["badge " + k] / badge_count * 1000 for k in ("slapd", "porth", "browsers",
                                                                               "postgres")}
                print(f"    CPU per badge sign-in: slapd {per_badge['slapd']:.2f} ms, "
                      f"porth serve {per_badge['porth']:.2f} ms, browsers {per_badge['browsers']:.2f} ms"
                      + (f", PostgreSQL {per_badge['postgres']:.2f} ms" if args.postgres else "")
                      + f";  total {sum(per_badge.values()):.2f} ms"
                      f" ({sum(per_sign_in.values()) / sum(per_badge.values()):.1f}x less than a password sign-in)")
            if args.badges:
                # What a badge sign-in's CPU in porth serve is made of: a bare request (gunicorn, the
                # access log, Flask's request cycle, the app's after-request hooks), the first request
                # (AuthnRequest checked, replay ledger, the sign-in page), and what is left: the POST.
                parts = {}
                for part in ("livez", "page"):
                    porth_before = group_cpu(server.pid)
                    done, _posts, _failed, _sampled, _elapsed, _cpu = browser_flows(
                        idp_url, service.entity_id, service.acs_url, tokens, args.clients, min(args.seconds, 5),
                        args.client_processes, part=part)
                    parts[part] = (group_cpu(server.pid) - porth_before) / max(1, len(done)) * 1000
                flow = per_badge["porth"]
                print(f"    porth serve per badge sign-in, {flow:.2f} ms: a bare request (/livez) "
                      f"{parts['livez']:.2f} ms; AuthnRequest -> sign-in page {parts['page']:.2f} ms; "
                      f"so the badge POST {flow - parts['page']:.2f} ms")
            valid = 0
            for page in samples:
                auth = service.accept(posted_form(page) or PostedForm("", {}), None)
                valid += auth.is_authenticated() and not auth.get_errors()
            print(f"    Responses validated by python3-saml (strict): {valid}/{len(samples)}")
        finally:
            if server is not None and server.poll() is None:
                os.killpg(server.pid, 2)
                server.wait(timeout=30)
            slapd.stop()
            if scratch_database:
                _drop_database(args.postgres, scratch_database)


if __name__ == "__main__":
    main()
