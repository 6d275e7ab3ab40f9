"""Keeping the Microsoft 365 tenant in step with the directory (issue 6; SPEC G-1..G-3).

Incremental by default: the accounts changed in LDAP since the last good run
(slapd's modifyTimestamp), those whose staff licence request waits, and those
a transient Graph failure left pending. A full reconciliation also reads every
cloud user and repairs drift made in the tenant by hand. What to do is decided
by connectors/graph/desired.py (pure); this module reads, sends in $batch of
20 (an account's steps always in one batch), and records each account's
outcome in the operational store before and after sending, so a killed run
reruns without a duplicate cloud user: an account whose create may have gone
out unrecorded is looked up by its immutable id first.
"""

from __future__ import annotations

import collections
import heapq
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from connectors.graph import errors
from connectors.graph.client import Answer, GraphClient, PendingSteps, Step
from connectors.graph.desired import AccountPlan, Change, Known, Skus, desired_user, plan_account
from directory.model import Account, AccountKind, AccountState
from directory.store import AccountQuery, DirectoryStore
from operational import licence_requests
from operational.db import Database
from operational.statuses import ChangeState
from operational.tables import CloudAccount, SyncMark

log = logging.getLogger("porth.graph.sync")
MARK = "graph-sync"
STEPS_PER_BATCH = 20


