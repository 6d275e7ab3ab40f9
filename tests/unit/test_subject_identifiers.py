"""SAML V2.0 Subject Identifier Attributes Profile (saml2int SDP-IDP13, SDP-IDP15; issue 15 point 8):
the value rules, how subject-id and pairwise-id are made, and what a service's SubjectIdRequirement adds."""

from __future__ import annotations

import re

import pytest

from idp.attributes import (
    InvalidSubjectIdentifier,
    pairwise_id,
    scoped_identifier,
    subject_id,
    with_required_identifiers,
)

KEY = b"k" * 48
ACCOUNT = "6f1c2b9e-3d4a-4c5b-9e8f-0a1b2c3d4e5f"
SCOPE = "hwbcymru.net"
# The profile's ABNF (3.3.1, 3.4.1).
GRAMMAR = re.compile(r"[A-Za-z0-9][A-Za-z0-9=-]{0,126}@[A-Za-z0-9][A-Za-z0-9.-]{0,126}")


@pytest.mark.parametrize(("unique_id", "scope", "expected"), [
    ("abc", "example.org", "abc@example.org"),
    ("A1=-", "Ex-1.Org", "a1=-@ex-1.org"),  # one case: values are compared case-insensitively
    ("a" * 127, "s" * 127, "a" * 127 + "@" + "s" * 127),
])
def test_a_value_the_profile_allows(unique_id, scope, expected):
    assert scoped_identifier(unique_id, scope) == expected


@pytest.mark.parametrize(("unique_id", "scope"), [
    ("", "example.org"),
    ("-abc", "example.org"),  # the first character must be a letter or digit
    ("=abc", "example.org"),
    ("a" * 128, "example.org"),  # at most 127
    ("ab_c", "example.org"),
    ("ab.c", "example.org"),  # '.' belongs to scopes, not unique IDs
    ("abc@x", "example.org"),
    ("abçd", "example.org"),  # ASCII only
    ("abc", ""),
    ("abc", ".example.org"),
    ("abc", "s" * 128),
    ("abc", "example.org/x"),
    ("abc", "exa=mple.org"),
])
def test_a_value_the_profile_does_not_allow_is_refused(unique_id, scope):
    with pytest.raises(InvalidSubjectIdentifier):
        scoped_identifier(unique_id, scope)


def test_subject_id_is_the_same_everywhere_for_life_and_is_neither_the_uuid_nor_the_username():
    value = subject_id(KEY, ACCOUNT, SCOPE)
    assert GRAMMAR.fullmatch(value) and value.endswith("@hwbcymru.net")
    assert value == subject_id(KEY, ACCOUNT, SCOPE)
    assert ACCOUNT.replace("-", "") not in value.replace("-", "")
    assert value != subject_id(KEY, "another-account", SCOPE)
    assert value != subject_id(b"x" * 48, ACCOUNT, SCOPE)  # keyed: not computable from the UUID alone


def test_pairwise_id_differs_at_every_service_and_from_subject_id():
    lms = pairwise_id(KEY, ACCOUNT, "https://lms.example/sp", SCOPE)
    library = pairwise_id(KEY, ACCOUNT, "https://library.example/sp", SCOPE)
    assert GRAMMAR.fullmatch(lms) and GRAMMAR.fullmatch(library)
    assert lms != library
    assert lms == pairwise_id(KEY, ACCOUNT, "https://lms.example/sp", SCOPE)
    assert subject_id(KEY, ACCOUNT, SCOPE) not in (lms, library)


@pytest.mark.parametrize(("release", "requirement", "expected"), [
    (("mail",), None, ("mail",)),
    (("mail",), "none", ("mail",)),
    (("mail",), "subject-id", ("mail", "subject_id")),
    (("mail",), "pairwise-id", ("mail", "pairwise_id")),
    (("mail",), "any", ("mail", "pairwise_id")),  # the one that tells the service least
    (("subject_id",), "any", ("subject_id",)),  # already met
    (("pairwise_id",), "pairwise-id", ("pairwise_id",)),
    (("pairwise_id",), "subject-id", ("pairwise_id", "subject_id")),
    (("mail",), "nonsense", ("mail",)),
])
def test_a_services_subject_id_requirement_adds_the_identifier_it_needs(release, requirement, expected):
    assert with_required_identifiers(release, requirement) == expected
