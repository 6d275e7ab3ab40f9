"""Every connection Porth opens to the directory, with both client libraries, and the one
place where their errors become directory.errors.

- ldap3, through a small pool of connections bound as Porth: writes and small reads.
- python-ldap, whose C decoder reads entries about six times faster than ldap3
  (FACTS.md): paged bulk reads of whole schools, and the IdP's sign-ins, each thread
  keeping its own connections open (ThreadConnection) so no sign-in opens a socket.
"""

from __future__ import annotations

import logging
import math
import queue
import select
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import ldap as python_ldap
import ldap3
from ldap.controls import DecodeControlTuples, SimplePagedResultsControl
from ldap.controls.sss import SSSRequestControl
from ldap.controls.vlv import VLVRequestControl, VLVResponseControl
from ldap3.core import exceptions as lx

from directory import errors
from directory.ldap.config import DirectoryConfig

T = TypeVar("T")
_log = logging.getLogger(__name__)
_PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
# Server-side sorting (RFC 2891) and virtual list views (draft-ietf-ldapext-ldapv3-vlv):
# OpenLDAP's sssvlv overlay. A directory lists them in its root DSE's supportedControl.
SORTED_WINDOW_CONTROLS = (SSSRequestControl.controlType, VLVRequestControl.controlType)
# sssvlv keeps each VLV sort on its connection until the connection closes, and refuses a
# connection more than olcSssVlvMaxPerConn (default 5) of them: a list connection is replaced
# after this many (config/ldap/slapd-config.ldif.in says how the limits are set).
SORTS_PER_CONNECTION = 4
_BIND_SETTINGS = "(check PORTH_LDAP__BIND_DN and PORTH_LDAP__BIND_PASSWORD)"
# ldap3 refuses for 5 s to try again an address it once found down, so a directory restarted in
# the middle of a nightly run failed every school that started in those seconds as well. Each new
# connection should ask the server itself.
ldap3.set_config_parameter("RESET_AVAILABILITY_TIMEOUT", 0)
# A URL list (ServicePool) is tried once through, in order; ldap3 would then wait 10 s before
# saying every server is down.
ldap3.set_config_parameter("POOLING_LOOP_TIMEOUT", 0)


# -- Vendor errors -> directory.errors -------------------------------------------------
_COMMUNICATION = (lx.LDAPCommunicationError, lx.LDAPSocketOpenError, lx.LDAPSocketReceiveError,
                  lx.LDAPSocketSendError, lx.LDAPSessionTerminatedByServerError, lx.LDAPStartTLSError,
                  lx.LDAPServerPoolExhaustedError,  # every server of a URL list refused (ServicePool)
                  lx.LDAPResponseTimeoutError, python_ldap.SERVER_DOWN, python_ldap.TIMEOUT,
                  python_ldap.CONNECT_ERROR)
_NOT_FOUND = (lx.LDAPNoSuchObjectResult, python_ldap.NO_SUCH_OBJECT)
_EXISTS = (lx.LDAPEntryAlreadyExistsResult, python_ldap.ALREADY_EXISTS)
_CONSTRAINT = (lx.LDAPConstraintViolationResult, python_ldap.CONSTRAINT_VIOLATION)
_MALFORMED = (lx.LDAPObjectClassViolationResult, lx.LDAPInvalidAttributeSyntaxResult,
              lx.LDAPUndefinedAttributeTypeResult, lx.LDAPInvalidDNSyntaxResult,
              lx.LDAPNamingViolationResult, lx.LDAPAttributeOrValueExistsResult,
              lx.LDAPObjectClassModsProhibitedResult, lx.LDAPNotAllowedOnRDNResult,
              python_ldap.OBJECT_CLASS_VIOLATION, python_ldap.INVALID_SYNTAX, python_ldap.UNDEFINED_TYPE,
              python_ldap.INVALID_DN_SYNTAX, python_ldap.NAMING_VIOLATION, python_ldap.TYPE_OR_VALUE_EXISTS,
              python_ldap.NOT_ALLOWED_ON_RDN)
