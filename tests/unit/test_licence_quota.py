"""SPEC G-2: staff licences are counted against the school's quota, and an allocation beyond it
is refused whole (directory/rules/licences.py)."""

from __future__ import annotations

from directory.rules.licences import LicenceUse, staff_licence_use

STAFF = {"ann", "bob", "cat", "dai"}


def test_the_school_uses_one_licence_per_active_member_of_staff_who_wants_one():
    wanted = {"ann": True, "bob": True, "cat": False, "leaver": True}  # a leaver is no longer active staff
    assert staff_licence_use(wanted, STAFF, quota=3) == LicenceUse(used=2, quota=3)
    assert staff_licence_use(wanted, STAFF, quota=3).free == 1


def test_an_allocation_up_to_the_quota_is_allowed_and_one_beyond_it_is_refused_whole():
    use = staff_licence_use({"ann": True, "bob": True}, STAFF, quota=3)
    assert use.allows(1)
    assert not use.allows(2)  # not one of the two: none


def test_with_no_quota_recorded_nothing_may_be_allocated():
    use = staff_licence_use({}, STAFF, quota=None)
    assert not use.allows(1)
    assert use.allows(0) and use.free == 0


def test_a_quota_lowered_below_the_use_refuses_every_allocation_and_shows_nothing_free():
    use = staff_licence_use({"ann": True, "bob": True, "cat": True}, STAFF, quota=2)
    assert not use.fits and not use.allows(0) and use.free == 0
