"""Keeping the Microsoft 365 tenant in step with the directory (issues 6 and 14; SPEC G-1..G-3).

Incremental by default: the accounts changed in LDAP since the last good run
(slapd's modifyTimestamp), those whose staff licence request waits, and those
the tenant has not taken yet (pending or failed: every run retries them). A
full reconciliation also reads every cloud user and repairs drift made in the
tenant by hand. What to do is decided by connectors/graph/desired.py (pure);
this module reads, sends and records each account's outcome in the operational
store before and after sending, so a killed run reruns without a duplicate
cloud user: an account whose create may have gone out unrecorded is looked up
by its immutable id first.

How the steps go to Graph (issue 14 point 3). Every `$batch` is fully parallel:
at most one step per account, none depending on another (Graph refuses a batch
mixing parallel steps and `dependsOn` chains with a whole-batch 400). An
account walks through its steps one batch after another: look up (a create
first looks for a cloud user with its UPN, see below), write the user (create,
update, restore, delete), then its licence, addressed by the id Graph returned,
never by the UPN of a user just made. Entra ID is eventually consistent: the
next step of a user just created or restored waits LAG_FIRST_WAIT first (a write
spent on a near-certain 404 is budget lost), then a 404
or "invalid usage location" about a user created or restored in this run is
sent again with back-off for up to `LAG_LIMIT` (5 minutes, Porth's choice:
Microsoft documents no bound; reports are of 15 s to a few minutes), then the
account is left pending for the next run. A step answered 429/503/504 waits its
Retry-After while other accounts' steps go on. A whole batch refused 429/503
waits and goes again; refused 400, its steps go again one per batch, and a step
refused alone is its account's error: no refusal ends the run.

The tenant as it is (point 4). A cloud user with the account's UPN is matched
like Entra Connect's hard match: without an `onPremisesImmutableId` it is
adopted (the immutable id set on it, never a second user, never a deletion);
with another one it is reported on the account's record for an administrator
and left alone. A create refused as taken although the lookups found nobody is
a user the replicas have not seen yet (a killed run's): looked up again with
back-off for up to LAG_LIMIT. A cloud user Porth deleted less than 30 days ago is restored
from directory/deletedItems instead of made again.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from sqlalchemy import insert, select, update

from connectors.graph import errors
from connectors.graph.client import MAX_BATCH, RETRYABLE, WRITE_METHODS, Answer, GraphClient, Step, retry_after
from connectors.graph.desired import AccountPlan, Change, CloudUser, Known, Skus, desired_user, plan_account
from connectors.graph.errors import GraphError
from directory.model import Account, AccountKind, AccountState
from directory.rules.cloud_identity import immutable_id
from directory.rules.cloud_principal import InvalidUserPrincipalName
from directory.store import AccountQuery, DirectoryStore
from operational import licence_requests
from operational.db import Database
from operational.statuses import ChangeState
from operational.tables import CloudAccount, SyncMark

log = logging.getLogger("porth.graph.sync")
MARK = "graph-sync"
STEPS_PER_BATCH = MAX_BATCH
LAG_LIMIT = 300.0  # seconds a just-created user's 404 is taken for replication lag (see the docstring)
LAG_FIRST_WAIT, LAG_LONGEST_WAIT = 2.0, 60.0
USER_FIELDS = "id,userPrincipalName,onPremisesImmutableId,assignedLicenses"
INVALID_USER_PRINCIPAL_NAME = "InvalidUserPrincipalName"  # Porth's own: refused before Graph is asked
IMMUTABLE_ID_CONFLICT = "ImmutableIdConflict"  # Porth's own code: Graph has nothing to say, it is a finding
IMMUTABLE_ID_REFUSED = "ImmutableIdRefused"  # Porth's own code: adopting refused (a federated domain), a finding
LIST_INSTEAD = 200  # more lookups than this: one listing of the tenant instead (999 users per request)
NO_FREE_SEAT = "CountViolation"  # licenseAssignmentState's name for it, found in subscribedSkus before asking


@dataclass
class SyncReport:
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)

    def count(self, name: str, by: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + by

    def not_taken(self, record: str, error: GraphError, transient: bool = False) -> None:
        """One account the tenant did not take in this run, counted and logged with its code."""
        self.count("left pending" if transient else "failed")
        self.errors.append({"record": record, "error": error.code, "detail": error.message})

    @property
    def applied(self) -> int:
        return self.counts.get("applied", 0)

    @property
    def failed(self) -> int:
        """Accounts the tenant did not take in this run (refused, or left pending): the next run retries them."""
        return self.counts.get("failed", 0) + self.counts.get("left pending", 0)


def _transient(error: errors.GraphError) -> bool:
    """Worth sending again soon (throttled, unavailable, or held up by such a step)."""
    return error.retryable or isinstance(error, errors.FailedDependency)


def _adoption_refused(error: errors.GraphError, immutable: str) -> errors.GraphError:
    """Graph refused to give an existing cloud user the account's immutable id. Entra refuses it
    on a user whose UPN is in a federated domain, with the generic 400 (no code of its own, so
    this is told by the request, the one PATCH that sets onPremisesImmutableId): an administrator's
    finding, not something a retry mends (docs/microsoft365.md, "Existing users and a domain
    already federated")."""
    return errors.BadRequest(400, IMMUTABLE_ID_REFUSED, (
        f"Graph refused to set onPremisesImmutableId on the tenant's existing user with this account's "
        f"userPrincipalName ({error.code}: {error.message}). Entra refuses it while the user's domain is "
        f"federated: an administrator sets onPremisesImmutableId '{immutable}' on that user as Microsoft "
        "documents for a federated user (docs/microsoft365.md, \"Existing users and a domain already "
        "federated\"); the next run then takes the user as this account's"))


def _known(row: CloudAccount | None) -> Known | None:
    if row is None:
        return None
    return Known(row.cloud_id, row.digest, row.upn, row.licence,
                 applied=row.state == ChangeState.APPLIED and row.deleted_at is None,
                 refused=row.state == ChangeState.FAILED and row.error_permanent, deleted_at=row.deleted_at)


def _as_held(user: CloudUser, licence: str | None) -> CloudUser:
    """The user as wanted, with the licence the tenant holds."""
    return dataclasses.replace(user, licence=licence)


class Stage(StrEnum):
    """Where an account is on its way to the tenant; each stage is one request."""

    FIND = "find"  # GET by immutable id: did a killed run create it?
    LOOKUP = "lookup"  # GET by UPN: is there a cloud user to adopt (or a conflict)?
    CREATE = "create"
    UPDATE = "update"  # PATCH the profile (and, adopting, the immutable id)
    RESTORE = "restore"  # POST directory/deletedItems/{id}/restore
    DELETE = "delete"
    LICENCE = "licence"
    DONE = "done"


@dataclass
class _Account:
    """One account's run through its stages."""

    plan: AccountPlan
    cloud_id: str | None
    stage: Stage
    held: str | None = None  # the licence the tenant's user holds, as far as this run knows
    adopting: bool = False  # an existing cloud user gets the immutable id (hard match)
    fresh_until: float | None = None  # made or restored in this run: a 404 until then is lag
    conflict_until: float | None = None  # a create refused as taken is looked up again until then
    not_before: float | None = None  # its next step waits until then (a write just made must replicate)
    attempts: int = 0  # of the current step (429/503/504)
    lag_waits: int = 0
    looked_up: bool = False  # the UPN lookup done once already (a create found the UPN taken)
    alone: bool = False  # its step goes in a batch of its own (a whole batch was refused 400)
    seat: str | None = None  # the free seat counted down for its licence step
    outcome: str | None = None  # what the report counts when it is applied

    @property
    def user(self) -> CloudUser:
        return self.plan.wanted_user


class TenantSync:
    def __init__(self, store: DirectoryStore, db: Database, graph: GraphClient, skus: Skus, now: datetime,
                 clock: Callable[[], float] = time.monotonic, lag_limit: float = LAG_LIMIT,
                 heartbeat: Callable[[], None] | None = None):
        self.store, self.db, self.graph, self.skus, self.now = store, db, graph, skus, now
        self.clock, self.lag_limit, self.heartbeat = clock, lag_limit, heartbeat
        self.report = SyncReport()
        self._sku_ids: dict[str, str] | None = None
        self._tenant: dict[str, dict[str, Any]] | None = None  # the listing of every cloud user, once read
        self._deleted: dict[str, dict[str, Any]] | None = None  # deleted users by immutable id, once read
        self._free: dict[str, int] = {}
        self._staged: dict[str, dict] = {}
        self._recorder: _Recorder  # one per run: it writes the outcomes staged here
        self._requested: set[str] = set()  # accounts whose latest licence request is pending
        self._licences: dict[str, tuple[bool, str | None]] = {}

    # -- reading ---------------------------------------------------------------------------------
    def sku_ids(self) -> dict[str, str]:
        if self._sku_ids is None:
            skus = list(self.graph.pages("/subscribedSkus"))
            self._sku_ids = {s["skuPartNumber"]: s["skuId"] for s in skus}
            # Free seats: prepaidUnits.enabled - consumedUnits (subscribedSku resource), counted
            # down as this run assigns, so a licence beyond them is refused here, not by Graph.
            self._free = {s["skuPartNumber"]: (s.get("prepaidUnits") or {}).get("enabled", 0) -
                          s.get("consumedUnits", 0) for s in skus if "consumedUnits" in s}
            for part in (self.skus.learner, self.skus.staff):
                if part not in self._sku_ids:
                    raise errors.BadRequest(400, "UnknownSku", f"the tenant has no subscription {part} "
                                                               "(PORTH_GRAPH__LEARNER_SKU / STAFF_SKU)")
        return self._sku_ids

    def part_numbers(self) -> dict[str, str]:
        """skuId -> skuPartNumber."""
        return {sku_id: part for part, sku_id in self.sku_ids().items()}

    def _rows(self, account_ids: list[str] | None = None) -> dict[str, CloudAccount]:
        with self.db.session() as session:
            query = select(CloudAccount)
            if account_ids is not None:
                found = {}
                for start in range(0, len(account_ids), 500):
                    part = account_ids[start:start + 500]
                    found.update({r.account_id: r for r in session.scalars(query.where(
                        CloudAccount.account_id.in_(part)))})
                return found
            return {r.account_id: r for r in session.scalars(query)}

    def _mark(self) -> datetime | None:
        with self.db.session() as session:
            mark = session.get(SyncMark, MARK)
            return mark.at if mark else None

    def _set_mark(self, at: datetime) -> None:
        with self.db.session() as session, session.begin():
            session.merge(SyncMark(name=MARK, at=at))

    # -- the run -----------------------------------------------------------------------------------
    def run(self, full: bool = False, kinds: tuple[AccountKind, ...] = ()) -> SyncReport:
        self._recorder = _Recorder(self._write)
        try:
            report = self._run(full, kinds)
            self._flush()  # every outcome on record before the mark moves on
        finally:
            self._recorder.close()
        if not kinds:
            self._set_mark(self.now)
        return report

    def _run(self, full: bool, kinds: tuple[AccountKind, ...]) -> SyncReport:
        since = None if full else self._mark()
        staff_wanted = licence_requests.latest_everywhere(self.db)
        self._requested = {a for a, s in staff_wanted.items() if s.state is ChangeState.PENDING}
        if since is None:
            accounts = self.store.find_accounts(AccountQuery(kinds=kinds))
            rows = self._rows()
        else:
            accounts = self.store.find_accounts(AccountQuery(kinds=kinds, changed_since=since))
            waiting = {a for a, s in staff_wanted.items() if s.state is ChangeState.PENDING}
            with self.db.session() as session:
                # Issue 14: a failed account is retried by the next run, like a pending one.
                waiting |= set(session.scalars(select(CloudAccount.account_id).where(
                    CloudAccount.state.in_((ChangeState.PENDING, ChangeState.FAILED)))))
            have = {a.id for a in accounts}
            for account_id in sorted(waiting - have):
                account = self.store.get_account(account_id)
                if account is not None and (not kinds or account.kind in kinds):
                    accounts.append(account)
            rows = self._rows([a.id for a in accounts])
        drifted = self._drift(accounts, rows) if full else set()
        plans: list[AccountPlan] = []
        for account in accounts:
            wanted = staff_wanted.get(account.id)
            try:
                desired = desired_user(account, bool(wanted and wanted.wanted), self.skus)
            except InvalidUserPrincipalName as exc:
                # Graph would refuse the name, and sign-in could never match it (S-1): that account's
                # error, for an administrator to fix its address; the others go on.
                self._refuse_before_sending(account, str(exc))
                continue
            row = rows.get(account.id)
            if account.id in drifted and row is not None and row.deleted_at is None:
                row.digest, row.licence = None, None  # what the tenant holds is unknown: send it all (not stored)
            known = _known(row)
            plan = plan_account(account.id, desired, known, retry_failed=True, now=self.now)
            if plan.change is not Change.NOTHING:
                plans.append(plan)
        if full:
            present = {a.id for a in accounts}
            plans += [AccountPlan(account_id, Change.DELETE, None) for account_id, row in rows.items()
                      if account_id not in present and row.cloud_id and row.deleted_at is None]  # gone from LDAP
        self.report.count("considered", len(accounts))
        self._apply(plans, rows)
        return self.report

    def _drift(self, accounts: list[Account], rows: dict[str, CloudAccount]) -> set[str]:
        """Accounts whose cloud user differs from what Porth last applied (changed by hand in the tenant)."""
        by_cloud_id = {row.cloud_id: row for row in rows.values() if row.cloud_id and row.deleted_at is None}
        enabled = {a.id: a.state is AccountState.ACTIVE for a in accounts}
        part_numbers = self.part_numbers()
        drifted = set()
        seen = set()
        for user in {u["id"]: u for u in self._tenant_listing().values()}.values():
            row = by_cloud_id.get(user["id"])
            if row is None:
                continue  # not Porth's (made in the tenant for something else)
            seen.add(row.account_id)
            licences = {part_numbers.get(entry["skuId"]) for entry in user.get("assignedLicenses") or []}
            renamed = user.get("userPrincipalName", "").lower() != (row.upn or "").lower()
            relicensed = licences != ({row.licence} if row.licence else set())
            toggled = row.digest and user.get("accountEnabled") != enabled.get(row.account_id)
            if renamed or relicensed or toggled:
                drifted.add(row.account_id)
        # A cloud user deleted by hand sits in deletedItems: restored (or, purged, made again).
        # One Porth wrote moments ago may not be listed yet (Entra ID is eventually consistent,
        # with no documented bound): within LAG_LIMIT of its last write it is looked for again by
        # the next full sync, never taken as deleted (which would cost a restore and a create).
        settled_before = self.now - timedelta(seconds=LAG_LIMIT)
        for row in by_cloud_id.values():
            if row.account_id not in seen and row.updated_at > settled_before:
                self.report.count("not_listed_yet")
            elif row.account_id not in seen:
                row.deleted_at, row.digest, row.licence = self.now, None, None
                self._stage(row.account_id, state=ChangeState.PENDING, deleted_at=self.now, digest=None,
                            licence=None)
                drifted.discard(row.account_id)
                self.report.count("recreated")
        self._flush()
        self.report.count("drifted", len(drifted))
        return drifted

    # -- what each account sends -------------------------------------------------------------------
    def _start(self, plan: AccountPlan, row: CloudAccount | None) -> _Account:
        cloud_id = row.cloud_id if row is not None else None
        held = row.licence if row is not None and row.deleted_at is None else None
        first = {Change.CREATE: Stage.LOOKUP, Change.FIND: Stage.FIND, Change.UPDATE: Stage.UPDATE,
                 Change.RESTORE: Stage.RESTORE, Change.DELETE: Stage.DELETE}[plan.change]
        if first is Stage.UPDATE and row is not None and row.digest == _as_held(plan.wanted_user, held).digest():
            first = Stage.LICENCE  # the profile is as wanted already: only the licence is still owed
        return _Account(plan, cloud_id, first, held=held)

    def _licence_change(self, account: _Account) -> tuple[str | None, str | None]:
        """(add, remove) skuPartNumbers the account's cloud user still needs."""
        wanted = account.user.licence
        return (wanted if wanted != account.held else None,
                account.held if account.held and account.held != wanted else None)

    def _step(self, account: _Account) -> Step | None:
        """The request of the account's stage; None when the stage settled it without one."""
        key, stage = account.plan.account_id, account.stage
        if stage is Stage.FIND:
            value = quote(immutable_id(key), safe="")
            return Step(f"{key}:find", "GET",
                        f"/users?$filter=onPremisesImmutableId%20eq%20'{value}'&$select={USER_FIELDS}")
        if stage is Stage.LOOKUP:  # an OData string literal: ' doubled, then the whole value URL-encoded
            value = quote(account.user.upn.replace("'", "''"), safe="@")
            return Step(f"{key}:lookup", "GET",
                        f"/users?$filter=userPrincipalName%20eq%20'{value}'&$select={USER_FIELDS}")
        if stage is Stage.CREATE:
            body = {**account.user.profile(), "onPremisesImmutableId": immutable_id(key),
                    "passwordProfile": {"forceChangePasswordNextSignIn": False,
                                        # Never used: people sign in through Porth's IdP (federated).
                                        "password": secrets.token_urlsafe(18) + "Aa1"}}
            return Step(f"{key}:create", "POST", "/users", body)
        if stage is Stage.UPDATE:
            profile = account.user.profile()
            if account.adopting:  # Entra Connect's hard match: the cloud user becomes this account's
                profile["onPremisesImmutableId"] = immutable_id(key)
            return Step(f"{key}:update", "PATCH", f"/users/{account.cloud_id}", profile)
        if stage is Stage.RESTORE:
            return Step(f"{key}:restore", "POST", f"/directory/deletedItems/{account.cloud_id}/restore")
        if stage is Stage.DELETE:
            return Step(f"{key}:delete", "DELETE", f"/users/{account.cloud_id}")
        if stage is Stage.LICENCE:
            add, remove = self._licence_change(account)
            ids = self.sku_ids()
            if add and add in self._free and account.seat is None:
                if self._free[add] <= 0:
                    self._licence_refused(account, errors.BadRequest(
                        400, NO_FREE_SEAT, f"no free {add} licence in the tenant (subscribedSkus: every "
                                           "enabled unit consumed); retried by the next run"))
                    return None
                self._free[add] -= 1
                account.seat = add
            return Step(f"{key}:licence", "POST", f"/users/{account.cloud_id}/assignLicense", {
                "addLicenses": [{"skuId": ids[add], "disabledPlans": []}] if add else [],
                "removeLicenses": [ids[remove]] if remove else []})
        raise ValueError(f"account {key} has nothing to send at stage {stage}")

    def _after_user(self, account: _Account, outcome: str) -> None:
        """The user is as wanted: its licence next, if it needs a change."""
        account.outcome = account.outcome or outcome
        add, remove = self._licence_change(account)
        if add or remove:
            account.stage = Stage.LICENCE
        else:
            self._applied(account)

    def _take(self, account: _Account, answer: Answer) -> float | None:
        """Move the account on by its step's answer; the seconds to wait before its next step."""
        if answer.status in RETRYABLE:
            account.attempts += 1
            if account.attempts >= self.graph.max_attempts:
                self._failed(account, answer.error or errors.Unavailable(answer.status, "HTTP", ""))
                return None
            hinted = retry_after(answer.headers)
            return hinted if hinted is not None else self.graph.backoff(account.attempts, None)
        account.attempts = 0
        error = answer.error
        stage = account.stage
        if error is not None and account.fresh_until is not None and errors.lag_suspect(error) and \
                stage in (Stage.UPDATE, Stage.LICENCE):
            if self.clock() < account.fresh_until:  # not replicated yet: the same step again, later
                account.lag_waits += 1
                self.report.count("lag retries")
                return min(LAG_LONGEST_WAIT, LAG_FIRST_WAIT * 2 ** (account.lag_waits - 1))
            late = errors.Unavailable(error.status, error.code, f"{error.message} (still, "
                                      f"{self.lag_limit:.0f} s after the user was made: left for the next run)")
            if stage is Stage.LICENCE:
                self._licence_refused(account, late)
            else:
                self._failed(account, late)
            return None
        if stage is Stage.FIND:
            if error is not None:
                self._failed(account, error)
                return None
            found = next(iter((answer.body or {}).get("value") or []), None)
            deleted = None if found else self._deleted_users().get(immutable_id(account.plan.account_id))
            if found is not None:
                self._match(account, found, ours=True)
            elif deleted is not None:
                # A killed run's user, never recorded, deleted by hand since: brought back, not made
                # again (its immutable id is still held by the deleted user).
                account.cloud_id = deleted["id"]
                account.stage = Stage.RESTORE
            else:
                account.stage = Stage.LOOKUP
        elif stage is Stage.LOOKUP:
            account.looked_up = True
            found = next(iter((answer.body or {}).get("value") or []), None) if error is None else None
            if error is not None:
                self._failed(account, error)
            elif found is None:
                account.stage = Stage.CREATE
            else:
                self._match(account, found, ours=found.get("onPremisesImmutableId") ==
                            immutable_id(account.plan.account_id))
        elif stage is Stage.CREATE:
            if error is None:
                account.cloud_id, account.held = answer.body["id"], None
                self._made(account)
                self._stage(account.plan.account_id, cloud_id=account.cloud_id, upn=account.user.upn,
                            state=ChangeState.PENDING, deleted_at=None)
                self._after_user(account, "created")
            elif isinstance(error, errors.BadRequest) and error.upn_taken and not account.looked_up:
                account.stage = Stage.LOOKUP  # made meanwhile by someone else: match it instead
            elif isinstance(error, errors.BadRequest) and (error.upn_taken or error.immutable_id_taken):
                return self._taken_unseen(account, error)
            else:
                self._failed(account, error)
        elif stage is Stage.UPDATE:
            if error is None:
                self._after_user(account, "adopted" if account.adopting else "updated")
            elif isinstance(error, errors.NotFound):
                account.stage = Stage.RESTORE  # deleted by hand since: it may sit in deletedItems
            elif account.adopting and isinstance(error, errors.BadRequest) and not error.upn_taken:
                self._failed(account, _adoption_refused(error, immutable_id(account.plan.account_id)))
            else:
                self._failed(account, error)
        elif stage is Stage.RESTORE:
            if error is None:
                # The restored object, as Graph answers it; the licences it came back with, if it says.
                restored = (answer.body or {}).get("assignedLicenses") or []
                part_numbers = self.part_numbers()
                account.held = next((part_numbers.get(e["skuId"]) for e in restored), None)
                self._made(account)
                self._stage(account.plan.account_id, cloud_id=account.cloud_id, state=ChangeState.PENDING,
                            deleted_at=None)
                account.outcome = "restored"
                account.stage = Stage.UPDATE  # its UPN and names may have changed since
            elif _transient(error):
                self._failed(account, error)
            elif not account.looked_up:  # purged, or not restorable: match by UPN, or make it again
                account.stage = Stage.LOOKUP
            else:
                self._failed(account, error)
        elif stage is Stage.DELETE:
            if error is None or isinstance(error, errors.NotFound):
                # Kept with the time: for 30 days the account can come back from deletedItems.
                self._stage(account.plan.account_id, state=ChangeState.APPLIED, deleted_at=self.now, digest=None,
                            licence=None)
                self.report.count("deleted")
                self.report.count("applied")
                account.stage = Stage.DONE
            else:
                self._failed(account, error)
        elif stage is Stage.LICENCE:
            if error is None:
                self._applied(account)
            else:
                self._licence_refused(account, error)
        return None

    def _taken_unseen(self, account: _Account, error: errors.GraphError) -> float | None:
        """The create was refused as taken though the lookups just found no such user. The writer
        checks uniqueness against every user, the replicas answering the lookups see a user only
        once it replicated (errors.lag_suspect): most likely this account's own user, made by a run
        killed before it could record it. The lookups go again with back-off, for up to lag_limit."""
        now = self.clock()
        if account.conflict_until is None:
            account.conflict_until = now + self.lag_limit
        if now >= account.conflict_until:
            self._failed(account, error)
            return None
        account.lag_waits += 1
        self.report.count("lag retries")
        account.stage = Stage.FIND  # by immutable id first: its own user is adopted, not reported
        return min(LAG_LONGEST_WAIT, LAG_FIRST_WAIT * 2 ** (account.lag_waits - 1))

    def _made(self, account: _Account) -> None:
        """The account's cloud user was just created or restored. Replicas learn of it later (Entra ID
        is eventually consistent, see `errors.lag_suspect`): its next step waits LAG_FIRST_WAIT rather
        than spend a write on a 404 that is all but certain; a 404 after that is backed off in `_take`."""
        now = self.clock()
        account.fresh_until = now + self.lag_limit
        account.not_before = now + LAG_FIRST_WAIT

    def _match(self, account: _Account, found: dict[str, Any], ours: bool) -> None:
        """A cloud user found by immutable id (`ours`) or by UPN: adopted, or reported."""
        part_numbers = self.part_numbers()
        account.cloud_id = found["id"]
        account.held = next((part_numbers.get(e["skuId"]) for e in found.get("assignedLicenses") or []), None)
        if not ours and found.get("onPremisesImmutableId"):
            # Another on-premises identity owns this cloud user: overwriting its immutable id would
            # move that person's sign-in to this account. Entra Connect refuses a hard match then too.
            self._failed(account, errors.BadRequest(
                409, IMMUTABLE_ID_CONFLICT, "the tenant's user with this account's userPrincipalName has another "
                "onPremisesImmutableId; left as it is: an administrator must resolve it (rename or delete "
                "that cloud user, or clear its onPremisesImmutableId)"))
            account.cloud_id = None
            return
        account.adopting = not ours
        if ours:  # a user to adopt is on record only once it holds the immutable id (a refused or
            # killed adoption is found again by its UPN, never taken for the account's own user)
            self._stage(account.plan.account_id, cloud_id=found["id"], upn=found.get("userPrincipalName"),
                        licence=account.held, digest=None, state=ChangeState.PENDING, deleted_at=None)
        account.outcome = "adopted"
        account.stage = Stage.UPDATE

    # -- sending ---------------------------------------------------------------------------------
    def _apply(self, plans: list[AccountPlan], rows: dict[str, CloudAccount]) -> None:
        accounts = []
        for plan in plans:
            account = self._start(plan, rows.get(plan.account_id))
            accounts.append(account)
            if plan.change in (Change.CREATE, Change.FIND):  # intent first: a rerun looks a create up first
                self._stage(plan.account_id, upn=plan.wanted_user.upn, state=ChangeState.PENDING)
        self._flush()
        looking = [a for a in accounts if a.stage in (Stage.FIND, Stage.LOOKUP)]
        if len(looking) > LIST_INSTEAD or (looking and self._tenant is not None):
            self._look_up_in_listing(looking)
        self._pipeline(accounts)

    def _tenant_listing(self) -> dict[str, dict[str, Any]]:
        """Every cloud user, by lower-cased UPN and by immutable id (one request per 999 users)."""
        if self._tenant is None:
            self._tenant = {}
            for user in self.graph.pages(f"/users?$select={USER_FIELDS},accountEnabled&$top=999"):
                self._tenant[user.get("userPrincipalName", "").lower()] = user
                if user.get("onPremisesImmutableId"):
                    self._tenant[f"immutable:{user['onPremisesImmutableId']}"] = user
        return self._tenant

    def _deleted_users(self) -> dict[str, dict[str, Any]]:
        """The tenant's deleted users by immutable id, listed once a run. Graph documents no
        $filter on onPremisesImmutableId for deleted items (docs/graph-fake.md) and shows a deleted
        user's UPN with its object id before it, so neither filter finds one: the listing is read
        (999 a page; deleted users are kept 30 days) and matched here."""
        if self._deleted is None:
            self._deleted = {}
            for user in self.graph.pages("/directory/deletedItems/microsoft.graph.user"
                                         "?$select=id,userPrincipalName,onPremisesImmutableId&$top=999"):
                if user.get("onPremisesImmutableId"):
                    self._deleted[user["onPremisesImmutableId"]] = user
        return self._deleted

    def _look_up_in_listing(self, accounts: list[_Account]) -> None:
        """Many lookups at once (a first sync, a full one): answered from one listing of the tenant
        instead of a request each; what they find is taken as a lookup's answer would be."""
        listing = self._tenant_listing()
        for account in accounts:
            while account.stage in (Stage.FIND, Stage.LOOKUP):
                key = (f"immutable:{immutable_id(account.plan.account_id)}" if account.stage is Stage.FIND
                       else account.user.upn.lower())
                found = listing.get(key)
                self._take(account, Answer(f"{account.plan.account_id}:listed", 200,
                                           {"value": [found] if found else []}))
            account.looked_up = False  # a create refused as taken still asks Graph itself once
        self._flush()

    def _pipeline(self, accounts: list[_Account]) -> None:
        """Fully parallel batches of at most 20 steps, one per account; an account waiting (for a
        Retry-After, or for replication) waits alone while the others go on."""
        ready = collections.deque(accounts)
        waiting: list[tuple[float, int, _Account]] = []
        serial = 0
        while ready or waiting:
            now = self.clock()
            while waiting and waiting[0][0] <= now:
                ready.append(heapq.heappop(waiting)[2])
            if not ready:
                self.graph.sleep(max(0.001, waiting[0][0] - now))
                continue
            batch: list[tuple[_Account, Step]] = []
            while ready and len(batch) < STEPS_PER_BATCH and not (batch and ready[0].alone):
                account = ready.popleft()
                step = self._step(account)
                if step is None:
                    continue  # settled without a request
                if self.graph.dry_run and step.method in WRITE_METHODS:
                    self.report.count(f"would {account.stage.value}")
                    account.stage = Stage.DONE
                    continue
                batch.append((account, step))
                if account.alone:
                    break
            if not batch:
                continue
            delays = self._send(batch)
            for (account, _step), delay in zip(batch, delays, strict=True):
                if account.stage is Stage.DONE:
                    continue
                if delay is None and account.not_before is not None and account.not_before > self.clock():
                    serial += 1  # waits for replication, not a retry: the others go on meanwhile
                    heapq.heappush(waiting, (account.not_before, serial, account))
                elif delay is None:
                    ready.append(account)
                else:
                    serial += 1
                    self.graph.stats.retries += 1
                    heapq.heappush(waiting, (self.clock() + delay, serial, account))
            self._flush(wait=False)
            if self.heartbeat is not None:
                self.heartbeat()

    def _send(self, batch: list[tuple[_Account, Step]]) -> list[float | None]:
        """One $batch; each account's wait before its next step (None: at once)."""
        try:
            answers = self.graph.send_batch([step for _account, step in batch])
        except (errors.Throttled, errors.Unavailable) as refused:  # the whole batch: every step again
            delays: list[float | None] = []
            for account, _step in batch:
                account.attempts += 1
                if account.attempts >= self.graph.max_attempts:
                    self._failed(account, refused)
                    delays.append(None)
                else:
                    delays.append(refused.retry_after if refused.retry_after is not None
                                  else self.graph.backoff(account.attempts, None))
            return delays
        except errors.BadRequest as refused:  # the $batch itself: none of its steps ran
            if len(batch) > 1:
                self.report.count("batches refused")
                for account, _step in batch:
                    account.alone = True  # each again in a batch of its own, to find the one refused
                return [None] * len(batch)
            account, step = batch[0]
            answers = {step.id: Answer(step.id, refused.status, {"error": {"code": refused.code,
                                                                           "message": refused.message}})}
        if len(batch) == 1:
            batch[0][0].alone = False  # sent alone once: its own answer says whether it was the refused one
        return [self._take(account, answers[step.id]) for account, step in batch]

    # -- outcomes --------------------------------------------------------------------------------
    def _applied(self, account: _Account) -> None:
        user = account.user
        self._stage(account.plan.account_id, cloud_id=account.cloud_id, upn=user.upn, licence=user.licence,
                    digest=user.digest(), state=ChangeState.APPLIED, deleted_at=None)
        add, remove = self._licence_change(account)
        if account.stage is Stage.LICENCE:
            self._licence_outcome(account.plan, True, None)
            self.report.count("licensed" if add else "unlicensed")
            if remove in self._free:
                self._free[remove] += 1  # back in the pool for the accounts after it (G-2)
        elif account.plan.account_id in self._requested:
            # The tenant's user already holds what the portal asked for (a killed run assigned it
            # and died before writing that down): the request is met all the same.
            self._licence_outcome(account.plan, True, None)
        self.report.count(account.outcome or "updated")
        self.report.count("applied")
        account.stage = Stage.DONE

    def _licence_refused(self, account: _Account, error: errors.GraphError) -> None:
        """The user is there; its licence is not: recorded against the account with the code."""
        transient = _transient(error) or errors.lag_suspect(error)
        self._release_seat(account)
        # The digest of what the tenant holds (the profile sent, the licence it had): the next run
        # sends only the licence again.
        self._stage(account.plan.account_id, cloud_id=account.cloud_id, upn=account.user.upn, licence=account.held,
                    digest=_as_held(account.user, account.held).digest(),
                    state=ChangeState.PENDING if transient else ChangeState.FAILED, error=error, deleted_at=None)
        if not transient:
            self._licence_outcome(account.plan, False, error)
        self.report.count("licence left pending" if transient else "licence failed")
        self.report.not_taken(account.user.upn, error, transient)
        account.stage = Stage.DONE

    def _release_seat(self, account: _Account) -> None:
        if account.seat is not None:  # the seat counted down for it was not taken
            self._free[account.seat] += 1
            account.seat = None

    def _licence_outcome(self, plan: AccountPlan, applied: bool, error: errors.GraphError | None) -> None:
        self._licences[plan.account_id] = (applied, f"{error.code}: {error.message}" if error else None)

    def _refuse_before_sending(self, account: Account, reason: str) -> None:
        error = errors.GraphError(400, INVALID_USER_PRINCIPAL_NAME, reason)
        self._stage(account.id, state=ChangeState.FAILED, error=error, digest=None)
        self.report.not_taken(account.id, error)

    def _failed(self, account: _Account, error: errors.GraphError) -> None:
        plan = account.plan
        transient = _transient(error)
        self._release_seat(account)
        # Recorded with Graph's code; pending or failed, the next run sends it again (issue 14).
        self._stage(plan.account_id, state=ChangeState.PENDING if transient else ChangeState.FAILED, error=error,
                    digest=None)
        if not transient and plan.user is not None and plan.user.licence:
            self._licence_outcome(plan, False, error)
        self.report.not_taken(plan.user.upn if plan.user else plan.account_id, error, transient)
        account.stage = Stage.DONE

    # -- the record: staged per account, written once per batch --------------------------------------
    def _stage(self, account_id: str, *, state: ChangeState, error: errors.GraphError | None = None, **fields) -> None:
        staged = self._staged.setdefault(account_id, {})
        staged.update(fields)
        staged.update(state=state, error_code=error.code if error else None,
                      error_message=error.message if error else None,
                      error_permanent=bool(error and not _transient(error)))

    def _flush(self, wait: bool = True) -> None:
        """Hand what was staged to the recorder. `wait`: return once it is written (an intent that
        must be on record before its request goes out); otherwise it is written while the next
        batch is on the wire."""
        if self._staged or self._licences:
            self._recorder.submit(self._staged, self._licences)
            self._staged, self._licences = {}, {}
        if wait:
            self._recorder.wait()

    def _write(self, staged: dict[str, dict], licences: dict[str, tuple[bool, str | None]]) -> None:
        """One transaction for one batch's outcomes: an UPDATE per known account and an INSERT per
        new one, sent as two executemany (a SELECT by primary key per account cost more than the
        batch's own round trip to Graph), and the licence requests they settle."""
        with self.db.session() as session, session.begin():
            ids = list(staged)
            held: dict[str, str | None] = {}
            for start in range(0, len(ids), 500):
                query = select(CloudAccount.account_id, CloudAccount.cloud_id).where(
                    CloudAccount.account_id.in_(ids[start:start + 500]))
                held.update((account_id, cloud_id) for account_id, cloud_id in session.execute(query))
            inserts, updates = [], []
            for account_id, fields in staged.items():
                values = {**fields, "account_id": account_id, "updated_at": self.now}
                if values.get("cloud_id", "keep") is None and held.get(account_id):
                    del values["cloud_id"]  # a cloud user on record is kept
                if account_id in held:
                    updates.append(values)
                else:
                    inserts.append({"error_permanent": False, **values})
            if inserts:
                session.execute(insert(CloudAccount), inserts)
            if updates:
                session.execute(update(CloudAccount), updates)
            if licences:
                licence_requests.settle_in(session, licences, self.now)


class _Recorder:
    """Writes the sync's outcomes to the operational store on a thread of its own, in the order
    they were handed over, so one batch's outcomes are recorded while the next batch is on the
    wire (issue 14 point 8: recording between batches cost a tenth of the write budget).

    What a killed run loses is what was handed over and not yet written: at most the outcomes of
    the batch before the one in flight. Nothing a later request depends on is among them: the
    intent of a create is written (waited for) before the create is sent, and a create whose
    answer went unrecorded is found again by its immutable id on the next run (Stage.FIND)."""

    def __init__(self, write: Callable[[dict[str, dict], dict[str, tuple[bool, str | None]]], None]):
        self.write = write
        self.queue: queue.Queue[tuple[dict, dict] | None] = queue.Queue()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="graph-sync-recorder", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                if self.failure is None:  # after a failure nothing more: the order would be broken
                    self.write(*item)
            except BaseException as exc:  # noqa: BLE001 - handed to the sync's thread, raised there
                self.failure = exc
            finally:
                self.queue.task_done()

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def submit(self, staged: dict[str, dict], licences: dict[str, tuple[bool, str | None]]) -> None:
        self._raise_failure()
        self.queue.put((staged, licences))

    def wait(self) -> None:
        """Until everything handed over is written; a write that failed is raised here."""
        self.queue.join()
        self._raise_failure()

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        self.queue.put(None)
        self.thread.join()
