"""The private slapd's data as LDIF: slapcat for a backup, slapadd for a restore.

slapcat reads the MDB database in one read transaction, so its LDIF is consistent while slapd
runs and writes (back-mdb: readers never block and never see half a write; slapcat(8): "It is
always safe to run slapcat with the slapd-mdb(5) ... backends"). It is run with -F on the
instance's own cn=config, so it reads the same database slapd serves. The LDIF keeps every
operational attribute slapd stores (entryUUID, entryCSN, the ppolicy lock-out and lastbind
times, the Argon2 hashes): an account restored is the same account, and the persistent NameIDs
made from its id are the same.

cn=config itself is not in the LDIF: a restore builds it fresh from Porth's template
(PrivateSlapd.configure) with the restored bind password, then slapadds the data into the
stopped server, which is what slapadd(8) requires.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from directory.errors import SlapdError
from directory.slapd import PrivateSlapd


def find_binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise SlapdError(f"{name} is not installed: run `make install` (Debian packages slapd ldap-utils)")
    return path


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def dump_directory(slapd: PrivateSlapd, ldif: Path) -> None:
    """Write the directory's entries (the suffix's database, not cn=config) to `ldif`."""
    if not slapd.is_configured:
        raise SlapdError(f"there is no private directory in {slapd.root} to back up")
    result = subprocess.run(
        [find_binary("slapcat"), "-F", str(slapd.config_dir), "-b", slapd.suffix, "-l", str(ldif)],
        capture_output=True, text=True, timeout=3600, check=False,  # its exit status is read below
    )
    if result.returncode != 0:
        raise SlapdError(f"slapcat could not read the directory: {last_line(result.stderr) or result.returncode}")


def load_directory(slapd: PrivateSlapd, ldif: Path) -> None:
    """Load `ldif` into a private slapd that is configured fresh and stopped (slapadd writes the
    database files directly, which a running slapd would not see and could corrupt)."""
    if slapd.is_running:
        raise SlapdError(f"the private slapd runs (pid {slapd.pid()}): stop it first with `porth directory stop`")
    if any(slapd.data_dir.glob("*.mdb")):
        raise SlapdError(f"{slapd.data_dir} already holds a directory: a restore loads only into a fresh one")
    slapd.configure()
    result = subprocess.run(
        # -q: no per-entry consistency checks (the LDIF came from slapcat of a valid directory),
        # several times faster on a nation's accounts; a restore that fails is run again from scratch.
        [find_binary("slapadd"), "-q", "-F", str(slapd.config_dir), "-b", slapd.suffix, "-l", str(ldif)],
        capture_output=True, text=True, timeout=3600, check=False,  # its exit status is read below
    )
    if result.returncode != 0:
        raise SlapdError(f"slapadd could not load the directory: {last_line(result.stderr) or result.returncode}")
