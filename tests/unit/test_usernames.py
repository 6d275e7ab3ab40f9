"""SPEC A-2: usernames from legal names, folded to ASCII, with numeric suffixes."""

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directory.rules.usernames import (
    UsernameError,
    address,
    candidate,
    fold_to_ascii_letters,
    is_well_formed,
    next_free_username,
    username_base,
)


@pytest.mark.parametrize(
    ("surname", "forename", "expected"),
    [
        ("Bloggs", "Joe", "BloggsJ"),                    # the SPEC's own example
        ("Llŵyd", "Gwenllïan", "LlwydG"),                # ŵ -> w
        ("Prŷs", "Llŷr", "PrysL"),                       # ŷ -> y
        ("Siôn", "Ânest", "SionA"),                      # circumflexes
        ("O'Brien", "Seán", "OBrienS"),                  # apostrophe dropped
        ("Ellis-Jones", "Efa", "EllisJonesE"),           # hyphen dropped
        ("ap Rhys", "Dafydd", "ApRhysD"),                # particle kept as letters
        ("ab Owain", "Ifan", "AbOwainI"),
        ("van der Berg", "Anna", "VanderBergA"),
        ("de la Cruz", "José", "DelaCruzJ"),
        ("JONES", "MEGAN", "JonesM"),                    # MIS capitals tidied
        ("jones", "megan", "JonesM"),
        ("MacDonald", "Ian", "MacDonaldI"),              # family's own mixed case kept
        ("Müller", "Zoë", "MullerZ"),
        ("Øvergård", "Łukasz", "OvergardL"),             # letters that do not decompose
        ("Straße", "Jürgen", "StrasseJ"),
        ("  Evans  ", " Tomos ", "EvansT"),              # padding
        ("Ní Bhriain", "Aoife", "NiBhriainA"),
    ],
)
def test_username_base_examples(surname, forename, expected):
    assert username_base(surname, forename) == expected


def test_suffixes_count_from_two():
    assert [candidate("BloggsJ", n) for n in (1, 2, 3)] == ["BloggsJ", "BloggsJ2", "BloggsJ3"]


def test_next_free_username_is_case_insensitive_and_skips_aliases():
    # BloggsJ is someone's username, bloggsj2 someone's former name (alias)
    assert next_free_username("BloggsJ", ["bloggsj", "BLOGGSJ2"]) == "BloggsJ3"
    assert next_free_username("BloggsJ", ["BloggsJo", "BloggsJ10"]) == "BloggsJ"


@pytest.mark.parametrize(("surname", "forename", "field"), [("!!!", "Joe", "surname"), ("Bloggs", "---", "forename"),
                                                             ("", "Joe", "surname"), ("中村", "Joe", "surname")])
def test_name_that_folds_to_nothing_is_refused_with_the_name(surname, forename, field):
    with pytest.raises(UsernameError) as error:
        username_base(surname, forename)
    assert f"legal {field}" in str(error.value)
    assert repr(surname if field == "surname" else forename) in str(error.value)


def test_address():
    assert address("BloggsJ", "hwbcymru.net") == "BloggsJ@hwbcymru.net"


@given(st.text())
def test_folding_leaves_only_ascii_letters(text):
    folded = fold_to_ascii_letters(text)
    assert all(ch in string.ascii_letters for ch in folded)


@given(st.text(alphabet=string.ascii_letters))
def test_folding_keeps_ascii_letters_unchanged(text):
    assert fold_to_ascii_letters(text) == text


welsh_letters = st.sampled_from(list("abcdefghilmnoprstuwyâêîôûŵŷäëïöüáéíóúàèìòùABCDEFGHILMNOPRSTUWYÂÊÎÔÛŴŶ"))
name = st.lists(welsh_letters, min_size=1, max_size=20).map("".join)
separators = st.sampled_from([" ", "-", "'", " ap ", "-"])


@given(st.lists(name, min_size=1, max_size=3), separators, name)
def test_every_welsh_name_makes_a_well_formed_username(parts, separator, forename):
    surname = separator.join(parts)
    base = username_base(surname, forename)
    assert is_well_formed(base)
    assert base[0].isupper() and base[-1].isupper()
    assert base[-1] == fold_to_ascii_letters(forename)[0].upper()


@given(st.sets(st.sampled_from(["BloggsJ"] + [f"BloggsJ{n}" for n in range(2, 30)] + ["bloggsj5", "BLOGGSJ"])))
def test_next_free_username_is_never_taken_and_is_the_smallest(taken):
    chosen = next_free_username("BloggsJ", taken)
    folded = {t.casefold() for t in taken}
    assert chosen.casefold() not in folded
    n = 1 if chosen == "BloggsJ" else int(chosen[len("BloggsJ"):])
    assert all(candidate("BloggsJ", k).casefold() in folded for k in range(1, n))