# Results that say the server could not do the work at all, whatever was asked: never the
# entry's fault (issue 13: with slapd's disk full every add was "other: txn_commit failed"
# and a whole run became record errors). unwillingToPerform is one only when slapd says it
# cannot write (_CANNOT_WRITE); otherwise it refuses that operation (a record's fault).
_SERVER_FAILED = (lx.LDAPOtherResult, lx.LDAPBusyResult, lx.LDAPUnavailableResult, lx.LDAPTimeLimitExceededResult,
                  lx.LDAPAdminLimitExceededResult, python_ldap.OTHER, python_ldap.BUSY, python_ldap.UNAVAILABLE,
                  python_ldap.TIMELIMIT_EXCEEDED, python_ldap.ADMINLIMIT_EXCEEDED)
_UNWILLING = (lx.LDAPUnwillingToPerformResult, python_ldap.UNWILLING_TO_PERFORM)
# slapd's texts for a database it cannot write: olcReadOnly ("operation restricted"), a
# read-only shadow ("shadow context"), back-mdb's own ("read-only", "database full").
_CANNOT_WRITE = ("operation restricted", "read-only", "readonly", "shadow context", "full")
# What an operator should look at, by slapd's text (back-mdb says "txn_commit failed" both for
# ENOSPC and for its map, olcDbMaxSize, filling at commit; "entry store failed" for the map).
_FULL = "disk full, or the database at its maximum size?"
_LIKELY_CAUSE = {"txn_commit failed": _FULL, "entry store failed": _FULL,
                 "operation restricted": "the database is read-only"}
_REFUSED = (lx.LDAPInsufficientAccessRightsResult, lx.LDAPInvalidCredentialsResult,
            python_ldap.INSUFFICIENT_ACCESS, python_ldap.INVALID_CREDENTIALS)


def _reason(exc: Exception) -> str:
    """One line from either library's exception (ldap3: message/description; python-ldap: a dict)."""
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    message = getattr(exc, "message", "") or detail.get("info", "") or ""
    description = getattr(exc, "description", "") or detail.get("desc", "") or ""
    text = f"{description}: {message}" if message and description else (message or description or str(exc))
    return " ".join(str(text).split())


@contextmanager
def mapped_errors(config: DirectoryConfig, doing: str) -> Iterator[None]:
    """Turn an exception of either client library into the directory.errors one that says what failed."""
    try:
        yield
    except errors.DirectoryError:
        raise
    except _COMMUNICATION as exc:
        if _timed_out(exc):
            raise errors.DirectoryTimedOut(
                f"the directory at {config.url} did not answer in time while {doing}: {_reason(exc)}") from None
        raise errors.DirectoryUnavailable(
            f"cannot reach the directory at {config.url} while {doing}: {_reason(exc)}") from None
    except _NOT_FOUND as exc:
        raise errors.EntryNotFound(f"{doing}: no such entry ({_reason(exc)})") from None
    except _EXISTS:
        raise errors.EntryAlreadyExists(f"{doing}: the entry already exists") from None
    except _CONSTRAINT as exc:
        raise errors.ConstraintViolation(f"{doing}: {_reason(exc)}") from None
    except _MALFORMED as exc:
        raise errors.InvalidEntry(f"{doing}: the directory refused the entry: {_reason(exc)}") from None
    except _SERVER_FAILED as exc:
        raise _failed(doing, exc) from None
    except _UNWILLING as exc:
        if any(text in _reason(exc).lower() for text in _CANNOT_WRITE):
            raise _failed(doing, exc) from None
        raise errors.DirectoryError(f"{doing}: {_reason(exc)}") from None
    except _REFUSED as exc:
        raise errors.DirectoryMisconfigured(
            f"the directory at {config.url} refused {config.bind_dn} while {doing}: {_reason(exc)}") from None
    except (lx.LDAPException, python_ldap.LDAPError) as exc:
        raise errors.DirectoryError(f"{doing}: {_reason(exc)}") from None


