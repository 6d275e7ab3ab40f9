"""How failed sign-ins slow down and then lock a username or an address (SPEC S-3).
Pure: the counters come from the operational store (idp/guards.py), `now` is passed in.

Each attempt that may go ahead is counted as a failure before its password is checked, and a
right password gives the count back (idp/guards.py): so a burst of parallel attempts cannot all
pass the check before any of them is counted (issue 15)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from directory.rules.uid_matching import uid_matching_form

MAX_DELAY_SECONDS = 60
# An IPv6 host is given a whole /64 by its network: one person can use any of its 2**64
# addresses, so the network is what counts as one source address.
IPV6_HOST_PREFIX = 64


@dataclass(frozen=True)
class Limits:
    failures_before_delay: int
    failures_before_lock: int
    lock: timedelta

    def delay_after(self, failures: int) -> timedelta:
        """How long the next attempt waits after the last of `failures` counted failures."""
        if failures < self.failures_before_delay:
            return timedelta(0)
        return timedelta(seconds=min(MAX_DELAY_SECONDS, 2 ** (failures - self.failures_before_delay)))

    def delay_steps(self) -> list[tuple[int, timedelta]]:
        """(failures, delay after them) from the first delay up to the first that reaches the cap;
        any count beyond the last waits as long as the last (MAX_DELAY_SECONDS)."""
        steps = []
        failures = self.failures_before_delay
        while True:
            delay = self.delay_after(failures)
            steps.append((failures, delay))
            if delay >= timedelta(seconds=MAX_DELAY_SECONDS):
                return steps
            failures += 1


@dataclass(frozen=True)
class Counter:
    failures: int
    last_failure_at: datetime
    locked_until: datetime | None


@dataclass(frozen=True)
class Verdict:
    wait_seconds: int = 0  # 0: the attempt may go ahead
    locked: bool = False
    # Of an attempt that goes ahead: the counters ("username", "address") its failure would lock,
    # being the one that reaches the lock (a right password gives the count back: nothing locks).
    locks_if_wrong: tuple[str, ...] = ()


def forgiven(counter: Counter, now: datetime, limits: Limits) -> bool:
    """A quiet period as long as the lock forgives the failures (and a lock runs out with it)."""
    return now - counter.last_failure_at >= limits.lock and (counter.locked_until is None
                                                            or counter.locked_until <= now)


def current_failures(counter: Counter | None, now: datetime, limits: Limits) -> int:
    """Failures still counted."""
    return 0 if counter is None or forgiven(counter, now, limits) else counter.failures


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds() + 0.999))


def verdict(counter: Counter | None, now: datetime, limits: Limits) -> Verdict:
    """May one more attempt go ahead, given the failures counted so far?"""
    failures = current_failures(counter, now, limits)
    if counter is None or failures == 0:
        return Verdict()
    if counter.locked_until and counter.locked_until > now:
        return Verdict(wait_seconds=_seconds_until(counter.locked_until, now), locked=True)
    if failures >= limits.failures_before_lock:  # locked by an attempt whose lock is being written
        return Verdict(wait_seconds=_seconds_until(counter.last_failure_at + limits.lock, now), locked=True)
    ready_at = counter.last_failure_at + limits.delay_after(failures)
    if ready_at > now:
        return Verdict(wait_seconds=_seconds_until(ready_at, now))
    return Verdict()


def after_failure(counter: Counter | None, now: datetime, limits: Limits) -> Counter:
    """The counter once one more attempt is counted (the one that brings it to the lock locks it)."""
    failures = current_failures(counter, now, limits) + 1
    locked_until = now + limits.lock if failures >= limits.failures_before_lock else None
    return Counter(failures=failures, last_failure_at=now, locked_until=locked_until)


def username_key(typed: str) -> str:
    """One counter for every spelling that reaches the same directory entry: what slapd
    compares (uid_matching_form), without the @domain part the sign-in also accepts."""
    name = uid_matching_form(typed.strip()).rpartition("@")
    return uid_matching_form(name[0] if name[1] else name[2]) or "-"


def address_key(address: str) -> str:
    """One counter per source: an IPv4 address, or the /64 network of an IPv6 address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an address (a test client's name): counted as it is
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_HOST_PREFIX), strict=False))
    return str(parsed)
