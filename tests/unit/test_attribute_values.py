"""idp/attribute_values.py: what a Response can carry (issue 15 point 4, saml2int v2.0 SDP-G02)."""

from __future__ import annotations

import pytest

from idp.attribute_values import MAX_VALUE_CHARACTERS, NOT_XML, TOO_LONG, LeftOut, carriable, value_problem
from idp.attributes import ReleasedAttribute


@pytest.mark.parametrize("value", ["Jo\x01nes", "\x00", "Jo\x1bnes", "\x7f\x08", "Jones\ufffe", "Jones\uffff",
                                   "Jo\udc80nes"])
def test_what_xml_cannot_carry(value):
    assert value_problem(value) == NOT_XML


@pytest.mark.parametrize("value", ["Llŷr ap Gwŷn", "a\tb", "王", "\U0001f600", "x" * MAX_VALUE_CHARACTERS,
                                   "Jo\x85nes", "\ufdd0"])
def test_what_it_can(value):
    assert value_problem(value) is None


def test_longer_than_256_characters_is_left_out_not_cut():
    assert value_problem("x" * (MAX_VALUE_CHARACTERS + 1)) == TOO_LONG
    kept, left_out = carriable([ReleasedAttribute("urn:oid:2.5.4.4", "sn", ("x" * 300,))])
    assert kept == [] and left_out == [LeftOut("sn", TOO_LONG)]


def test_only_the_bad_values_go_and_an_attribute_without_values_goes_whole():
    attributes = [ReleasedAttribute("urn:x:roles", None, ("digital-champion", "bad\x01", "staff")),
                  ReleasedAttribute("urn:oid:2.5.4.42", "givenName", ("\uffff",)),
                  ReleasedAttribute("urn:oid:0.9.2342.19200300.100.1.3", "mail", ("a@b.example",))]
    kept, left_out = carriable(attributes)
    assert [a.values for a in kept] == [("digital-champion", "staff"), ("a@b.example",)]
    assert kept[1] is attributes[2]  # untouched when nothing is left out
    assert left_out == [LeftOut("urn:x:roles", NOT_XML), LeftOut("givenName", NOT_XML)]
    assert "bad" not in repr(left_out)  # the value itself never travels to the log
