"""The immutable id's bounds (SPEC G-1, S-1): Entra Connect's sourceAnchor rules, the strictest
of the three Microsoft documents (directory/rules/cloud_identity.py)."""

from __future__ import annotations

import uuid

import pytest

from directory.rules.cloud_identity import InvalidImmutableId, immutable_id, weight


def test_an_account_uuid_is_its_own_immutable_id_and_weighs_44():
    account_id = str(uuid.uuid4())
    assert immutable_id(account_id) == account_id and weight(account_id) == 44


@pytest.mark.parametrize("value", [
    "a" * 60,  # "fewer than 60 characters"
    "a" * 50 + "-" * 4,  # 50 + 4 x 3 = 62: a hyphen counts three
    "a_b", "a$b", "a@b", "a+b", "a/b", "a=b",  # Graph's $ and _, and Entra Connect's special characters
    "", "ünïcode", "a b\n",
])
def test_what_entra_connect_or_graph_would_refuse_is_refused(value):
    with pytest.raises(InvalidImmutableId):
        immutable_id(value)


def test_up_to_59_counted_characters_are_taken():
    assert immutable_id("a" * 59) == "a" * 59
    assert immutable_id("a" * 47 + "-" * 4) == "a" * 47 + "-" * 4  # 47 + 12 = 59
