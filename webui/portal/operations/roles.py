"""Promoting and demoting digital champions and Hwb administrators (SPEC R-3, R-4, R-5):
one modify of the account's roles, audited. Nobody demotes themselves (the permission table)."""

from __future__ import annotations

from directory.model import Account, AccountKind, AccountState, Role
from webui.portal.operations.core import Caller, Records, audit_entry, permit
from webui.portal.permissions import Action, Target, TargetKind

HWB_ADMINISTRATOR_KINDS = frozenset({AccountKind.LA_NONMIS, AccountKind.REC_NONMIS})


def may_hold(account: Account, role: Role) -> bool:
    """Digital champions are a school's active staff (R-3); Hwb administrators are LA and REC
    non-MIS accounts (R-4)."""
    if role is Role.DIGITAL_CHAMPION:
        return account.kind is AccountKind.STAFF and account.state is AccountState.ACTIVE
    return role in (Role.LA_ADMINISTRATOR, Role.REC_ADMINISTRATOR) and account.kind in HWB_ADMINISTRATOR_KINDS


def role_target(account: Account, role: Role) -> Target:
    if role is Role.DIGITAL_CHAMPION:
        return Target(TargetKind.DIGITAL_CHAMPION, account.id, account.school)
    return Target(TargetKind.ADMINISTRATOR, account.id, organisation=account.organisation)


def change_role(records: Records, by: Caller, account: Account, role: Role, holds: bool) -> bool:
    """Promote (`holds`) or demote; False when the account already was so (nothing written)."""
    permit(by, Action.PROMOTE if holds else Action.DEMOTE, role_target(account, role))
    if holds and not may_hold(account, role):
        raise ValueError(f"a {account.kind.value} account cannot be a {role.value}")
    roles = set(account.roles) | {role} if holds else set(account.roles) - {role}
    if roles == set(account.roles):
        return False
    records.directory.update_account(account.id, {"roles": frozenset(r.value for r in roles)})
    records.audit.record(audit_entry(by, "promote" if holds else "demote", account, detail={"role": role.value}))
    return True