def _timed_out(exc: Exception) -> bool:
    """A server that said nothing in time: python-ldap's TIMEOUT (an operation) or SERVER_DOWN
    with a timed-out connect, ldap3's response timeout, or its socket timing out while opening
    (connect_timeout) or reading (receive_timeout)."""
    if isinstance(exc, (python_ldap.TIMEOUT, lx.LDAPResponseTimeoutError)):
        return True
    if isinstance(exc, (lx.LDAPSocketReceiveError, lx.LDAPSocketOpenError, python_ldap.SERVER_DOWN)):
        return "timed out" in _reason(exc).lower() or "timed out" in str(exc).lower()
    return False


def _failed(doing: str, exc: Exception) -> errors.DirectoryFailure:
    """One line: what the directory could not do, slapd's own words, and the likely cause."""
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    said = " ".join(str(getattr(exc, "message", "") or detail.get("info", "") or _reason(exc)).split())
    cause = next((f" ({hint})" for text, hint in _LIKELY_CAUSE.items() if text in said.lower()), "")
    return errors.DirectoryFailure(f"the directory could not do the work while {doing}: {said}{cause}")


# What ldap3's BER decoder raises on bytes that are not an LDAP message (it indexes its tables with them).
_UNDECODABLE = (KeyError, IndexError, ValueError)


def _refused_porth(config: DirectoryConfig, exc: Exception) -> errors.DirectoryMisconfigured:
    return errors.DirectoryMisconfigured(
        f"the directory at {config.url} refused Porth's bind as {config.bind_dn}: {_reason(exc)} {_BIND_SETTINGS}")


# -- ldap3: the service pool -------------------------------------------------------------
def _servers(config: DirectoryConfig) -> ldap3.Server | ldap3.ServerPool:
    """The server, or for a URL list the servers tried in order for each new connection (FIRST:
    the first that answers, so writes stay on the first provider while it is up; one pass
    through the list, then DirectoryUnavailable)."""
    servers = [ldap3.Server(url, get_info=ldap3.NONE, connect_timeout=config.timeout_seconds) for url in config.urls]
    if len(servers) == 1:
        return servers[0]
    # active: how many times through the list (ldap3 takes a count; True would try for ever, and its
    # type stub says bool).
    return ldap3.ServerPool(servers, ldap3.FIRST, active=1, exhaust=False)  # type: ignore[arg-type]


def _closed_by_server(conn: ldap3.Connection) -> bool:
    """An idle connection with something to read has been closed by its server (a slapd killed or
    restarted: the kernel delivered the end of the stream), or was told it is (a notice of
    disconnection): never worth sending a write on."""
    sock = getattr(conn, "socket", None)
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class _ServicePool:
    """A few bound service connections, reused; a broken one is dropped, and with it every idle
    one (they went to the same server, which is gone: the next connection fails over)."""

    def __init__(self, config: DirectoryConfig):
        self._config = config
        self._server = _servers(config)
        self._idle: queue.LifoQueue[ldap3.Connection] = queue.LifoQueue()

    def _open(self) -> ldap3.Connection:
        with mapped_errors(self._config, "binding as Porth's service account"):
            try:
                return ldap3.Connection(
                    self._server, user=self._config.bind_dn, password=self._config.bind_password,
                    auto_bind=ldap3.AUTO_BIND_NO_TLS, raise_exceptions=True,
                    receive_timeout=math.ceil(self._config.timeout_seconds), read_only=False,
                )
            except (lx.LDAPBindError, lx.LDAPInvalidCredentialsResult) as exc:
                raise _refused_porth(self._config, exc) from None
            except _UNDECODABLE:
                # ldap3 read the answer as an LDAP message and could not: something else listens
                # there (a web server's 400 page, say), a URL's port mistyped.
                raise errors.DirectoryUnavailable(
                    f"cannot reach the directory at {self._config.url} while binding as Porth's service account: "
                    "the server there does not answer in LDAP (is the URL's port the directory's?)") from None

    def _reused(self) -> ldap3.Connection | None:
        closed = 0
        try:
            while True:
                try:
                    conn = self._idle.get_nowait()
                except queue.Empty:
                    return None
                if not _closed_by_server(conn):
                    return conn
                closed += 1
                _unbind(conn.unbind)
        finally:
            if closed:  # handled, but worth one line: a directory server restarted or went away (issue 17 point 5)
                _log.warning("the directory closed %d idle connection(s) (a restart or a failover); reconnected "
                             "and done on a fresh connection", closed)

    @contextmanager
    def connection(self) -> Iterator[ldap3.Connection]:
        reused = self._reused()
        conn = reused or self._open()
        setattr(conn, "porth_reused", reused is not None)  # noqa: B010 - read by the retry in Connections.search
        healthy = False
        try:
            yield conn
            healthy = True
        except (lx.LDAPOperationResult, errors.DirectoryError) as exc:
            # A result the server sent (no such entry, constraint violation...)
            # leaves the connection usable; a broken socket does not.
            healthy = not isinstance(exc, (*_COMMUNICATION, errors.DirectoryUnavailable))
            if not healthy:
                self.close()
            raise
        finally:
            if healthy and self._idle.qsize() < self._config.pool_size:
                self._idle.put(conn)
            else:
                _unbind(conn.unbind)

    def close(self) -> None:
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            _unbind(conn.unbind)


