"""Who may have a badge, and what a badge's token is (issue 18 points 1, 3; pure rules)."""

from __future__ import annotations

from directory.model import Account, AccountKind, AccountState, SchoolType
from directory.rules.badges import (
    BadgeRefusal,
    SchoolBadges,
    badge_refusal,
    default_years,
    matches,
    new_badge,
    pin_digest,
    pin_shape_ok,
    read_token,
    secret_digest,
    years_offered,
)
from directory.rules.year_groups import NC_YEARS
from idp.policy import badge_enough

SCHOOL = "6612345"
ON = SchoolBadges(enabled=True)


def account(kind=AccountKind.LEARNER, year="1", school=SCHOOL) -> Account:
    return Account(id="a1", username="BloggsJ", kind=kind, state=AccountState.ACTIVE, surname="Bloggs",
                   forename="Joe", display_name="Joe Bloggs", mail="BloggsJ@hwbcymru.net", school=school,
                   year_group=year)


def test_nursery_to_year_two_learners_of_the_school_may_have_badges_by_default():
    for year in ("N1", "N2", "R", "1", "2"):
        assert badge_refusal(account(year=year), SCHOOL, ON) is None
    assert badge_refusal(account(year="3"), SCHOOL, ON) is BadgeRefusal.OUTSIDE_YEARS
    assert badge_refusal(account(year=None), SCHOOL, ON) is BadgeRefusal.OUTSIDE_YEARS


def test_never_staff_or_non_mis_accounts_nor_another_schools_learner_nor_a_school_with_badges_off():
    for kind in AccountKind:
        if kind is not AccountKind.LEARNER:
            assert badge_refusal(account(kind=kind), SCHOOL, ON) is BadgeRefusal.NOT_A_LEARNER
    assert badge_refusal(account(school="6619876"), SCHOOL, ON) is BadgeRefusal.OTHER_SCHOOL
    assert badge_refusal(account(), SCHOOL, SchoolBadges()) is BadgeRefusal.NOT_ENABLED
    assert badge_refusal(account(year="4"), SCHOOL, SchoolBadges(enabled=True, years=("4",))) is None


def test_a_token_names_no_one_holds_at_least_128_random_bits_and_only_its_hash_matches():
    badge = new_badge(with_pin=True)
    scanned = read_token(badge.token)
    assert scanned is not None and (scanned.badge_id, scanned.secret) == (badge.badge_id, badge.secret)
    assert len(badge.secret) * 5 >= 128 and badge.pin is not None and pin_shape_ok(badge.pin)
    assert new_badge(with_pin=False).pin is None
    for bad in ("", "B1.x.y", badge.token + "A", badge.token.lower(), "https://evil.example/" + badge.token):
        assert read_token(bad) is None
    key = b"k" * 32
    stored = secret_digest(key, badge.badge_id, badge.secret)
    assert matches(stored, secret_digest(key, badge.badge_id, badge.secret))
    assert not matches(stored, secret_digest(b"other" * 8, badge.badge_id, badge.secret))
    assert not matches(None, pin_digest(key, badge.badge_id, "1234"))
    assert not pin_shape_ok("12a4") and not pin_shape_ok("12345") and not pin_shape_ok("١٢٣٤")


def test_a_badge_serves_only_a_service_that_allows_it_for_a_request_asking_no_password():
    assert badge_enough(True, False)
    assert not badge_enough(False, False)
    assert not badge_enough(True, True)


def test_a_school_is_offered_the_years_it_teaches_and_keeps_those_it_chose():
    assert years_offered(SchoolType.NURSERY, ()) == ("N1", "N2")
    assert years_offered(SchoolType.PRIMARY, ()) == ("N1", "N2", "R", "1", "2", "3", "4", "5", "6")
    assert years_offered(SchoolType.SECONDARY, ()) == tuple(str(n) for n in range(7, 15))
    assert years_offered(SchoolType.SPECIAL, ()) == NC_YEARS  # a special school may teach any year
    assert years_offered(SchoolType.MIDDLE, ()) == NC_YEARS  # 3-16 and 3-19 schools
    # A secondary that had chosen Year 2 (its type was wrong, or it changed) still sees it, in order.
    assert years_offered(SchoolType.SECONDARY, ("2",))[:2] == ("2", "7")
    assert default_years(SchoolType.PRIMARY) == ("N1", "N2", "R", "1", "2")
    assert default_years(SchoolType.NURSERY) == ("N1", "N2")
    assert default_years(SchoolType.SECONDARY) == ()
