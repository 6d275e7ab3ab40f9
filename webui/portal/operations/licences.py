"""Allocating and revoking staff Microsoft 365 licences (SPEC G-2): queued for the Graph job,
never beyond the school's quota (the rule: directory/rules/licences.py)."""

from __future__ import annotations

from directory.model import Account, School
from directory.rules.licences import staff_licence_use
from operational import licence_requests
from operational.licence_requests import LicenceState, OverQuota
from operational.statuses import AuditOutcome
from webui.portal.operations.core import Caller, Records, audit_entry, permit, permit_each
from webui.portal.permissions import Action, school_target


class BeyondQuota(Exception):
    """The allocation would take the school beyond its staff licence quota: nothing was queued."""

    def __init__(self, school: School):
        super().__init__(f"school {school.dfes}: beyond its quota of {school.staff_licence_quota} licences")
        self.quota = school.staff_licence_quota or 0


def change_licences(records: Records, by: Caller, school: School, staff: list[Account], chosen: list[Account],
                    allocate: bool) -> list[str]:
    """Allocate (or revoke) a licence for each chosen member of the school's active `staff`; the ids
    whose wanted state changed. An allocation is refused whole beyond the quota, and the refusal audited."""
    permit(by, Action.MANAGE_LICENCES, school_target(school.dfes))
    permit_each(by, Action.MANAGE_LICENCES, chosen)
    active = {a.id for a in staff}

    def within_quota(after: dict[str, LicenceState]) -> bool:
        # Seen inside the queue's transaction: two administrators cannot both take the last licence.
        return staff_licence_use({i: s.wanted for i, s in after.items()}, active,
                                 school.staff_licence_quota).fits

    try:
        changed = licence_requests.request(records.queue_database(), school.dfes, [a.id for a in chosen], allocate,
                                           by.username, by.at, allowed=within_quota if allocate else None)
    except OverQuota:
        records.audit.record(audit_entry(by, "allocate-licence", target_kind="school", target_id=school.dfes,
                                         school=school.dfes, outcome=AuditOutcome.REFUSED,
                                         detail={"asked": len(chosen)}))
        raise BeyondQuota(school) from None
    by_id = {a.id: a for a in chosen}
    for account_id in changed:
        records.audit.record(audit_entry(by, "allocate-licence" if allocate else "revoke-licence", by_id[account_id]))
    return changed
