"""How failed sign-ins slow down and then lock a username or an address (SPEC S-3).
Pure: the counters come from the operational store (idp/guards.py), `now` is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_DELAY_SECONDS = 60


@dataclass(frozen=True)
class Limits:
    failures_before_delay: int
    failures_before_lock: int
    lock: timedelta


@dataclass(frozen=True)
class Counter:
    failures: int
    last_failure_at: datetime
    locked_until: datetime | None


@dataclass(frozen=True)
class Verdict:
    wait_seconds: int = 0  # 0: the attempt may go ahead
    locked: bool = False
    username_has_failures: bool = False  # a success must then clear them


def current_failures(counter: Counter | None, now: datetime, limits: Limits) -> int:
    """Failures still counted: a quiet period as long as the lock forgives them."""
    if counter is None or now - counter.last_failure_at >= limits.lock:
        return 0 if counter is None or not counter.locked_until or counter.locked_until <= now else counter.failures
    return counter.failures


def verdict(counter: Counter | None, now: datetime, limits: Limits) -> Verdict:
    if counter is None:
        return Verdict()
    if counter.locked_until and counter.locked_until > now:
        return Verdict(wait_seconds=max(1, int((counter.locked_until - now).total_seconds() + 0.999)), locked=True)
    failures = current_failures(counter, now, limits)
    if failures < limits.failures_before_delay:
        return Verdict()
    delay = timedelta(seconds=min(MAX_DELAY_SECONDS, 2 ** (failures - limits.failures_before_delay)))
    ready_at = counter.last_failure_at + delay
    if ready_at > now:
        return Verdict(wait_seconds=max(1, int((ready_at - now).total_seconds() + 0.999)))
    return Verdict()


def after_failure(counter: Counter | None, now: datetime, limits: Limits, lock_at: int) -> Counter:
    failures = current_failures(counter, now, limits) + 1
    locked_until = now + limits.lock if failures >= lock_at else None
    return Counter(failures=failures, last_failure_at=now, locked_until=locked_until)