def _unbind(unbind: Callable[[], object]) -> None:
    with suppress(Exception):  # closing a dead socket may fail any way
        unbind()


# -- python-ldap: connections kept per thread ---------------------------------------------
def python_ldap_connection(config: DirectoryConfig, timeout: float, bind_as_porth: bool = True):
    """A python-ldap connection, bound as Porth's service account unless the caller binds it
    as someone else (the sign-in binder). libldap takes the URL list as it is and connects to
    the first server that answers."""
    conn = python_ldap.initialize(config.url)
    conn.set_option(python_ldap.OPT_NETWORK_TIMEOUT, config.timeout_seconds)
    conn.set_option(python_ldap.OPT_TIMEOUT, timeout)
    conn.protocol_version = 3
    if bind_as_porth:
        try:
            conn.simple_bind_s(config.bind_dn, config.bind_password)
        except python_ldap.INVALID_CREDENTIALS as exc:
            raise _refused_porth(config, exc) from None
    return conn


class ThreadConnection:
    """One python-ldap connection per thread, opened at first use, reopened once if slapd closed it
    (a restart, an idle timeout), dropped after any error."""

    def __init__(self, config: DirectoryConfig, timeout: float, bind_as_porth: bool = True):
        self._config = config
        self._timeout = timeout
        self._bind_as_porth = bind_as_porth
        self._local = threading.local()

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = python_ldap_connection(self._config, self._timeout, self._bind_as_porth)
            self._local.conn = conn
        return conn

    def run(self, doing: str, operation: Callable[[Any], T]) -> T:
        dropped: errors.DirectoryUnavailable | None = None
        for attempt in (1, 2):
            reused = getattr(self._local, "conn", None) is not None
            try:
                with mapped_errors(self._config, doing):
                    result = operation(self._connection())
                if dropped is not None:
                    _log_reconnect(dropped)
                return result
            except errors.DirectoryUnavailable as exc:
                self.drop()
                if attempt == 2 or (isinstance(exc, errors.DirectoryTimedOut) and not reused):
                    raise
                dropped = exc
            except errors.DirectoryError:
                self.drop()
                raise
        raise AssertionError("unreachable")

    def search_one_level(self, base: str, search_filter: str, attributes: list[str],
                         doing: str) -> list[dict[str, Any]]:
        found = self.run(doing, lambda conn: conn.search_s(base, python_ldap.SCOPE_ONELEVEL, search_filter,
                                                           attributes))
        return [attrs for dn, attrs in found if dn is not None]

    def password_matches(self, dn: str, password: str) -> bool:
        """A simple bind as `dn`: False for wrong credentials (slapd also answers so for a locked account)."""
        def bind(conn) -> bool:
            try:
                conn.simple_bind_s(dn, password)
            except python_ldap.INVALID_CREDENTIALS:
                return False
            return True

        return self.run("checking a password", bind)

    def replace(self, dn: str, attribute: str, values: list[str], doing: str) -> None:
        """One attribute of one entry replaced (a consumer's chain overlay sends it to a provider)."""
        encoded = [value.encode("utf-8") for value in values]
        self.run(doing, lambda conn: conn.modify_s(dn, [(python_ldap.MOD_REPLACE, attribute, encoded)]))

    def paged_search(self, base: str, search_filter: str, attributes: list[str], doing: str,
                     page_size: int) -> Iterator[dict[str, Any]]:
        """Entries in server-side pages (RFC 2696); never retried, since pages were already given out."""
        try:
            with mapped_errors(self._config, doing):
                conn = self._connection()
                control = SimplePagedResultsControl(True, size=page_size, cookie=b"")
                while True:
                    message = conn.search_ext(base, python_ldap.SCOPE_SUBTREE, search_filter, attributes,
                                              serverctrls=[control])
                    _, entries, _, controls = conn.result3(message)
                    for dn, attrs in entries:
                        if dn is not None:
                            yield attrs
                    cookie = next((c.cookie for c in controls
                                   if c.controlType == SimplePagedResultsControl.controlType), None)
                    if not cookie:
                        return
                    control.cookie = cookie
        except errors.DirectoryError:
            self.drop()
            raise

    def drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            _unbind(conn.unbind_s)


