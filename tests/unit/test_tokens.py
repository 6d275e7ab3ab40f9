"""Session cookies and sign-in tokens written before idp/tokens.py (compressed) still read after an upgrade."""

from __future__ import annotations

import pytest
from itsdangerous import BadSignature, URLSafeTimedSerializer

from idp.tokens import serializer

VALUE = {"sso": {"account": "0f6c" * 9, "username": "JonesA", "services": {}}, "csrf_token": "ab" * 20}


def test_a_value_signed_compressed_by_an_earlier_porth_is_still_read():
    earlier = URLSafeTimedSerializer("secret", salt="porth.idp.pending").dumps(VALUE)
    assert earlier.startswith(".")  # itsdangerous compressed it
    assert serializer(("secret",), "porth.idp.pending").loads(earlier) == VALUE


def test_values_are_written_uncompressed_and_bound_to_key_and_salt():
    token = serializer(("secret",), "porth.idp.pending").dumps(VALUE)
    assert not token.startswith(".")
    assert URLSafeTimedSerializer("secret", salt="porth.idp.pending").loads(token) == VALUE
    for other in (serializer(("other",), "porth.idp.pending"), serializer(("secret",), "porth.idp.post")):
        with pytest.raises(BadSignature):
            other.loads(token)