@dataclass
class SyncReport:
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)

    def count(self, name: str, by: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + by


def _transient(error: errors.GraphError) -> bool:
    """Worth sending again on the next run (throttled, unavailable, or held up by such a step)."""
    return error.retryable or isinstance(error, errors.FailedDependency)


def _known(row: CloudAccount | None) -> Known | None:
    if row is None:
        return None
    return Known(row.cloud_id, row.digest, row.upn, row.licence, applied=row.state == ChangeState.APPLIED,
                 refused=row.state == ChangeState.FAILED and row.error_permanent)


class TenantSync:
    def __init__(self, store: DirectoryStore, db: Database, graph: GraphClient, skus: Skus, now: datetime):
        self.store, self.db, self.graph, self.skus, self.now = store, db, graph, skus, now
        self.report = SyncReport()
        self._sku_ids: dict[str, str] | None = None
        self._staged: dict[str, dict] = {}
        self._forgotten: set[str] = set()
        self._licences: dict[str, tuple[bool, str | None]] = {}

    # -- reading ---------------------------------------------------------------------------------
    def sku_ids(self) -> dict[str, str]:
        if self._sku_ids is None:
            self._sku_ids = {s["skuPartNumber"]: s["skuId"] for s in self.graph.pages("/subscribedSkus")}
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
        started = self.now
        since = None if full else self._mark()
        staff_wanted = licence_requests.latest_everywhere(self.db)
        if since is None:
            accounts = self.store.find_accounts(AccountQuery(kinds=kinds))
            rows = self._rows()
        else:
            accounts = self.store.find_accounts(AccountQuery(kinds=kinds, changed_since=since))
            waiting = {a for a, s in staff_wanted.items() if s.state is ChangeState.PENDING}
            with self.db.session() as session:
                waiting |= set(session.scalars(select(CloudAccount.account_id)
                                               .where(CloudAccount.state == ChangeState.PENDING)))
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
            desired = desired_user(account, bool(wanted and wanted.wanted), self.skus)
            known = _known(rows.get(account.id))
            if account.id in drifted and known is not None:
                known = Known(known.cloud_id, None, known.upn, None, applied=False)  # what the tenant holds is unknown
            plan = plan_account(account.id, desired, known, retry_failed=full)
            if plan.change is not Change.NOTHING:
                plans.append(plan)
        if full:
            present = {a.id for a in accounts}
            plans += [AccountPlan(account_id, Change.DELETE, None) for account_id, row in rows.items()
                      if account_id not in present and row.cloud_id]  # an account gone from the directory
        self.report.count("considered", len(accounts))
        self._apply(plans, rows)
        if not kinds:
            self._set_mark(started)
        return self.report

    def _drift(self, accounts: list[Account], rows: dict[str, CloudAccount]) -> set[str]:
        """Accounts whose cloud user differs from what Porth last applied (changed by hand in the tenant)."""
        by_cloud_id = {row.cloud_id: row for row in rows.values() if row.cloud_id}
        enabled = {a.id: a.state is AccountState.ACTIVE for a in accounts}
        part_numbers = self.part_numbers()
        drifted = set()
        seen = set()
        for user in self.graph.pages("/users?$select=id,userPrincipalName,accountEnabled,assignedLicenses,"
                                     "onPremisesImmutableId&$top=999"):
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
        # A cloud user deleted by hand: create it again.
        for account_id, row in list(rows.items()):
            if row.cloud_id and account_id not in seen:
                self._stage_forget(account_id)
                rows.pop(account_id)
                drifted.discard(account_id)
                self.report.count("recreated")
        self._flush()
        self.report.count("drifted", len(drifted))
        return drifted

    # -- sending ---------------------------------------------------------------------------------
    def _steps(self, plan: AccountPlan, cloud_id: str | None) -> list[Step]:
        key = plan.account_id
        steps: list[Step] = []
        licence_path = None
        if plan.change is Change.CREATE:
            user = plan.wanted_user
            body = {**user.profile(), "onPremisesImmutableId": plan.account_id,
                    "passwordProfile": {"forceChangePasswordNextSignIn": False,
                                        # Never used: people sign in through Porth's IdP (federated).
                                        "password": secrets.token_urlsafe(18) + "Aa1"}}
            steps.append(Step(f"{key}:user", "POST", "/users", body))
            licence_path = f"/users/{user.upn}/assignLicense"
        elif plan.change is Change.UPDATE:
            steps.append(Step(f"{key}:user", "PATCH", f"/users/{cloud_id}", plan.wanted_user.profile()))
            licence_path = f"/users/{cloud_id}/assignLicense"
        elif plan.change is Change.DELETE:
            steps.append(Step(f"{key}:user", "DELETE", f"/users/{cloud_id}"))
        if licence_path and (plan.add_licence or plan.remove_licence):
            ids = self.sku_ids()
            steps.append(Step(f"{key}:licence", "POST", licence_path, {
                "addLicenses": [{"skuId": ids[plan.add_licence], "disabledPlans": []}] if plan.add_licence else [],
                "removeLicenses": [ids[plan.remove_licence]] if plan.remove_licence else []},
                depends_on=(f"{key}:user",)))
        return steps

    def _find_existing(self, plan: AccountPlan) -> tuple[AccountPlan, str | None]:
        """A create that may have gone out unrecorded (a killed run): adopt the cloud user if it exists."""
        found = next(iter(self.graph.pages(f"/users?$filter=onPremisesImmutableId eq '{plan.account_id}'")), None)
        if found is None:
            return AccountPlan(plan.account_id, Change.CREATE, plan.user, add_licence=plan.wanted_user.licence), None
        part_numbers = self.part_numbers()
        held = next((part_numbers.get(entry["skuId"]) for entry in found.get("assignedLicenses") or []), None)
        self._stage(plan.account_id, cloud_id=found["id"], upn=found.get("userPrincipalName"), licence=held,
                    digest=None, state=ChangeState.PENDING)
        self.report.count("adopted")
        known = Known(found["id"], None, found.get("userPrincipalName"), held, applied=False)
        return plan_account(plan.account_id, plan.user, known), found["id"]

    def _apply(self, plans: list[AccountPlan], rows: dict[str, CloudAccount]) -> None:
        cloud_ids = {a: r.cloud_id for a, r in rows.items()}
        groups: list[_Group] = []
        for planned in plans:
            plan = planned
            if planned.change is Change.FIND:
                plan, cloud_ids[planned.account_id] = self._find_existing(planned)
            steps = self._steps(plan, cloud_ids.get(plan.account_id))
            if steps:
                groups.append(_Group(plan, PendingSteps(steps)))
            if plan.change is Change.CREATE:  # intent first: a rerun looks a pending create up before making it
                self._stage(plan.account_id, upn=plan.wanted_user.upn, state=ChangeState.PENDING)
        self._flush()
        self._pipeline(groups)

    def _pipeline(self, groups: list[_Group]) -> None:
        """Batches of 20 steps; throttled steps wait for their Retry-After while other work goes on."""
        ready = collections.deque(groups)
        waiting: list[tuple[float, int, _Group]] = []
        serial = 0
        while ready or waiting:
            now = time.monotonic()
            while waiting and waiting[0][0] <= now:
                ready.append(heapq.heappop(waiting)[2])
            if not ready:
                self.graph.sleep(max(0.001, waiting[0][0] - now))
                continue
            batch, size = [], 0
            while ready and size + len(ready[0].pending.unanswered()) <= STEPS_PER_BATCH:
                group = ready.popleft()
                batch.append(group)
                size += len(group.pending.unanswered())
            steps = [step for group in batch for step in group.pending.to_send()]
            reply: dict[str, Answer] | errors.GraphError
            try:
                reply = self.graph.send_batch(steps)
            except errors.WritesBlocked:
                for group in batch:
                    self.report.count(f"would {group.plan.change.value}")
                continue
            except (errors.Throttled, errors.Unavailable) as exc:  # the whole batch
                reply = exc
            answers = None if isinstance(reply, errors.GraphError) else reply
            for group in batch:
                pending = group.pending
                delay = pending.take_refusal(reply) if isinstance(reply, errors.GraphError) else pending.take(reply)
                if pending.done():
                    self._settle(group.plan, pending.final_answers())
                elif pending.attempts >= self.graph.max_attempts:
                    self._settle(group.plan, pending.final_answers(last=answers))
                else:
                    serial += 1
                    pause = delay if delay is not None else self.graph.backoff(pending.attempts, None)
                    self.graph.stats.retries += 1
                    heapq.heappush(waiting, (time.monotonic() + pause, serial, group))
            self._flush()

    def _settle(self, plan: AccountPlan, answers: list[Answer]) -> None:
        user_answer = answers[0]
        licence_answer = answers[1] if len(answers) > 1 else None
        user_error = user_answer.error  # None exactly when the answer is ok
        if plan.change is Change.DELETE:
            if user_error is None or isinstance(user_error, errors.NotFound):
                self._stage_forget(plan.account_id)
                self.report.count("deleted")
            else:
                self._failed(plan, user_error)
            return
        if user_error is not None:
            self._failed(plan, user_error)
            return
        user = plan.wanted_user
        cloud_id = user_answer.body["id"] if plan.change is Change.CREATE else self._UNSET
        licence_error = licence_answer.error if licence_answer is not None else None
        if licence_error is not None:
            # The user is there; its licence is not: recorded against the account with Graph's code.
            transient = _transient(licence_error)
            self._stage(plan.account_id, cloud_id=cloud_id, upn=user.upn,
                        licence=None if plan.change is Change.CREATE else self._UNSET,
                        digest=None if transient else user.digest(),
                        state=ChangeState.PENDING if transient else ChangeState.FAILED, error=licence_error)
            if not transient:
                self._licence_outcome(plan, False, licence_error)
            self.report.count("licence left pending" if transient else "licence failed")
            self.report.errors.append({"record": user.upn, "error": licence_error.code,
                                       "detail": licence_error.message})
            return
        self._stage(plan.account_id, cloud_id=cloud_id, upn=user.upn, licence=user.licence,
                    digest=user.digest(), state=ChangeState.APPLIED)
        if licence_answer is not None:
            self._licence_outcome(plan, True, None)
            self.report.count("licensed" if plan.add_licence else "unlicensed")
        self.report.count("created" if plan.change is Change.CREATE else "updated")

    def _licence_outcome(self, plan: AccountPlan, applied: bool, error: errors.GraphError | None) -> None:
        self._licences[plan.account_id] = (applied, f"{error.code}: {error.message}" if error else None)

    def _failed(self, plan: AccountPlan, error: errors.GraphError) -> None:
        transient = _transient(error)
        # A permanent refusal is remembered with what was wanted: not sent again until that changes
        # (or the full reconciliation retries it); a transient one is retried by the next run.
        self._stage(plan.account_id, state=ChangeState.PENDING if transient else ChangeState.FAILED, error=error,
                    digest=None if transient or plan.user is None else plan.user.digest())
        if not transient and plan.user is not None and plan.user.licence:
            self._licence_outcome(plan, False, error)
        self.report.count("left pending" if transient else "failed")
        self.report.errors.append({"record": plan.user.upn if plan.user else plan.account_id, "error": error.code,
                                   "detail": error.message})

    # -- the record: staged per account, written once per batch --------------------------------------
    _UNSET = object()

    def _stage(self, account_id: str, *, state: ChangeState, error: errors.GraphError | None = None, **fields) -> None:
        staged = self._staged.setdefault(account_id, {})
        staged.update({k: v for k, v in fields.items() if v is not self._UNSET})
        staged.update(state=state, error_code=error.code if error else None,
                      error_message=error.message if error else None,
                      error_permanent=bool(error and not _transient(error)))
        self._forgotten.discard(account_id)

    def _stage_forget(self, account_id: str) -> None:
        self._staged.pop(account_id, None)
        self._forgotten.add(account_id)

    def _flush(self) -> None:
        if not (self._staged or self._forgotten or self._licences):
            return
        with self.db.session() as session, session.begin():
            for account_id, staged in self._staged.items():
                row = session.get(CloudAccount, account_id) or CloudAccount(account_id=account_id,
                                                                            error_permanent=False)
                fields = staged
                if fields.get("cloud_id", "keep") is None and row.cloud_id:
                    fields = {k: v for k, v in fields.items() if k != "cloud_id"}
                for name, value in fields.items():
                    setattr(row, name, value)
                row.updated_at = self.now
                session.add(row)
            for account_id in self._forgotten:
                gone = session.get(CloudAccount, account_id)
                if gone is not None:
                    session.delete(gone)
        for account_id, (applied, error) in self._licences.items():
            licence_requests.settle(self.db, account_id, applied, self.now, error=error)
        self._staged, self._forgotten, self._licences = {}, set(), {}


@dataclass
class _Group:
    """One account's steps (a user change and perhaps its licence) on their way to Graph."""

    plan: AccountPlan
    pending: PendingSteps