# -- python-ldap: one sorted page of a search (server-side sort + virtual list view) -----------
@dataclass(frozen=True)
class Window:
    """Entries `first`.. of a search's sorted results, and how many results there are in all."""

    entries: list[dict[str, Any]]
    first: int  # 1-based position of entries[0] in the sorted results
    total: int


class SortsRefused(Exception):
    """The directory would not sort this search: now (`lasting` False: its sssvlv limits are
    reached) or ever (it advertises the controls but refuses Porth's sort keys, as a directory
    other than OpenLDAP may). The caller reads the search whole instead."""

    def __init__(self, message: str, lasting: bool):
        super().__init__(message)
        self.lasting = lasting


class SortedWindows:
    """Sorted pages read through each thread's own python-ldap connection, which is replaced
    after SORTS_PER_CONNECTION sorts (slapd frees a connection's kept sorts only when it closes)."""

    def __init__(self, config: DirectoryConfig, timeout: float):
        self._threads = ThreadConnection(config, timeout)
        self._local = threading.local()

    def window(self, base: str, search_filter: str, attributes: list[str], sort_keys: list[str], first: int,
               size: int, doing: str) -> Window:
        """Up to `size` entries from position `first` (1-based) in the order of `sort_keys`
        (python-ldap's `attribute:orderingRule` spelling). A `first` past the end gives the last
        `size` entries. SortsRefused when slapd is busy sorting for others even on a new connection."""
        for fresh in (False, True):
            if fresh or getattr(self._local, "sorts", 0) >= SORTS_PER_CONNECTION:
                self._threads.drop()
                self._local.sorts = 0
            self._local.sorts = getattr(self._local, "sorts", 0) + 1
            try:
                return self._threads.run(doing, lambda conn: self._read(conn, base, search_filter, attributes,
                                                                         sort_keys, first, size))
            except _Busy:
                continue
            except _Unusable as exc:
                raise SortsRefused(f"{doing}: the directory refused to sort it: {exc}", lasting=True) from None
            except _Limited as exc:
                raise SortsRefused(f"{doing}: the directory's limits refused the sorted page: {exc}",
                                   lasting=False) from None
        raise SortsRefused(f"{doing}: the directory is sorting too many other lists (its sssvlv limits)", lasting=False)

    def _read(self, conn, base: str, search_filter: str, attributes: list[str], sort_keys: list[str], first: int,
              size: int) -> Window:
        try:
            try:
                return self._search(conn, base, search_filter, attributes, sort_keys, first, size)
            except python_ldap.VLV_ERROR as exc:  # offsetRangeError: `first` is past the end
                total = _vlv_content_count(exc)
                if not total or first <= 1:
                    raise
                self._local.sorts += 1  # slapd keeps the refused sort too
                last_page_first = total - (total - 1) % size
                return self._search(conn, base, search_filter, attributes, sort_keys, last_page_first, size)
        except python_ldap.BUSY:
            raise _Busy from None
        except (python_ldap.SIZELIMIT_EXCEEDED, python_ldap.ADMINLIMIT_EXCEEDED) as exc:
            # A directory's limits on what one identity may search (slapd sends a page within a
            # size limit; others may count the sorted set): this list is read whole, paged.
            raise _Limited(_reason(exc)) from None
        except _CANNOT_SORT as exc:
            raise _Unusable(_reason(exc)) from None

    @staticmethod
    def _search(conn, base: str, search_filter: str, attributes: list[str], sort_keys: list[str], first: int,
                size: int) -> Window:
        # Both critical: a directory that cannot sort this search must say so, never answer unsorted.
        # contentCount 0: `first` is an exact position, not a proportion of an estimated count.
        controls = [SSSRequestControl(criticality=True, ordering_rules=sort_keys),
                    VLVRequestControl(criticality=True, before_count=0, after_count=size - 1, offset=first,
                                      content_count=0)]
        message = conn.search_ext(base, python_ldap.SCOPE_SUBTREE, search_filter, attributes, serverctrls=controls)
        _, entries, _, response_controls = conn.result3(message)
        vlv = next((c for c in response_controls if isinstance(c, VLVResponseControl)), None)
        found = [attrs for dn, attrs in entries if dn is not None]
        if vlv is None:
            raise errors.DirectoryError("the directory answered a sorted page without its count (VLV response)")
        return Window(found, vlv.targetPosition or 1, vlv.contentCount)

    def drop(self) -> None:
        self._threads.drop()
        self._local.sorts = 0


