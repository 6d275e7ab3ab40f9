"""A private slapd for the demo and the tests (never Debian's system service).

Everything lives under one folder (``var/slapd`` by default): the cn=config
tree built with ``slapadd -n0`` from ``config/ldap/slapd-config.ldif.in``,
the MDB database, the pid file. The server listens only on the address given
(127.0.0.1 by default) and on an ldapi socket in the folder when the path is
short enough for a Unix socket.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from directory import replication as repl
from directory.errors import SlapdError
from directory.ldap.mapping import ACCOUNT_ATTRIBUTES, DirectoryTree
from directory.rules.lifecycle import SIGN_IN_TIME_PRECISION

_log = logging.getLogger(__name__)
SYSTEM_SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_PATH = Path("/usr/lib/ldap")
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux
_DATABASE_DN = "olcDatabase={1}mdb,cn=config"  # Porth's one database (config/ldap/slapd-config.ldif.in)


def _ssha(password: str) -> str:
    """{SSHA} for olcRootPW: cn=config cannot depend on a module to check it."""
    salt = os.urandom(8)
    # {SSHA} is salted SHA-1 by definition: the one scheme slapd checks without loading a module.
    digest = hashlib.sha1(password.encode("utf-8") + salt).digest()  # noqa: S324 - see above
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def _find_binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise SlapdError(f"{name} is not installed: run `make install` (Debian packages slapd ldap-utils)")
    return path


@dataclass
class PrivateSlapd:
    root: Path
    host: str
    port: int
    suffix: str
    root_dn: str
    root_password: str
    no_sync: bool = False
    max_size: int = 8 * 1024**3
    # Its place in a replicated directory (directory/replication.py): standalone by default.
    replication: repl.Replication = field(default_factory=repl.Replication)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()

    # -- paths ---------------------------------------------------------------
    @property
    def config_dir(self) -> Path:
        return self.root / "slapd.d"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def pid_file(self) -> Path:
        return self.root / "slapd.pid"

    @property
    def socket_path(self) -> Path:
        return self.root / "ldapi"

    @property
    def url(self) -> str:
        return f"ldap://{self.host}:{self.port}"

    def listen_urls(self) -> str:
        urls = [f"ldap://{self.host}:{self.port}/"]
        if len(str(self.socket_path)) <= _MAX_SOCKET_PATH:
            urls.append("ldapi://" + urllib.parse.quote(str(self.socket_path), safe=""))
        return " ".join(urls)

    # -- configuration -------------------------------------------------------
    @property
    def is_configured(self) -> bool:
        return (self.config_dir / "cn=config.ldif").exists()

    @property
    def identity(self) -> repl.Identity:
        """Whom this node binds as at the providers: Porth's service DN, the root DN of every node."""
        return repl.Identity(self.root_dn, self.root_password)

    def render_config(self) -> str:
        standalone = self._render({})
        overlays = sum(1 for database, _overlay, _attributes in _overlay_records(standalone)
                       if database == _DATABASE_DN)
        return self._render(repl.template_values(self.replication, self.suffix, self.identity, _DATABASE_DN,
                                                 next_overlay=overlays))

    def _render(self, replication_values: dict[str, str]) -> str:
        tree = DirectoryTree(self.suffix)
        template = string.Template(
            files("config").joinpath("ldap/slapd-config.ldif.in").read_text("utf-8")
        )
        empty = dict.fromkeys(repl.template_values(repl.Replication(), "", self.identity, "", 0), "")
        return template.substitute(
            **{**empty, **replication_values},
            pid_file=self.pid_file,
            args_file=self.root / "slapd.args",
            module_path=MODULE_PATH,
            system_schema_dir=SYSTEM_SCHEMA_DIR,
            porth_schema=files("config").joinpath("ldap/porth-schema.ldif"),
            uid=os.getuid(),
            gid=os.getgid(),
            suffix=self.suffix,
            # Where the unique overlay and the password policy apply: the DN scheme's (directory/ldap/mapping.py).
            people_dn=tree.people,
            names_attribute=ACCOUNT_ATTRIBUTES["names"],
            upn_hash_attribute=ACCOUNT_ATTRIBUTES["upn_hash"],
            default_policy_dn=tree.default_policy,
            sign_in_precision_seconds=int(SIGN_IN_TIME_PRECISION.total_seconds()),
            root_dn=self.root_dn,
            root_pw_hash=_ssha(self.root_password),
            data_dir=self.data_dir,
            max_size=self.max_size,
            no_sync="TRUE" if self.no_sync else "FALSE",
        )

    def configure(self) -> None:
        """Build cn=config with slapadd -n0 (only when not configured yet)."""
        if self.is_configured:
            return
        slapadd = _find_binary("slapadd")
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = self.root / "slapd.d.new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        self.data_dir.mkdir(exist_ok=True, mode=0o700)
        ldif = self.root / "config.ldif"
        fd = os.open(ldif, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.render_config())
        try:
            result = subprocess.run(
                [slapadd, "-n0", "-F", str(staging), "-l", str(ldif)],
                capture_output=True, text=True, timeout=60, check=False,  # its exit status is read below
            )
        finally:
            ldif.unlink(missing_ok=True)  # it holds the root password hash
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise SlapdError(f"slapadd could not build the slapd configuration: {_last_line(result.stderr)}")
        # Renamed into place only when complete: a killed configure is redone.
        staging.rename(self.config_dir)

    # -- process -------------------------------------------------------------
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if process_alive(pid) else None

    @property
    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float = 15.0) -> bool:
        """Start slapd unless it already runs; True if this call started it."""
        if self.is_running:
            return False
        self.configure()
        slapd = _find_binary("slapd")
        self.pid_file.unlink(missing_ok=True)
        if self.socket_path.exists():
            self.socket_path.unlink()
        if _port_in_use(self.host, self.port):
            raise SlapdError(
                f"cannot start the private slapd: {self.host}:{self.port} is already in use "
                "(another program? set PORTH_LDAP__EMBEDDED_PORT)"
            )
        # slapd forks into the background once it listens; its exit status
        # tells whether the configuration loaded.
        result = subprocess.run(
            [slapd, "-F", str(self.config_dir), "-h", self.listen_urls()],
            capture_output=True, text=True, timeout=timeout, check=False,  # its exit status is read below
        )
        if result.returncode != 0:
            reason = _last_line(result.stderr) or f"exit status {result.returncode}"
            raise SlapdError(f"slapd did not start: {reason}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is not None and self._answers():
                # cn=config is built once (configure): what a newer Porth adds to it reaches an
                # existing instance here, schema first (a new index may name a new attribute).
                for upgraded in (self.add_missing_schema(), self.add_missing_config(), self.add_missing_overlays(),
                                 self.align_replication()):
                    if upgraded:
                        _log.info("brought the private slapd's configuration up to date: %s", "; ".join(upgraded))
                return True
            time.sleep(0.02)
        raise SlapdError(f"slapd did not answer on {self.url} within {timeout:.0f} s")

    def _answers(self) -> bool:
        """slapd listens on each of its URLs. It binds them all before it forks but calls
        listen() on each in turn afterwards: the TCP port can answer while the ldapi socket
        file exists and still refuses (CI saw the schema upgrade fail so, errno 111)."""
        if not _port_in_use(self.host, self.port):
            return False
        return "ldapi://" not in self.listen_urls() or _socket_accepts(self.socket_path)

    def add_missing_schema(self) -> list[str]:
        """Add the attribute types and object classes of Porth's schema that this
        instance lacks, and widen the object classes a newer Porth widened: one
        configured by an older Porth keeps working after an upgrade. Nothing is
        dropped (slapd cannot drop schema in use); over ldapi as the owner of the
        process; returns the names added or widened."""
        if not self.socket_path.exists():
            return []
        import ldap
        import ldap.modlist

        wanted = _schema_elements(files("config").joinpath("ldap/porth-schema.ldif").read_text("utf-8"))
        conn = ldap.initialize("ldapi://" + urllib.parse.quote(str(self.socket_path), safe=""))
        try:
            conn.sasl_non_interactive_bind_s("EXTERNAL")
            [(dn, current)] = conn.search_s("cn=schema,cn=config", ldap.SCOPE_ONELEVEL, "(cn=*porth)",
                                            ["olcAttributeTypes", "olcObjectClasses"])
            added = []
            for attribute in ("olcAttributeTypes", "olcObjectClasses"):
                have = {_schema_name(v.decode("utf-8")) for v in current.get(attribute, [])}
                missing = [v for v in wanted[attribute] if _schema_name(v) not in have]
                if missing:
                    conn.modify_s(dn, [(ldap.MOD_ADD, attribute, [v.encode("utf-8") for v in missing])])
                    added += [_schema_name(v) for v in missing]
            # An object class a newer Porth widened (a new MAY: porthAccount gained the
            # dual-registration attributes in issue 13) is replaced in place, keeping its
            # position {n}: Porth's schema changes only ever allow more, so every stored entry
            # stays valid. One modify per class, so slapd never sees the class missing.
            defined = {_schema_name(v): v for v in wanted["olcObjectClasses"]}
            for stored in current.get("olcObjectClasses", []):
                position, definition = _ordered_value(stored.decode("utf-8"))
                newer = defined.get(_schema_name(definition))
                if newer is not None and " ".join(definition.split()) != newer:
                    conn.modify_s(dn, [(ldap.MOD_DELETE, "olcObjectClasses", [stored]),
                                       (ldap.MOD_ADD, "olcObjectClasses", [f"{position}{newer}".encode()])])
                    added.append(_schema_name(newer))
            return added
        except ldap.LDAPError as exc:
            raise SlapdError(f"cannot bring the slapd schema up to date: {exc}") from None
        finally:
            conn.unbind_s()

    def add_missing_config(self) -> list[str]:
        """Add the cn=config values of config/ldap/slapd-config.ldif.in that this instance lacks
        (an index, a uniqueness domain of the unique overlay): slapd applies them live, indexing
        what is already stored. Only the additive settings of _ADDITIVE_CONFIG are compared, by
        the attribute they are about; returns them as "setting: value"."""
        if not self.socket_path.exists():
            return []
        import ldap

        wanted = _additive_config(self.render_config())
        conn = ldap.initialize("ldapi://" + urllib.parse.quote(str(self.socket_path), safe=""))
        added = []
        try:
            conn.sasl_non_interactive_bind_s("EXTERNAL")
            for dn, settings in wanted.items():
                [(_dn, current)] = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", list(settings))
                for setting, values in settings.items():
                    about = _ADDITIVE_CONFIG[setting]
                    have = {about(v.decode("utf-8")) for v in current.get(setting, [])}
                    missing = [v for v in values if about(v) not in have]
                    if missing:
                        conn.modify_s(dn, [(ldap.MOD_ADD, setting, [v.encode("utf-8") for v in missing])])
                        added += [f"{setting}: {v}" for v in missing]
            return added
        except ldap.LDAPError as exc:
            raise SlapdError(f"cannot bring the slapd configuration up to date: {exc}") from None
        finally:
            conn.unbind_s()

    def add_missing_overlays(self) -> list[str]:
        """Add the overlays of config/ldap/slapd-config.ldif.in that this instance's database lacks
        (sssvlv came with issue 16), each as one entry with its settings, after the overlays it
        has: slapd starts an overlay added live at once. Its module is loaded first
        (add_missing_config adds the olcModuleLoad value). Returns the overlays added."""
        if not self.socket_path.exists():
            return []
        import ldap
        import ldap.modlist

        wanted = _overlay_records(self.render_config())
        conn = ldap.initialize("ldapi://" + urllib.parse.quote(str(self.socket_path), safe=""))
        added = []
        try:
            conn.sasl_non_interactive_bind_s("EXTERNAL")
            for database in {database for database, _overlay, _attributes in wanted}:
                have = {_unordered(v.decode("utf-8")).lower()
                        for _dn, entry in conn.search_s(database, ldap.SCOPE_ONELEVEL, "(objectClass=olcOverlayConfig)",
                                                        ["olcOverlay"]) for v in entry.get("olcOverlay", [])}
                for overlay_database, overlay, attributes in wanted:
                    if overlay_database != database or overlay.lower() in have:
                        continue
                    # No {n} in the new entry: slapd numbers it after the overlays already there.
                    entry = {**attributes, "olcOverlay": [overlay]}
                    conn.add_s(f"olcOverlay={overlay},{database}", ldap.modlist.addModlist(
                        {name: [v.encode("utf-8") for v in values] for name, values in entry.items()}))
                    added.append(f"overlay {overlay}")
            return added
        except ldap.LDAPError as exc:
            raise SlapdError(f"cannot add the missing slapd overlays: {exc}") from None
        finally:
            conn.unbind_s()

    def align_replication(self) -> list[str]:
        """Give this instance the replication settings of its role (directory/replication.py): a
        standalone instance made by an older Porth, or before the LA replicated it, becomes a
        provider or a consumer in place, keeping its data (a consumer's is then replaced by its
        providers' in the first refresh). Also brings the provider list and the replication
        password in line when the settings change. Runs after add_missing_config and
        add_missing_overlays, which add the modules and the syncprov and chain overlays. Nothing
        is taken away: a node leaves replication by being rebuilt. Returns what it changed, in
        words that never hold the password."""
        wanted = self.replication
        if not wanted.replicating or not self.socket_path.exists():
            return []
        import ldap

        changed: list[str] = []
        conn = ldap.initialize("ldapi://" + urllib.parse.quote(str(self.socket_path), safe=""))
        try:
            conn.sasl_non_interactive_bind_s("EXTERNAL")

            def current(dn: str, attribute: str) -> list[str]:
                [(_dn, entry)] = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", [attribute])
                return [value.decode("utf-8") for value in entry.get(attribute, [])]

            def replace(dn: str, attribute: str, values: list[str], said: str) -> None:
                conn.modify_s(dn, [(ldap.MOD_REPLACE, attribute, [v.encode("utf-8") for v in values])])
                changed.append(said)

            if wanted.role == "provider" and current("cn=config", "olcServerID") != [str(wanted.server_id)]:
                replace("cn=config", "olcServerID", [str(wanted.server_id)], f"server id {wanted.server_id}")
            syncrepl = repl.syncrepl_values(wanted, self.suffix, self.identity)
            if syncrepl and not _same_settings(current(_DATABASE_DN, "olcSyncrepl"), syncrepl):
                replace(_DATABASE_DN, "olcSyncrepl", [_unordered(v) for v in syncrepl],
                        "replication from " + " ".join(wanted.providers))
            if wanted.multi_provider and current(_DATABASE_DN, "olcMultiProvider") != ["TRUE"]:
                replace(_DATABASE_DN, "olcMultiProvider", ["TRUE"], "multi-provider")
            if wanted.role == "consumer":
                if current(_DATABASE_DN, "olcUpdateRef") != list(wanted.providers):
                    replace(_DATABASE_DN, "olcUpdateRef", list(wanted.providers),
                            "writes referred to " + " ".join(wanted.providers))
                for overlay, attribute in (("ppolicy", "olcPPolicyForwardUpdates"),
                                           ("lastbind", "olcLastBindForwardUpdates")):
                    dn = self._overlay_dn(conn, _DATABASE_DN, overlay)
                    if current(dn, attribute) != ["TRUE"]:
                        replace(dn, attribute, ["TRUE"], f"{overlay} forwards its updates")
                changed += self._align_chain(conn)
            return changed
        except ldap.LDAPError as exc:
            raise SlapdError(f"cannot configure the private slapd's replication: {_reason(exc)}") from None
        finally:
            conn.unbind_s()

    @staticmethod
    def _overlay_dn(conn, database: str, overlay: str) -> str:
        import ldap

        for dn, entry in conn.search_s(database, ldap.SCOPE_ONELEVEL, "(objectClass=olcOverlayConfig)",
                                       ["olcOverlay"]):
            if any(_unordered(v.decode("utf-8")).lower() == overlay for v in entry.get("olcOverlay", [])):
                return dn
        raise SlapdError(f"the private slapd has no {overlay} overlay on {database}")

    def _align_chain(self, conn) -> list[str]:
        """One chain database per provider, each binding with the current password."""
        import ldap
        import ldap.modlist

        overlay = self._overlay_dn(conn, "olcDatabase={-1}frontend,cn=config", "chain")
        have = {}
        for dn, entry in conn.search_s(overlay, ldap.SCOPE_ONELEVEL, "(objectClass=olcLDAPConfig)",
                                       ["olcDbURI", "olcDbIDAssertBind"]):
            assertions = [v.decode("utf-8") for v in entry.get("olcDbIDAssertBind", [])]
            for uri in entry.get("olcDbURI", []):
                have[uri.decode("utf-8").strip('"')] = (dn, assertions)
        changed = []
        for url in self.replication.providers:
            entry = repl.chain_database_entry(url, self.identity)
            if url not in have:
                # No {n}: slapd numbers it after the databases already there.
                conn.add_s(f"olcDatabase=ldap,{overlay}", ldap.modlist.addModlist(
                    {name: [v.encode("utf-8") for v in values] for name, values in
                     {**entry, "olcDatabase": ["ldap"]}.items()}))
                changed.append(f"writes chained to {url}")
            elif not _same_settings(have[url][1], entry["olcDbIDAssertBind"]):
                conn.modify_s(have[url][0], [(ldap.MOD_REPLACE, "olcDbIDAssertBind",
                                              [v.encode("utf-8") for v in entry["olcDbIDAssertBind"]])])
                changed.append(f"chain to {url}: new credentials")
        return changed

    def peer_states(self, timeout: float = 2.0) -> list[PeerState]:
        """How this node stands with each provider it replicates from: whether it answers, and
        whether it has changes this node has not received yet (their contextCSNs compared)."""
        own = _context_csns(self.url, self.suffix, self.identity, timeout)
        states = []
        for url in self.replication.providers:
            try:
                theirs = _context_csns(url, self.suffix, self.identity, timeout)
            except SlapdError as exc:
                states.append(PeerState(url, answers=False, behind=False, detail=str(exc)))
                continue
            states.append(PeerState(url, answers=True, behind=not _covers(own, theirs), detail=""))
        return states

    def wait_in_step(self, timeout: float) -> list[PeerState]:
        """Wait until this node has what every provider that answers has (its first refresh, or the
        changes made while it was down); returns the last states seen. Not a failure when time runs
        out: the caller says which provider it is still behind."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.peer_states()
            if not any(state.behind for state in states) or time.monotonic() >= deadline:
                return states
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop slapd (SIGTERM, then wait); True if it was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        # slapd removes its pid file early in shutdown and only then closes the
        # database: wait for the process itself, or a restart could find the
        # port or the MDB environment still held.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process_alive(pid):
            time.sleep(0.05)
        if process_alive(pid):
            with contextlib.suppress(ProcessLookupError):  # it ended just now
                os.kill(pid, signal.SIGKILL)
        self.wait_released(pid, max(deadline - time.monotonic(), 1.0))
        return True

    def wait_released(self, pid: int, timeout: float = 15.0) -> bool:
        """Wait until the process `pid` (this server's, stopped or killed) has ended and its port
        accepts no more connections; False if that took longer than `timeout`. The kernel may
        close a dead process's sockets a moment after its last thread has gone."""
        deadline = time.monotonic() + timeout
        while process_alive(pid) or _port_in_use(self.host, self.port):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True


@dataclass(frozen=True)
class PeerState:
    url: str
    answers: bool
    behind: bool  # the provider has changes this node has not received
    detail: str  # why it does not answer

    def describe(self) -> str:
        if not self.answers:
            return f"{self.url} does not answer ({self.detail})"
        return f"behind {self.url} (it has changes not received yet)" if self.behind else f"in step with {self.url}"


def _context_csns(url: str, suffix: str, identity: repl.Identity, timeout: float) -> dict[str, str]:
    """The newest change of each server id that a node holds (its suffix's contextCSN values)."""
    import ldap

    conn = ldap.initialize(url)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
    conn.set_option(ldap.OPT_TIMEOUT, timeout)
    try:
        conn.simple_bind_s(identity.dn, identity.password)
        found = conn.search_s(suffix, ldap.SCOPE_BASE, "(objectClass=*)", ["contextCSN"])
    except ldap.NO_SUCH_OBJECT:
        return {}
    except ldap.LDAPError as exc:
        raise SlapdError(_reason(exc)) from None
    finally:
        conn.unbind_s()
    newest: dict[str, str] = {}
    for value in (found[0][1].get("contextCSN", []) if found else []):
        csn = value.decode("ascii")
        server_id = csn.split("#")[2] if csn.count("#") == 3 else ""
        newest[server_id] = max(newest.get(server_id, ""), csn)
    return newest


def _covers(own: dict[str, str], theirs: dict[str, str]) -> bool:
    """Whether a node holds every change another holds: a CSN as new for each server id (CSNs of
    one server id sort by time)."""
    return all(own.get(server_id, "") >= csn for server_id, csn in theirs.items())


def _same_settings(stored: list[str], wanted: list[str]) -> bool:
    """Whether slapd holds these `name=value ...` values (olcSyncrepl, olcDbIDAssertBind), in
    order, as far as Porth sets them: slapd may add its defaults and quote otherwise."""
    if len(stored) != len(wanted):
        return False
    for have, want in zip(stored, wanted, strict=True):
        have_settings, want_settings = repl.syncrepl_settings(have), repl.syncrepl_settings(want)
        if any(have_settings.get(name) != value for name, value in want_settings.items()):
            return False
    return True


def _reason(exc: Exception) -> str:
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return " ".join(str(detail.get("info") or detail.get("desc") or exc).split())


def _indexed_attribute(value: str) -> str:
    """`porthUpnHash eq` -> porthupnhash"""
    return value.split(maxsplit=1)[0].lower()


def _unique_attributes(value: str) -> str:
    """`serialize ldap:///ou=people,dc=x?porthUpnHash?sub` -> porthupnhash (its domain's attributes)"""
    uri = value.rsplit(maxsplit=1)[-1]
    return uri.split("?")[1].lower() if "?" in uri else uri.lower()


def _unordered(value: str) -> str:
    """`{3}sssvlv` -> sssvlv: a cn=config value or RDN without its position."""
    return re.sub(r"^\{\d+\}", "", value)


# The cn=config settings an upgrade may add to (each value stands alone: adding one changes
# nothing else), and what a value is about, so one already there in slapd's spelling counts.
_ADDITIVE_CONFIG: dict[str, Callable[[str], str]] = {
    "olcDbIndex": _indexed_attribute,
    "olcUniqueURI": _unique_attributes,
    # A module a newer Porth loads (sssvlv, issue 16): `{4}lastbind` -> lastbind.
    "olcModuleLoad": lambda value: _unordered(value).lower(),
}


def _additive_config(ldif_text: str) -> dict[str, dict[str, list[str]]]:
    """Per DN of a cn=config LDIF, the values of its _ADDITIVE_CONFIG settings."""
    found: dict[str, dict[str, list[str]]] = {}
    for dn, attributes in _ldif_records(ldif_text):
        for name, values in attributes.items():
            if name in _ADDITIVE_CONFIG:
                found.setdefault(dn, {})[name] = values
    return found


def _ldif_records(ldif_text: str) -> Iterator[tuple[str, dict[str, list[str]]]]:
    """Each record of a cn=config LDIF: its DN and its attributes' values (unfolded, no comments)."""
    for record in re.sub(r"\n ", "", ldif_text.replace("\r\n", "\n")).split("\n\n"):
        lines = [line for line in record.splitlines() if line and not line.startswith("#")]
        if not lines or not lines[0].startswith("dn: "):
            continue
        attributes: dict[str, list[str]] = {}
        for line in lines[1:]:
            name, _sep, value = line.partition(": ")
            attributes.setdefault(name, []).append(value)
        yield lines[0][len("dn: "):], attributes


def _overlay_records(ldif_text: str) -> list[tuple[str, str, dict[str, list[str]]]]:
    """The overlays of a cn=config LDIF: (the database's DN, the overlay's name, its attributes)."""
    found = []
    for dn, attributes in _ldif_records(ldif_text):
        rdn, _sep, database = dn.partition(",")
        if rdn.startswith("olcOverlay="):
            found.append((database, _unordered(rdn[len("olcOverlay="):]), attributes))
    return found


def _schema_elements(ldif_text: str) -> dict[str, list[str]]:
    """The olcAttributeTypes and olcObjectClasses values of a cn=config schema LDIF, unfolded."""
    unfolded = re.sub(r"\n ", "", ldif_text.replace("\r\n", "\n"))
    elements: dict[str, list[str]] = {"olcAttributeTypes": [], "olcObjectClasses": []}
    for line in unfolded.splitlines():
        name, _sep, value = line.partition(": ")
        if name in elements:
            elements[name].append(" ".join(value.split()))
    return elements


def _ordered_value(value: str) -> tuple[str, str]:
    """`{3}( PorthClass:1 ...)` -> ("{3}", "( PorthClass:1 ...)"): cn=config's ordered values."""
    found = re.match(r"(\{\d+\})(.*)", value, re.DOTALL)
    return (found.group(1), found.group(2)) if found else ("", value)


def _schema_name(definition: str) -> str:
    found = re.search(r"NAME '([^']+)'", definition)
    return found.group(1).lower() if found else definition


def process_alive(pid: int) -> bool:
    """True while any thread of the process still runs (it is not yet a zombie awaiting its reaper).

    Every thread counts, not only the first: a killed slapd's first thread is a zombie while its
    other threads are still being torn down, and until the last one goes its sockets stay open, so
    its port still accepts connections (and then resets them) and a restart finds it in use."""
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return False
    return any(_thread_running(thread) for thread in threads)


def _thread_running(thread: Path) -> bool:
    try:
        state = (thread / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False  # the thread ended between the listing and this read
    return state not in ("Z", "X")


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


def _socket_accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(str(path)) == 0


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def private_slapd_for(settings) -> PrivateSlapd:  # settings: config.settings.Settings
    """The private slapd the settings describe (embedded mode)."""
    return PrivateSlapd(
        root=settings.slapd_dir,
        host=settings.ldap.embedded_host,
        port=settings.ldap.embedded_port,
        suffix=settings.ldap.base_dn,
        root_dn=settings.ldap.effective_bind_dn,
        root_password=settings.ldap.bind_password.get_secret_value(),
        no_sync=settings.ldap.embedded_no_sync,
        replication=repl.Replication(role=settings.ldap.embedded_role, server_id=settings.ldap.embedded_server_id,
                                     providers=tuple((settings.ldap.replicate_from or "").split())),
    )
