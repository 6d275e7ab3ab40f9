"""What the Microsoft 365 tenant should hold for each account, and what to send to get
there (SPEC G-1..G-3). Pure: the caller reads the directory, the licence requests and
what Porth last applied; this module decides; connectors/graph/sync.py sends.

The cloud user of an account is found by its `onPremisesImmutableId`,
`directory.rules.cloud_identity.immutable_id(account id)`: a username change (A-5) renames
the same cloud user, never makes a second one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from directory.model import Account, AccountKind, AccountState
from directory.rules import consent
from directory.rules.cloud_principal import user_principal_name

USAGE_LOCATION = "GB"
# Microsoft: a deleted user stays in directory/deletedItems for 30 days and can be restored with
# its mailbox and OneDrive ("directory: deletedItems", "Restore deleted item"); after that it is
# purged for good. A margin of a day: Porth's deletion time is when it saw the 204.
RESTORABLE_FOR = timedelta(days=29)


@dataclass(frozen=True)
class CloudUser:
    """The desired cloud user of an account; `licence` is a skuPartNumber or None."""

    account_id: str
    upn: str
    display_name: str
    mail_nickname: str
    given_name: str
    surname: str
    enabled: bool
    licence: str | None

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode("utf-8")).hexdigest()[:32]

    def profile(self) -> dict[str, Any]:
        """The user's properties as Graph takes them (PATCH / POST)."""
        return {"accountEnabled": self.enabled, "displayName": self.display_name, "mailNickname": self.mail_nickname,
                "userPrincipalName": self.upn, "givenName": self.given_name, "surname": self.surname,
                "usageLocation": USAGE_LOCATION}


@dataclass(frozen=True)
class Skus:
    learner: str  # skuPartNumber, e.g. STANDARDWOFFPACK_STUDENT
    staff: str  # e.g. STANDARDWOFFPACK_FACULTY


def mail_nickname(username: str) -> str:
    return "".join(ch for ch in username if ch.isalnum() or ch in "-_.")[:64] or "user"


def desired_user(account: Account, staff_licence_wanted: bool, skus: Skus) -> CloudUser | None:
    """None: the account must have no cloud user (deleted, L-4)."""
    if account.state is AccountState.DELETED:
        return None
    active = account.state is AccountState.ACTIVE
    licence = None
    if active and account.kind is AccountKind.LEARNER and consent.allows_learner_licence(account.consent):
        licence = skus.learner  # G-1, by the consent table the sign-in gate reads too (C-2)
    elif active and account.kind is AccountKind.STAFF and staff_licence_wanted:
        licence = skus.staff  # G-2: the portal's allocation; a leaver's returns to the pool
    return CloudUser(account_id=account.id, upn=user_principal_name(account),  # the name IDPEmail sends (S-1)
                     display_name=account.display_name or account.username,
                     mail_nickname=mail_nickname(account.username), given_name=account.forename,
                     surname=account.surname, enabled=active, licence=licence)


@dataclass(frozen=True)
class Known:
    """What Porth last applied for an account (the operational store's cloud_accounts row,
    whose state the sync reads into `applied` / `refused`)."""

    cloud_id: str | None
    digest: str | None
    upn: str | None
    licence: str | None  # skuPartNumber assigned, as far as Porth knows
    applied: bool  # the last change reached the tenant
    refused: bool = False  # the tenant refused the last change for good (e.g. no free licence)
    deleted_at: datetime | None = None  # Porth deleted the cloud user then (it sits in deletedItems)


def restorable(deleted_at: datetime, now: datetime) -> bool:
    """A cloud user deleted then can still be restored from deletedItems now."""
    return now - deleted_at < RESTORABLE_FOR


class Change(StrEnum):
    CREATE = "create"
    FIND = "find"  # a create may have happened unrecorded (a killed run): look it up by immutable id first
    RESTORE = "restore"  # the cloud user Porth deleted less than 30 days ago: back from deletedItems
    UPDATE = "update"
    DELETE = "delete"
    NOTHING = "nothing"


@dataclass(frozen=True)
class AccountPlan:
    account_id: str
    change: Change
    user: CloudUser | None
    add_licence: str | None = None
    remove_licence: str | None = None

    @property
    def wanted_user(self) -> CloudUser:
        """The cloud user a create, find or update sends (plan_account gives only a delete or nothing none)."""
        if self.user is None:
            raise ValueError(f"a {self.change.value} of account {self.account_id} carries no cloud user")
        return self.user


def plan_account(account_id: str, desired: CloudUser | None, known: Known | None,
                 retry_failed: bool = False, now: datetime | None = None) -> AccountPlan:
    """The change one account needs. A change the tenant refused is sent again only when
    what is wanted changed, or when the caller asks (`retry_failed`: the tenant sync asks on
    every run, issue 14: a refusal may end in the tenant, a seat bought, a conflict resolved).
    A cloud user Porth deleted comes back from deletedItems while it is there (`now`)."""
    if known is not None and known.deleted_at is not None:
        if desired is None:
            return AccountPlan(account_id, Change.NOTHING, None)
        if known.cloud_id and now is not None and restorable(known.deleted_at, now):
            return AccountPlan(account_id, Change.RESTORE, desired, add_licence=desired.licence)
        return AccountPlan(account_id, Change.CREATE, desired, add_licence=desired.licence)
    if desired is None:
        if known is None or known.cloud_id is None:
            return AccountPlan(account_id, Change.NOTHING, None)
        return AccountPlan(account_id, Change.DELETE, None)
    if known is None:
        return AccountPlan(account_id, Change.CREATE, desired, add_licence=desired.licence)
    same = known.digest == desired.digest()
    if same and (known.applied or (known.refused and not retry_failed)):
        return AccountPlan(account_id, Change.NOTHING, desired)
    if known.cloud_id is None:
        return AccountPlan(account_id, Change.FIND, desired, add_licence=desired.licence)
    add = desired.licence if desired.licence != known.licence else None
    remove = known.licence if known.licence and known.licence != desired.licence else None
    return AccountPlan(account_id, Change.UPDATE, desired, add_licence=add, remove_licence=remove)