class _Busy(Exception):
    """slapd said busy: too many sorts kept on this connection or in all."""


class _Limited(Exception):
    """A size or administrative limit of the directory refused this sorted search."""


class _Unusable(Exception):
    """The directory cannot sort by Porth's keys (an ordering rule it does not know, a control it
    will not take with this search)."""


_CANNOT_SORT = (python_ldap.INAPPROPRIATE_MATCHING, python_ldap.UNAVAILABLE_CRITICAL_EXTENSION,
                python_ldap.UNWILLING_TO_PERFORM, python_ldap.NO_SUCH_ATTRIBUTE, python_ldap.VLV_ERROR)


def _vlv_content_count(exc: python_ldap.LDAPError) -> int | None:
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    decoded = DecodeControlTuples(detail.get("ctrls") or [])
    return next((c.contentCount for c in decoded if isinstance(c, VLVResponseControl)), None)


def _log_reconnect(error: errors.DirectoryUnavailable) -> None:
    """A connection the directory dropped (slapd restarted) was replaced and the work done on the
    new one: handled, so one WARNING line, not a traceback (issue 17 point 5). A directory that
    cannot be reached at all is not this: its error is the caller's to report."""
    _log.warning("%s; reconnected and done on a fresh connection", str(error).strip().splitlines()[0])


