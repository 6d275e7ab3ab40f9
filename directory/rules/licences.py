"""Staff licences within a school's quota (SPEC G-2). Pure: the counts are passed in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LicenceUse:
    used: int  # active staff holding or awaiting a licence
    quota: int | None  # None: the school has no quota recorded yet, so nothing may be allocated

    @property
    def free(self) -> int:
        return max(0, (self.quota or 0) - self.used)


def within_quota(used: int, quota: int | None) -> bool:
    """After an allocation: beyond the quota it is refused, whole (never a partial allocation
    the person did not ask for); with no quota recorded nothing may be allocated."""
    return used == 0 or (quota is not None and used <= quota)
