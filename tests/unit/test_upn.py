"""SPEC M-2, M-3: UPN validation (DfE check letter), temporary UPNs, keyed hashing."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directory.rules.upn import CHECK_LETTERS, InvalidUpn, check_letter, parse_upn, upn_hash

KEY = b"k" * 32


@pytest.mark.parametrize("value", ["B801200005001", "H801200001001", " h801200001001 "])
def test_dfe_examples_of_permanent_upns_are_valid(value):
    upn = parse_upn(value)
    assert not upn.is_temporary
    assert upn.value == value.strip().upper()


def test_dfe_example_of_temporary_upn_is_valid_and_temporary():
    assert parse_upn("G80120000101A").is_temporary


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("A801200005001", "check letter does not match"),
        ("Z801200001001", "check letter does not match"),
        ("G80120000101S", "last character"),
        ("H813111E00121", "character 8 must be a digit"),
        ("I801200005001", "first character"),
        ("B80120000500", "13 characters, this one has 12"),
        ("", "empty"),
    ],
)
def test_malformed_upns_are_refused_with_the_reason(value, reason):
    with pytest.raises(InvalidUpn) as error:
        parse_upn(value)
    assert reason in str(error.value)
    if value:
        assert value not in str(error.value)  # the UPN itself is never echoed


def test_upn_repr_never_shows_the_number():
    assert "801200005001" not in repr(parse_upn("B801200005001"))


bodies = st.text(alphabet="0123456789", min_size=12, max_size=12)


@given(bodies)
def test_any_body_with_its_check_letter_is_a_valid_permanent_upn(body):
    upn = parse_upn(check_letter(body) + body)
    assert not upn.is_temporary


@given(st.text(alphabet="0123456789", min_size=11, max_size=11), st.sampled_from(list(CHECK_LETTERS)))
def test_any_temporary_body_with_its_check_letter_is_temporary(body, last):
    assert parse_upn(check_letter(body + last) + body + last).is_temporary


@given(bodies, st.integers(min_value=0, max_value=11), st.integers(min_value=1, max_value=9))
def test_changing_any_one_digit_is_always_detected(body, index, delta):
    """Weights 2..13 and digit changes 1..9 are all below the prime 23, so
    every single-digit error changes the check letter."""
    good = check_letter(body) + body
    digits = list(body)
    digits[index] = str((int(digits[index]) + delta) % 10)
    with pytest.raises(InvalidUpn):
        parse_upn(good[0] + "".join(digits))


def test_hash_is_keyed_stable_and_hides_the_upn():
    upn = parse_upn("B801200005001")
    first = upn_hash(upn, KEY)
    assert first == upn_hash(parse_upn("b801200005001"), KEY)
    assert first != upn_hash(upn, b"x" * 32)
    assert len(first) == 64 and "801200005001" not in first


def test_hash_refuses_a_short_key():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        upn_hash(parse_upn("B801200005001"), b"short")


# Full-width 8, Arabic-Indic 8, superscript 2, N'Ko 8, Bengali 8.
@pytest.mark.parametrize("digit", ["\uff18", "\u0668", "\u00b2", "\u07c8", "\u09ee"])
@pytest.mark.parametrize("position", [1, 7, 12])
def test_a_non_ascii_digit_is_an_invalid_upn_not_a_crash(digit, position):
    """str.isdigit() accepts all of these, and int("²") raises: the UPN must be refused as invalid."""
    body = "801200005001"
    bad = body[: position - 1] + digit + body[position:]
    with pytest.raises(InvalidUpn, match="must be a digit"):
        parse_upn("B" + bad)
    with pytest.raises(InvalidUpn):
        check_letter(bad)