# -- What the store's modules use -------------------------------------------------------
class Connections:
    """Porth's service connections: the ldap3 pool for writes and small reads, python-ldap for
    bulk reads (a page size from the settings, a longer timeout: whole schools)."""

    def __init__(self, config: DirectoryConfig):
        self.config = config
        self._pool = _ServicePool(config)
        self._bulk = ThreadConnection(config, max(config.timeout_seconds, 30))
        self._windows = SortedWindows(config, max(config.timeout_seconds, 30))
        self._sorted_windows_offered: bool | None = None  # asked of the root DSE once

    def search(self, base: str, search_filter: str, attributes: list[str], doing: str,
               base_only: bool = False) -> list[dict[str, Any]]:
        scope = ldap3.BASE if base_only else ldap3.SUBTREE
        dropped: errors.DirectoryUnavailable | None = None
        for attempt in (1, 2):
            reused = False
            try:
                with mapped_errors(self.config, doing), self._pool.connection() as conn:
                    reused = getattr(conn, "porth_reused", False)
                    conn.search(base, search_filter, scope, attributes=attributes)
                    found = [e["attributes"] for e in conn.response or [] if e.get("type") == "searchResEntry"]
                if dropped is not None:
                    _log_reconnect(dropped)
                return found
            except errors.DirectoryUnavailable as exc:
                # A read is retried once on a fresh connection: the old one was dropped (slapd
                # restarted), or went silent while idle (a firewall or NAT forgetting it). A fresh
                # connection that timed out is not: the server itself does not answer.
                if attempt == 2 or (isinstance(exc, errors.DirectoryTimedOut) and not reused):
                    raise
                dropped = exc
        raise AssertionError("unreachable")

    def paged(self, base: str, search_filter: str, attributes: list[str], doing: str) -> Iterator[dict[str, Any]]:
        """Entries in server-side pages of page_size (RFC 2696), one pooled connection throughout."""
        with mapped_errors(self.config, doing), self._pool.connection() as conn:
            cookie: bytes | None = None
            while True:
                conn.search(base, search_filter, ldap3.SUBTREE, attributes=attributes,
                            paged_size=self.config.page_size, paged_cookie=cookie)
                page = [e["attributes"] for e in conn.response or [] if e.get("type") == "searchResEntry"]
                cookie = conn.result.get("controls", {}).get(_PAGED_RESULTS_OID, {}).get("value", {}).get("cookie")
                yield from page
                if not cookie:
                    return

    def bulk(self, base: str, search_filter: str, attributes: list[str], doing: str) -> Iterator[dict[str, Any]]:
        """Like paged, decoded by python-ldap: where whole schools are read."""
        return self._bulk.paged_search(base, search_filter, attributes, doing, self.config.page_size)

    def offers_sorted_windows(self) -> bool:
        """Whether the directory sorts and windows searches itself (its root DSE lists both
        controls); asked once. Without them a list page reads its whole list: logged once."""
        if self._sorted_windows_offered is None:
            [root_dse] = self.search("", "(objectClass=*)", ["supportedControl"], "reading the root DSE",
                                     base_only=True) or [{}]
            offered = set(root_dse.get("supportedControl") or [])
            self._sorted_windows_offered = all(oid in offered for oid in SORTED_WINDOW_CONTROLS)
            if not self._sorted_windows_offered:
                _log.warning("the directory at %s offers no server-side sorting with virtual list views (controls "
                             "%s): each list page reads its whole list (add the sssvlv overlay)",
                             self.config.url, " and ".join(SORTED_WINDOW_CONTROLS))
        return self._sorted_windows_offered

    def window(self, base: str, search_filter: str, attributes: list[str], sort_keys: list[str], first: int,
               size: int, doing: str) -> Window:
        """One sorted page of a search (offers_sorted_windows must hold); SortsRefused when slapd is too
        busy, or will not sort by these keys (then it is not asked again)."""
        try:
            return self._windows.window(base, search_filter, attributes, sort_keys, first, size, doing)
        except SortsRefused as refused:
            if refused.lasting:
                self._sorted_windows_offered = False
            raise

    def add(self, dn: str, attributes: dict[str, Any], doing: str) -> None:
        with mapped_errors(self.config, doing), self._pool.connection() as conn:
            conn.add(dn, attributes=attributes)

    def modify(self, dn: str, doing: str, replace: dict[str, list[str]] | None = None,
               add: dict[str, list[str]] | None = None) -> None:
        """One atomic modify: `replace` sets attributes (an empty list removes one), `add` adds values."""
        changes: dict[str, list[tuple[str, list[str]]]] = {
            name: [(ldap3.MODIFY_REPLACE, values)] for name, values in (replace or {}).items()}
        changes.update({name: [(ldap3.MODIFY_ADD, values)] for name, values in (add or {}).items()})
        with mapped_errors(self.config, doing), self._pool.connection() as conn:
            conn.modify(dn, changes)

    def delete(self, dn: str, doing: str) -> None:
        with mapped_errors(self.config, doing), self._pool.connection() as conn:
            conn.delete(dn)

    def close(self) -> None:
        self._pool.close()
        self._bulk.drop()
        self._windows.drop()
