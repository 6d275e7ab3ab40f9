"""SPEC A-3 (policy, generators) and A-4 (status, encrypted reveal copy)."""

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directory.model import PasswordStatus
from directory.rules import passwords
from directory.rules.vault import PasswordVault, VaultError


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Ab1", "at least 8 characters"),
        ("abcdefg1", "upper-case letter"),
        ("ABCDEFG1", "lower-case letter"),
        ("Abcdefgh", "digit"),
        ("Abcdefg1\n", "line breaks"),
    ],
)
def test_policy_names_each_problem(password, problem):
    problems = passwords.policy_problems(password)
    assert any(problem in p for p in problems)
    with pytest.raises(passwords.PasswordPolicyError):
        passwords.check_policy(password)


def test_policy_accepts_the_spec_example():
    assert passwords.policy_problems("Tiger4821") == []


def test_word_list_is_big_short_and_clean():
    words = passwords.learner_words()
    assert len(words) >= 500
    assert len(set(words)) == len(words)
    assert all(re.fullmatch(r"[a-z]{4,10}", word) for word in words)


@given(st.integers())
def test_learner_password_is_a_word_then_four_digits_and_meets_policy(seed):
    password = passwords.generate_learner_password(random.Random(seed))
    assert re.fullmatch(r"[A-Z][a-z]{3,9}[0-9]{4}", password)
    assert password[:-4].lower() in passwords.learner_words()
    assert passwords.policy_problems(password) == []


@given(st.integers(), st.integers(min_value=10, max_value=40))
def test_generated_password_meets_policy_at_any_length(seed, length):
    password = passwords.generate_password(random.Random(seed), length)
    assert len(password) == length
    assert passwords.policy_problems(password) == []
    assert not set(password) & set("IOl01")  # nothing easy to misread on a slip


def test_generators_use_system_randomness_by_default():
    assert len({passwords.generate_password() for _ in range(20)}) == 20


def test_generated_password_is_at_least_ten_characters():
    with pytest.raises(ValueError, match="at least 10 characters"):
        passwords.generate_password(length=9)


def test_password_status_follows_who_set_it():
    assert passwords.status_after_set_by_administrator() is PasswordStatus.AVAILABLE
    assert passwords.status_after_set_by_user() is PasswordStatus.USER_CHANGED
    assert passwords.status_after_transfer() is PasswordStatus.UNAVAILABLE
    assert passwords.keeps_reveal_copy(PasswordStatus.AVAILABLE)
    assert not passwords.keeps_reveal_copy(PasswordStatus.USER_CHANGED)
    assert [s.label for s in PasswordStatus] == ["Show password", "-", "User changed password"]


def test_vault_round_trip_and_token_hides_the_password():
    vault = PasswordVault(PasswordVault.new_key())
    token = vault.seal("Tiger4821")
    assert "Tiger4821" not in token
    assert vault.open(token) == "Tiger4821"
    assert vault.seal("Tiger4821") != token  # fresh IV each time


def test_vault_refuses_another_key_and_tampering():
    token = PasswordVault(PasswordVault.new_key()).seal("Tiger4821")
    with pytest.raises(VaultError):
        PasswordVault(PasswordVault.new_key()).open(token)
    vault = PasswordVault(PasswordVault.new_key())
    token = vault.seal("Tiger4821")
    with pytest.raises(VaultError):
        vault.open(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))


def test_vault_refuses_a_bad_key():
    with pytest.raises(VaultError):
        PasswordVault("not a key")
