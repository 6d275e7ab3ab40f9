"""Issue 15 point 5 (SPEC S-3): the forms the sign-in throttle counts by, as slapd matches uid values."""

from __future__ import annotations

import pytest

from directory.rules.uid_matching import slapd_uid_form, uid_matching_form
from idp.throttling import address_key, username_key


@pytest.mark.parametrize(("typed", "form"), [
    ("BloggsJ", "bloggsj"),
    ("\uff22\uff4c\uff4f\uff47\uff47\uff53\uff2a", "bloggsj"),  # full width
    ("Blo\ufb00J", "bloffj"),  # LATIN SMALL LIGATURE FF
    ("  Bloggs \u3000  J  ", "bloggs j"),  # insignificant spaces, ideographic space among them
    ("SM\u0130TH\u0130", "smithi"),  # simple lowercase mapping: one character for one
    ("Jo\u0308nes", "j\u00f6nes"),  # combining and precomposed forms are one form
    ("J\u00f6nes", "j\u00f6nes"),
])
def test_the_form_slapd_compares(typed, form):
    assert slapd_uid_form(typed) == form == uid_matching_form(typed)


def test_the_throttles_form_is_coarser_where_slapd_keeps_a_capital():
    # MATHEMATICAL BOLD CAPITAL J decomposes to J after slapd has lowered: slapd keeps "J".
    assert slapd_uid_form("\U0001d409ones") == "Jones"
    assert uid_matching_form("\U0001d409ones") == "jones" == uid_matching_form("jones")
    assert uid_matching_form("Stra\u00dfe") == uid_matching_form("STRASSE")


@pytest.mark.parametrize("typed", ["JonesA", " jonesa ", "JONESA@hwbcymru.net", "jonesa @ HWBCYMRU.NET",
                                   "\uff2a\uff4f\uff4e\uff45\uff53\uff21\uff20hwbcymru.net"])
def test_one_username_key_for_every_way_of_typing_one_name(typed):
    assert username_key(typed) == "jonesa"


def test_an_address_counts_as_itself_and_an_ipv6_host_as_its_network():
    assert address_key("192.0.2.1") == "192.0.2.1"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff:1:2:3") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("testclient") == "testclient"
