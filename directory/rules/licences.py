"""Staff licences within a school's quota (SPEC G-2). Pure: the requests and the quota are passed in.

A licence is *used* by each of the school's active staff whose latest request wants one, whether
the tenant has applied it yet or not (pending counts: it is promised). An allocation is allowed
only if the use after it stays within the quota; beyond it the allocation is refused whole,
never cut to the licences left.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class LicenceUse:
    used: int  # active staff holding or awaiting a licence
    quota: int | None  # None: the school has no quota recorded yet, so nothing may be allocated

    @property
    def free(self) -> int:
        return max(0, (self.quota or 0) - self.used)

    @property
    def fits(self) -> bool:
        """Is this use within the quota?"""
        return within_quota(self.used, self.quota)

    def allows(self, more: int) -> bool:
        """May `more` licences be allocated on top of this use?"""
        return LicenceUse(self.used + more, self.quota).fits


def within_quota(used: int, quota: int | None) -> bool:
    """After an allocation: beyond the quota it is refused, whole (never a partial allocation
    the person did not ask for); with no quota recorded nothing may be allocated."""
    return used == 0 or (quota is not None and used <= quota)


def staff_licence_use(wanted: Mapping[str, bool], active_staff: Collection[str], quota: int | None) -> LicenceUse:
    """The school's licence use: `wanted` is each account's latest request (True: allocate),
    `active_staff` the ids of the school's active staff, the only accounts that count (a
    leaver's licence returns to the pool)."""
    return LicenceUse(used=sum(1 for account_id, wants in wanted.items() if wants and account_id in active_staff),
                      quota=quota)
