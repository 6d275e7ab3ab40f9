"""SPEC L-1 (expiry), L-3 (inactivity), L-4 (deletion after 12 months)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from directory.rules.lifecycle import (
    ExpiryChoice,
    add_months,
    deletion_due,
    end_of_academic_year,
    expires_within,
    expiry_date,
    is_due_for_deletion,
    is_expired,
    is_inactive,
    sign_in_time_to_record,
)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 11, 23), date(2027, 8, 31)),
        (date(2027, 8, 31), date(2027, 8, 31)),
        (date(2027, 9, 1), date(2028, 8, 31)),
        (date(2027, 1, 1), date(2027, 8, 31)),
    ],
)
def test_end_of_academic_year_is_the_next_31_august(today, expected):
    assert end_of_academic_year(today) == expected


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 11, 23), 3, date(2027, 2, 23)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2026, 12, 15), 12, date(2027, 12, 15)),
    ],
)
def test_add_months_clamps_to_month_end(start, months, expected):
    assert add_months(start, months) == expected


def test_expiry_choices():
    today = date(2026, 11, 23)
    assert expiry_date(ExpiryChoice.ONE_MONTH, today) == date(2026, 12, 23)
    assert expiry_date("3-months", today) == date(2027, 2, 23)
    assert expiry_date(ExpiryChoice.SIX_MONTHS, today) == date(2027, 5, 23)
    assert expiry_date(ExpiryChoice.END_OF_ACADEMIC_YEAR, today) == date(2027, 8, 31)
    with pytest.raises(ValueError, match="is not a valid ExpiryChoice"):
        expiry_date("2-weeks", today)


def test_expired_only_after_the_expiry_day():
    assert not is_expired(date(2026, 11, 23), date(2026, 11, 23))
    assert is_expired(date(2026, 11, 23), date(2026, 11, 24))
    assert not is_expired(None, date(2026, 11, 24))


def test_banner_window_is_eight_weeks():
    today = date(2026, 11, 23)
    assert expires_within(today + timedelta(weeks=8), today)
    assert not expires_within(today + timedelta(weeks=8, days=1), today)
    assert not expires_within(today - timedelta(days=1), today)


def test_inactivity_after_ninety_days_counting_from_creation_if_never_used():
    now = datetime(2026, 11, 23, tzinfo=UTC)
    assert is_inactive(now - timedelta(days=90), None, now)
    assert not is_inactive(now - timedelta(days=89), None, now)
    assert is_inactive(None, now - timedelta(days=91), now)
    assert not is_inactive(None, None, now)


def test_deletion_twelve_months_after_deactivation():
    assert deletion_due(date(2026, 2, 28)) == date(2027, 2, 28)
    assert not is_due_for_deletion(date(2025, 11, 24), date(2026, 11, 23))
    assert is_due_for_deletion(date(2025, 11, 23), date(2026, 11, 23))
    assert not is_due_for_deletion(None, date(2026, 11, 23))


@pytest.mark.parametrize(("last", "to_record"), [
    (None, True),  # never signed in: the first sign-in is recorded
    (timedelta(minutes=59), False),  # within the hour: what is on record is precise enough for L-3
    (timedelta(hours=1), True),
    (timedelta(days=89), True),
])
def test_a_sign_in_is_written_when_the_last_one_on_record_is_an_hour_old(last, to_record):
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    assert sign_in_time_to_record(None if last is None else now - last, now) is to_record
