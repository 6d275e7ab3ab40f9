"""Provisioning speed against the raw slapd limit, measured in the same run.

    .venv/bin/python bench/provision.py [--schools 20] [--seed 7] [--no-sync]
    .venv/bin/python bench/provision.py --wales          # the national scale (hours with durable commits)

Generates Porth CSV exports for the schools, then on scratch private slapds
with the same configuration measures:
  (a) the raw limit: the same account entries (cleartext passwords, hashed
      by slapd with Argon2 as Porth's are) added by `ldapadd`;
  (b) Porth's initial load: `porth provision` of the exports;
  (c) a rerun with no change (must write nothing);
  (d) a rerun after 1 % of records changed: new year groups, leavers,
      joiners and transfers between schools.
It prints records/s, the peak memory of the `porth provision` process and
the ratio of (b) to (a). Not a test: record the figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.mis.records import UpnField  # noqa: E402
from demo import exports as demo_exports  # noqa: E402
from demo.files import write_demo_exports  # noqa: E402
from directory.ldap.mapping import ACCOUNT_OBJECT_CLASSES, OBJECT_CLASS, A, DirectoryTree  # noqa: E402
from directory.rules import usernames  # noqa: E402
from directory.rules.vault import PasswordVault  # noqa: E402
from directory.school_register import add_register, parse_register  # noqa: E402
from directory.slapd import PrivateSlapd  # noqa: E402
from directory.store import DirectoryConfig, DirectoryStore  # noqa: E402
from tests.conftest import free_port  # noqa: E402

BASE = "dc=porth"
TREE = DirectoryTree(BASE)
ROOT_DN = f"cn=porth,{BASE}"
UPN_KEY = "bench-upn-hash-key-" + "x" * 24
# {SSHA} of "Tiger4821": slapadd stores what it is given, so a preload carries a hash.
SSHA_TIGER = "{SSHA}" + base64.b64encode(__import__("hashlib").sha1(b"Tiger4821" + b"saltsalt").digest()
                                          + b"saltsalt").decode()


def slapd_in(folder: Path, password: str, no_sync: bool) -> PrivateSlapd:
    server = PrivateSlapd(folder, "127.0.0.1", free_port(), BASE, ROOT_DN, password, no_sync=no_sync)
    server.start()
    return server


def store_for(server: PrivateSlapd) -> DirectoryStore:
    return DirectoryStore(DirectoryConfig(url=server.url, base_dn=BASE, bind_dn=ROOT_DN,
                                          bind_password=server.root_password, mail_domain="hwbcymru.net"),
                          PasswordVault(PasswordVault.new_key()))


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"), newline="")))


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8-sig")


def _ldif_value(name: str, value: str) -> str:
    if value.isascii() and not value.startswith((" ", ":", "<")):
        return f"{name}: {value}"
    return f"{name}:: {base64.b64encode(value.encode()).decode()}"


def accounts_ldif(exports: Path, vault: PasswordVault, hashed_password: str | None = None) -> tuple[str, int]:
    """The entries Porth's initial load writes, as LDIF for ldapadd (the raw limit)."""
    taken: dict[str, int] = {}
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%SZ")
    today = datetime.now(UTC).date().isoformat()
    entries = []
    for folder in sorted(p for p in exports.iterdir() if p.is_dir()):
        people = []
        for row in read_csv(folder / "learners.csv"):
            upn = UpnField.from_raw(row["UPN"], UPN_KEY.encode())
            if upn.hash and row["Legal Surname"] and row["Admission Date"] <= today:
                people.append(("learner", row, {A["upn_hash"]: upn.hash, A["admission_number"]: row["Admission Number"],
                                                A["year_group"]: row["Year Group"],
                                                A["registration_group"]: row["Registration Group"]}))
        codes = [r["Staff Code"] for r in read_csv(folder / "staff.csv")]
        people.extend(("staff", row, {A["staff_code"]: row["Staff Code"]}) for row in read_csv(folder / "staff.csv")
                      if row["Staff Code"] and codes.count(row["Staff Code"]) == 1)
        for kind, row, extra in people:
            base = usernames.username_base(row["Legal Surname"], row["Legal Forename"])
            # Names are only ever base or base+N here, so a counter per base is enough
            # (next_free_username over half a million names would be quadratic).
            taken[base.casefold()] = taken.get(base.casefold(), 0) + 1
            name = usernames.candidate(base, taken[base.casefold()])
            password = "Tiger4821"
            entry_id = str(uuid.uuid4())
            full_name = f"{row['Legal Forename']} {row['Legal Surname']}"
            attributes = [
                *((OBJECT_CLASS, c) for c in ACCOUNT_OBJECT_CLASSES), (A["id"], entry_id),
                (A["username"], name), (A["names"], name), (A["mail"], f"{name}@hwbcymru.net"),
                (A["common_name"], full_name), (A["surname"], row["Legal Surname"]),
                (A["forename"], row["Legal Forename"]), (A["display_name"], full_name),
                (A["kind"], kind), (A["state"], "active"), (A["state_changed_at"], now),
                (A["state_changed_by"], "provisioning"), (A["state_reason"], "created"),
                (A["school"], row["DfES"]), (A["password_status"], "available"),
                (A["password_vault"], vault.seal(password)), (A["password"], hashed_password or password),
                *extra.items(), *((A["classes"], c.strip()) for c in row.get("Classes", "").split(";") if c.strip()),
            ]
            lines = [f"dn: {TREE.account(entry_id)}"] + [_ldif_value(k, v) for k, v in attributes if v]
            entries.append("\n".join(lines))
    return "\n\n".join(entries) + "\n", len(entries)


