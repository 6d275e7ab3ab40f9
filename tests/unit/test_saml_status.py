"""Status codes as saml-core 3.2.2.2 orders them (issue 15 point 8): one of the four top-level
codes, saying on whose side the failure is, with the second-level code under it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

from idp.responses import status_response
from idp.saml_xml import (
    SAMLP,
    STATUS_AUTHN_FAILED,
    STATUS_INVALID_NAME_ID_POLICY,
    STATUS_NO_AUTHN_CONTEXT,
    STATUS_NO_PASSIVE,
    STATUS_PARTIAL_LOGOUT,
    STATUS_REQUEST_DENIED,
    STATUS_REQUESTER,
    STATUS_RESPONDER,
    STATUS_SUCCESS,
    STATUS_VERSION_MISMATCH,
)
from idp.signing import generate_signing_pair, load_signing_key


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    pem = tmp_path_factory.mktemp("key") / "idp.pem"
    generate_signing_pair(pem, "https://porth.example/idp/metadata")
    return load_signing_key(pem, pem)


def codes_sent(key, status: str) -> list[str]:
    document = status_response(key=key, idp_entity_id="https://porth.example/idp/metadata",
                               destination="https://sp.example/acs", in_response_to="_request", status=status,
                               message="why", now=datetime(2025, 3, 1, tzinfo=UTC))
    root = etree.fromstring(document)
    outer = root.find(f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusCode")
    chain = []
    while outer is not None:
        chain.append(outer.get("Value").rsplit(":", 1)[-1])
        outer = outer.find(f"{{{SAMLP}}}StatusCode")
    return chain


@pytest.mark.parametrize(("status", "expected"), [
    # A refused request (unsigned, replayed, expired, addressed elsewhere) is the requester's
    # failure: RequestDenied under Requester, never under Responder (what main sent).
    (STATUS_REQUEST_DENIED, ["Requester", "RequestDenied"]),
    (STATUS_INVALID_NAME_ID_POLICY, ["Requester", "InvalidNameIDPolicy"]),
    (STATUS_NO_AUTHN_CONTEXT, ["Requester", "NoAuthnContext"]),
    (STATUS_NO_PASSIVE, ["Responder", "NoPassive"]),
    (STATUS_AUTHN_FAILED, ["Responder", "AuthnFailed"]),
    (STATUS_PARTIAL_LOGOUT, ["Responder", "PartialLogout"]),
    (STATUS_RESPONDER, ["Responder"]),
    (STATUS_REQUESTER, ["Requester"]),
    (STATUS_VERSION_MISMATCH, ["VersionMismatch"]),
    (STATUS_SUCCESS, ["Success"]),
])
def test_each_status_goes_under_the_top_level_code_saml_core_gives_it(key, status, expected):
    assert codes_sent(key, status) == expected
