"""Badges in the portal (issue 18 point 1; SPEC R-3, R-5, R-7): a school's badge settings, and
badges printed or revoked for one learner, the ticked learners or a whole group. Printing is
audited like a password reveal: one event per badge printed (a new badge each time, so printing
again makes the learner's old card useless at once); so is every badge revoked."""

from __future__ import annotations

from dataclasses import dataclass

from directory.model import Account, School
from directory.rules.badges import BadgeMode, NewBadge, SchoolBadges, badge_refusal
from idp import badges as badge_store
from operational import badges as stored_badges
from webui.portal.operations.core import Caller, Records, audit_entry, permit, permit_each
from webui.portal.permissions import Action, school_target


def change_settings(records: Records, by: Caller, school: School, settings: SchoolBadges) -> None:
    permit(by, Action.MANAGE_BADGES, school_target(school.dfes))
    badge_store.save_school_badges(records.queue_database(), school.dfes, settings, by.username, by.at)
    records.audit.record(audit_entry(by, "badge-settings", target_kind="school", target_id=school.dfes,
                                     target_label=school.name, school=school.dfes,
                                     detail={"enabled": settings.enabled, "years": list(settings.years),
                                             "mode": settings.mode.value}))


@dataclass(frozen=True)
class PrintedBadges:
    printed: list[tuple[Account, NewBadge]]
    left_out: list[Account]  # not eligible (not a learner of the school's chosen years, badges off)


def print_badges(records: Records, by: Caller, school: School, settings: SchoolBadges, accounts: list[Account],
                 key: bytes) -> PrintedBadges:
    """A new badge for each eligible learner (its old one revoked in the same transaction)."""
    permit(by, Action.MANAGE_BADGES, school_target(school.dfes))
    permit_each(by, Action.MANAGE_BADGES, accounts)
    eligible = [a for a in accounts if badge_refusal(a, school.dfes, settings) is None]
    eligible_ids = {a.id for a in eligible}
    made = badge_store.issue_badges(records.queue_database(), key, school.dfes, [a.id for a in eligible],
                                    settings.mode is BadgeMode.BADGE_AND_PIN, by.username, by.at)
    records.audit.record_many([audit_entry(by, "print-badge", a, detail={"badge": made[a.id].badge_id})
                               for a in eligible])
    return PrintedBadges([(a, made[a.id]) for a in eligible], [a for a in accounts if a.id not in eligible_ids])


def revoke_badges(records: Records, by: Caller, school: School, accounts: list[Account]) -> list[Account]:
    """Revoke the learners' badges at once; the learners who had one."""
    permit(by, Action.MANAGE_BADGES, school_target(school.dfes))
    permit_each(by, Action.MANAGE_BADGES, accounts)
    had = set(stored_badges.revoke_badges(records.queue_database(), [a.id for a in accounts], by.at))
    revoked = [a for a in accounts if a.id in had]
    records.audit.record_many([audit_entry(by, "revoke-badge", a) for a in revoked])
    return revoked
