"""Dates of the account lifecycle (SPEC L-1, L-3, L-4). Pure: pass `today`/`now`."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

INACTIVITY_LIMIT = timedelta(days=90)  # L-3
# How precisely a sign-in's time is kept (S-2): to the hour, which is all the 90-day rule needs.
# slapd's lastbind overlay keeps a password sign-in's time so (olcLastBindPrecision), and a badge
# sign-in, which binds no one, is written by Porth at the same precision, so a child signing in
# forty times a morning costs one directory write, not forty.
SIGN_IN_TIME_PRECISION = timedelta(hours=1)
DELETION_AFTER_MONTHS = 12  # L-4
ACADEMIC_YEAR_END = (8, 31)  # 31 August


class ExpiryChoice(StrEnum):
    """The expiry periods offered when a non-MIS account is created or extended (L-1)."""

    ONE_MONTH = "1-month"
    THREE_MONTHS = "3-months"
    SIX_MONTHS = "6-months"
    END_OF_ACADEMIC_YEAR = "end-of-academic-year"


def add_months(day: date, months: int) -> date:
    """Same day of the month `months` later, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def end_of_academic_year(today: date) -> date:
    """The next 31 August on or after today."""
    month, day = ACADEMIC_YEAR_END
    end = date(today.year, month, day)
    return end if today <= end else date(today.year + 1, month, day)


def expiry_date(choice: ExpiryChoice | str, today: date) -> date:
    """The last day a non-MIS account may be used."""
    choice = ExpiryChoice(choice)
    if choice is ExpiryChoice.END_OF_ACADEMIC_YEAR:
        return end_of_academic_year(today)
    months = {
        ExpiryChoice.ONE_MONTH: 1,
        ExpiryChoice.THREE_MONTHS: 3,
        ExpiryChoice.SIX_MONTHS: 6,
    }[choice]
    return add_months(today, months)


def expiry_instant(day: date) -> datetime:
    """An expiry day as the account stores it: the start of that day, in UTC."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def is_expired(expiry: date | None, today: date) -> bool:
    """Past expiry means after the expiry day itself (L-1)."""
    return expiry is not None and today > expiry


def expires_within(expiry: date | None, today: date, weeks: int = 8) -> bool:
    """For the portal banner (L-2): expiring from today up to `weeks` ahead."""
    return expiry is not None and today <= expiry <= today + timedelta(weeks=weeks)


def is_inactive(last_sign_in: datetime | None, created_at: datetime | None, now: datetime) -> bool:
    """No sign-in for 90 days (L-3); a never-used account counts from its creation."""
    since = last_sign_in or created_at
    return since is not None and now - since >= INACTIVITY_LIMIT


def sign_in_time_to_record(last_sign_in: datetime | None, now: datetime) -> bool:
    """S-2: whether a sign-in at `now` must be written, the last one on record being `last_sign_in`."""
    return last_sign_in is None or now - last_sign_in >= SIGN_IN_TIME_PRECISION


def deletion_due(deactivated_on: date) -> date:
    """The day a deactivated account becomes due for permanent deletion (L-4)."""
    return add_months(deactivated_on, DELETION_AFTER_MONTHS)


def is_due_for_deletion(deactivated_on: date | None, today: date) -> bool:
    return deactivated_on is not None and today >= deletion_due(deactivated_on)
