"""The guard (SPEC M-11): when a school's plan is held instead of applied. Pure.

An empty, truncated or wrongly keyed export must never wipe a school, and the
normal calendar must not stop one. So the guard looks at what a broken export
does and a normal one does not:

- Disappearances: active accounts of the school that a full export no longer
  lists at all. Leavers the export itself marks with a leaving date are the
  school's own decision (the July leavers of the August rollover) and are not
  counted; nor are dual-registered learners who leave only a subsidiary school,
  since nothing is deactivated.
- The limit grows with the school: the configured share (10 %) of its active
  accounts, but never below the configured minimum (25 accounts) unless that is
  more than the small-school share (half) of the school. A 20-account school
  losing 15 is held; a 180-pupil primary may lose 24 unannounced, a 1,000-pupil
  secondary 100.
- Replacement: a plan creating many new learners while as many existing
  learners vanish (no longer matched by UPN hash) is what a wrong UPN-hash key
  or a changed MIS looks like, so it is held even when nothing is deactivated
  (with a wrong key every record still names its old account by admission
  number, so nobody "disappears", yet every learner would be made twice).

An administrator's release (`allowed_deactivations`, the count of the held run)
confirms that plan: it passes unless it would now deactivate more than was held.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from connectors.provisioning.plan import GUARD_DISAPPEARANCES, GUARD_REPLACEMENT, Hold


@dataclass(frozen=True)
class GuardPolicy:
    """SPEC M-11's thresholds (settings `provisioning.guard_*`)."""

    max_share: float = 0.10
    min_accounts: int = 25
    # Below the minimum, a school is still protected: more than this share of it disappearing holds.
    small_school_share: float = 0.5
    # Held when learner creations and vanished learners both reach this share of the active learners...
    replacement_share: float = 0.25
    # ...and at least this many, so one learner swapped for another in a small school is no hold.
    replacement_min: int = 5

    def limit(self, active_accounts: int) -> int:
        """The most disappearances a plan may carry without being held."""
        floor = min(self.min_accounts - 1, math.floor(self.small_school_share * active_accounts))
        return max(math.floor(self.max_share * active_accounts), floor)

    def replacement_threshold(self, active_learners: int) -> int:
        """How many creations, and as many vanished learners, make a plan look like a wrong key."""
        return max(self.replacement_min, math.ceil(self.replacement_share * active_learners))


@dataclass(frozen=True)
class GuardCounts:
    """What the guard weighs, counted by the planner."""

    active_accounts: int  # active MIS accounts whose main school this is
    active_learners: int
    disappearances: int  # active accounts no longer in a full export (Deactivate, LEFT_EXPORT)
    learners_created: int
    # Active learners of the school no record matches by UPN hash any more: those disappearing, and
    # those whose record (same admission number, another UPN hash) is planned as a new account.
    learners_vanished: int


def hold_for(counts: GuardCounts, policy: GuardPolicy, allowed_deactivations: int | None = None) -> Hold | None:
    """The Hold for this plan, or None when it may be applied."""
    if allowed_deactivations is not None:
        if counts.disappearances <= allowed_deactivations:
            return None
        return Hold(counts.disappearances, counts.active_accounts, allowed_deactivations,
                    f"{counts.disappearances} of {counts.active_accounts} active accounts would disappear from "
                    f"the export, more than the {allowed_deactivations} an administrator released",
                    GUARD_DISAPPEARANCES)
    limit = policy.limit(counts.active_accounts)
    if counts.disappearances > limit:
        return Hold(counts.disappearances, counts.active_accounts, limit,
                    f"{counts.disappearances} of {counts.active_accounts} active accounts would disappear from "
                    f"the export without a leaving date (more than {limit})", GUARD_DISAPPEARANCES)
    threshold = policy.replacement_threshold(counts.active_learners)
    if counts.learners_created >= threshold and counts.learners_vanished >= threshold:
        return Hold(counts.disappearances, counts.active_accounts, limit,
                    f"{counts.learners_created} new learner accounts while {counts.learners_vanished} of "
                    f"{counts.active_learners} active learners would no longer be matched by UPN (at least "
                    f"{threshold} of each): a wrong UPN-hash key or a changed MIS looks like this",
                    GUARD_REPLACEMENT)
    return None