def change_one_percent(exports: Path, seed: int) -> dict[str, int]:
    """Year groups, leavers, joiners and transfers for 1 % of learner records."""
    rng = random.Random(f"change-{seed}")
    folders = sorted(p for p in exports.iterdir() if p.is_dir())
    files = {f: read_csv(f / "learners.csv") for f in folders}
    total = sum(len(rows) for rows in files.values())
    changes = {"year groups": 0, "leavers": 0, "joiners": 0, "transfers": 0}
    quota = max(4, total // 100)
    today = datetime.now(UTC).date()
    for step in range(quota):
        folder = rng.choice(folders)
        rows = [r for r in files[folder] if r["UPN"] and not r["Leaving Date"]]
        if not rows:
            continue
        row = rng.choice(rows)
        what = ("year groups", "leavers", "joiners", "transfers")[step % 4]
        if what == "year groups":
            row["Year Group"] = row["Year Group"] + "x"
        elif what == "leavers":
            row["Leaving Date"] = (today - timedelta(days=3)).isoformat()
        elif what == "joiners":
            number = f"9{len(files[folder]):05d}"
            body = f"{row['DfES']}99{len(files[folder]) % 1000:03d}"
            from directory.rules.upn import check_letter

            files[folder].append(row | {"Admission Number": number, "UPN": check_letter(body) + body,
                                        "Legal Forename": "Newydd", "Leaving Date": ""})
        else:
            target = rng.choice([f for f in folders if f != folder])
            files[target].append(row | {"Admission Number": f"8{len(files[target]):05d}", "DfES": target.name,
                                        "Admission Date": (today - timedelta(days=1)).isoformat()})
            row["Leaving Date"] = (today - timedelta(days=2)).isoformat()
        changes[what] += 1
    for folder, rows in files.items():
        write_csv(folder / "learners.csv", rows)
    return changes


PEAK_MEMORY_MIB: list[float] = []


def progress(line: str) -> None:
    """A phase's figure as soon as it is measured: a national run takes hours."""
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def _high_water_mark_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def porth(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run `porth ARGS`; its peak resident memory (VmHWM, read until it exits) goes to PEAK_MEMORY_MIB."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", *args], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, text=True)
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, _high_water_mark_mib(process.pid) or 0.0)
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
        out.seek(0)
        output = out.read()
    PEAK_MEMORY_MIB.append(peak)
    if process.returncode != 0:
        raise SystemExit(f"porth {' '.join(args)} failed ({process.returncode}):\n{output[-4000:]}")
    return elapsed, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=20)
    parser.add_argument("--wales", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-sync", action="store_true", help="olcDbNoSync on both slapds")
    parser.add_argument("--jobs", type=int, default=2, help="porth provision --jobs, and as many ldapadd processes")
    parser.add_argument("--preload", action="store_true",
                        help="skip (a) and (b): load the accounts offline with slapadd -q, then measure (c) and (d); "
                             "for the national scale, whose initial load is bound by Argon2 for hours")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="porth-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        specs = demo_exports.wales_specs(args.seed, "csv") if args.wales else demo_exports.school_specs(
            args.schools, args.seed, "csv", ("661", "662", "670", "681"))
        exports = scratch / "exports"
        write_demo_exports(exports, specs, args.seed, echo=lambda _line: None)
        progress(f"generated exports for {len(specs)} schools")
        schools, _ = parse_register("schools.csv", (exports / "schools.csv").read_bytes())
        password = secrets.token_urlsafe(16)
        vault = PasswordVault(PasswordVault.new_key())

        raw_seconds = initial = initial_memory = None
        if not args.preload:
            # (a) the raw limit: ldapadd of the same entries into a scratch slapd with the same config
            raw_server = slapd_in(scratch / "raw", password, args.no_sync)
            try:
                raw_store = store_for(raw_server)
                add_register(raw_store, schools)
                raw_store.close()
                ldif, entries = accounts_ldif(exports, vault)
                # As many ldapadd processes as Porth has jobs: the raw limit gets the same cores.
                parts = ldif.strip().split("\n\n")
                for part in range(args.jobs):
                    (scratch / f"people-{part}.ldif").write_text("\n\n".join(parts[part::args.jobs]) + "\n",
                                                                 encoding="utf-8")
                start = time.perf_counter()
                adders = [subprocess.Popen(["ldapadd", "-x", "-c", "-H", raw_server.url, "-D", ROOT_DN, "-w", password,
                                            "-f", str(scratch / f"people-{part}.ldif")],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                          for part in range(args.jobs)]
                if any(adder.wait() != 0 for adder in adders):
                    raise SystemExit("ldapadd failed")
                raw_seconds = time.perf_counter() - start
                progress(f"(a) measured: {entries} entries in {raw_seconds:.1f} s, "
                         f"{entries / raw_seconds:.0f} entries/s")
            finally:
                raw_server.stop()

        # (b), (c), (d): Porth on its own scratch slapd with the same config
        server = slapd_in(scratch / "porth", password, args.no_sync)
        try:
            store = store_for(server)
            add_register(store, schools)
            store.close()
            env = {k: v for k, v in os.environ.items() if not k.startswith("PORTH_")}
            env.update(PORTH_PROVISIONING__JOBS=str(args.jobs), PORTH_VAR_DIR=str(scratch / "var"),
                       PORTH_LDAP__URL=server.url, PORTH_LDAP__BASE_DN=BASE, PORTH_LDAP__BIND_DN=ROOT_DN,
                       PORTH_LDAP__BIND_PASSWORD=password, PORTH_SECRETS__UPN_HASH_KEY=UPN_KEY)
            records = sum(len(read_csv(f / "learners.csv")) + len(read_csv(f / "staff.csv"))
                          for f in exports.iterdir() if f.is_dir())
            if args.preload:
                server.stop()
                ldif, entries = accounts_ldif(exports, vault, hashed_password=SSHA_TIGER)
                (scratch / "people.ldif").write_text(ldif, encoding="utf-8")
                start = time.perf_counter()
                subprocess.run(["slapadd", "-q", "-F", str(server.config_dir), "-b", BASE,
                                "-l", str(scratch / "people.ldif")], check=True, capture_output=True)
                print(f"preloaded {entries} accounts with slapadd -q in {time.perf_counter() - start:.0f} s")
                server.start()
                # The first run after a preload still adds the teaching groups: not "no change".
                warm_up, _ = porth(["provision", str(exports)], env)
                print(f"first run after the preload (adds the groups): {warm_up:.0f} s")
            else:
                initial, _ = porth(["provision", str(exports)], env)
                initial_memory = PEAK_MEMORY_MIB[-1]
                progress(f"(b) measured: {initial:.1f} s, {entries / initial:.0f} accounts/s, "
                         f"peak {initial_memory:.0f} MiB")
            rerun, out = porth(["provision", str(exports)], env)
            totals = next(line for line in out.splitlines() if line.startswith("all ")).split()[2:6]
            if totals != ["0", "0", "0", "0"]:
                raise SystemExit(f"(c) the no-change rerun wrote something: {totals}")
            changed = change_one_percent(exports, args.seed)
            changed_run, changed_out = porth(["provision", str(exports)], env)
            peak = max(PEAK_MEMORY_MIB)
        finally:
            server.stop()

    durability = "olcDbNoSync" if args.no_sync else "durable commits"
    print(f"Porth provisioning bench: {len(specs)} schools, {records} MIS records, {entries} accounts, {durability}, "
          f"{args.jobs} jobs")
    if raw_seconds is not None:
        print(f"(a) raw ldapadd of the same {entries} entries: {raw_seconds:8.1f} s "
              f"{entries / raw_seconds:8.0f} entries/s")
        print(f"(b) porth initial load:                  {initial:8.1f} s {entries / initial:8.0f} accounts/s"
              f"  ratio to (a): {(entries / initial) / (entries / raw_seconds):.0%}"
              f"  (peak memory {initial_memory:.0f} MiB)")
    print(f"(c) rerun, no change:                    {rerun:8.1f} s {records / rerun:8.0f} records/s")
    print(f"(d) rerun, 1 % changed {changed}: {changed_run:.1f} s")
    # Issue 13: a learner released by one school and admitted by another moves in the same run
    # (the run's last pass), whatever the order the schools were applied in.
    moved = int(next(line for line in changed_out.splitlines() if line.startswith("all ")).split()[4])
    print(f"(d) transfers moved in the same run: {moved} of {changed['transfers']}")
    print(f"peak memory of porth provision: {peak:.0f} MiB")
    print("summary of (d):")
    print("\n".join(line for line in changed_out.splitlines() if line.startswith(("all", "school"))))


if __name__ == "__main__":
    main()
