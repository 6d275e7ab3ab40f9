"""saml2int v2.0 for the IdP, against python3-saml as the service (issue 15 point 8): a transient
NameID where a policy says nothing (SDP-IDP12), subject-id and pairwise-id released by policy
(SDP-IDP13) and by a service's SubjectIdRequirement in its metadata (SDP-IDP15)."""

from __future__ import annotations

import re

from lxml import etree

from directory.model import Consent
from tests.integration.conftest import learner
from tests.integration.idp_fixtures import PASSWORD, porth  # noqa: F401 (fixture)
from tests.saml_services import OneLoginService, posted_form

TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
SUBJECT_ID = "urn:oasis:names:tc:SAML:attribute:subject-id"
PAIRWISE_ID = "urn:oasis:names:tc:SAML:attribute:pairwise-id"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
MDATTR = "urn:oasis:names:tc:SAML:metadata:attribute"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SHIBMD = "urn:mace:shibboleth:metadata:1.0"
# The profile's ABNF (3.3.1, 3.4.1).
SCOPED = re.compile(r"[A-Za-z0-9][A-Za-z0-9=-]{0,126}@[A-Za-z0-9][A-Za-z0-9.-]{0,126}")


def sign_in(porth, service: OneLoginService, username: str = "BloggsJ"):
    url, request_id = service.login_url()
    auth = service.accept(posted_form(porth.sign_in(url, username).get_data(as_text=True)), request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    return auth


def service(porth, name: str, policy: str = 'category = "core"\n', requirement: str | None = None,
            **options) -> OneLoginService:
    made = OneLoginService(entity_id=f"https://{name}.example/sp", idp_metadata=porth.metadata,
                           base=f"https://{name}.example", **options)
    metadata = made.metadata()
    if requirement is not None:
        metadata = with_subject_id_requirement(metadata, requirement)
    porth.register(name, metadata, policy)
    return made


def with_subject_id_requirement(metadata: bytes, requirement: str) -> bytes:
    """The service's metadata stating SubjectIdRequirement as an entity attribute (profile 2.4)."""
    root = etree.fromstring(metadata)
    extensions = etree.Element(f"{{{MD}}}Extensions")
    entity_attributes = etree.SubElement(extensions, f"{{{MDATTR}}}EntityAttributes")
    attribute = etree.SubElement(entity_attributes, f"{{{SAML}}}Attribute",
                                 Name="urn:oasis:names:tc:SAML:profiles:subject-id:req",
                                 NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri")
    etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = requirement
    root.insert(0, extensions)
    return etree.tostring(root)


def metadata_scope(porth) -> str:
    root = etree.fromstring(porth.client.get("/idp/metadata").get_data())
    return root.find(f".//{{{SHIBMD}}}Scope").text


def test_a_service_whose_policy_says_nothing_gets_a_transient_name_id_new_each_time(porth, store, now):
    """SDP-IDP12: the default NameID tells the service nothing it could keep or join on."""
    store.add_account(learner(password=PASSWORD, consent=Consent.EXPLICIT), now)
    quiet = service(porth, "quiet", name_id_format=UNSPECIFIED, want_attributes=False)
    first = sign_in(porth, quiet)
    second = sign_in(porth, quiet)
    assert first.get_nameid_format() == second.get_nameid_format() == TRANSIENT
    assert first.get_nameid() != second.get_nameid()


def test_subject_id_and_pairwise_id_are_released_by_policy_in_the_published_scope(porth, store, now):
    """SDP-IDP13: subject-id the same at every service, pairwise-id different at each, both scoped
    in the metadata's shibmd:Scope and neither made from the username or the account id."""
    account = store.add_account(learner(password=PASSWORD, consent=Consent.EXPLICIT), now)
    policy = 'category = "core"\nrelease = ["subject_id", "pairwise_id"]\n'
    lms, library = service(porth, "lms", policy), service(porth, "library", policy)
    at_lms, at_library = sign_in(porth, lms), sign_in(porth, library)
    [subject_at_lms], [pairwise_at_lms] = at_lms.get_attribute(SUBJECT_ID), at_lms.get_attribute(PAIRWISE_ID)
    [subject_at_library], [pairwise_at_library] = (at_library.get_attribute(SUBJECT_ID),
                                                    at_library.get_attribute(PAIRWISE_ID))
    assert subject_at_lms == subject_at_library
    assert pairwise_at_lms != pairwise_at_library
    scope = metadata_scope(porth)
    for value in (subject_at_lms, pairwise_at_lms, pairwise_at_library):
        assert SCOPED.fullmatch(value) and value.rsplit("@", 1)[1] == scope
        assert account.username.lower() not in value and account.id.replace("-", "") not in value.replace("-", "")
    assert sign_in(porth, lms).get_attribute(PAIRWISE_ID) == [pairwise_at_lms]  # stable


def test_a_subject_id_requirement_in_the_services_metadata_is_honoured(porth, store, now):
    """SDP-IDP15: the metadata's SubjectIdRequirement decides, even where the policy releases nothing."""
    store.add_account(learner(password=PASSWORD, consent=Consent.EXPLICIT), now)
    wants_pairwise = service(porth, "wants-pairwise", requirement="pairwise-id")
    wants_subject = service(porth, "wants-subject", requirement="subject-id")
    wants_any = service(porth, "wants-any", requirement="any")
    wants_none = service(porth, "wants-none", requirement="none", want_attributes=False)
    pairwise = sign_in(porth, wants_pairwise)
    assert len(pairwise.get_attribute(PAIRWISE_ID)) == 1 and pairwise.get_attribute(SUBJECT_ID) is None
    subject = sign_in(porth, wants_subject)
    assert len(subject.get_attribute(SUBJECT_ID)) == 1 and subject.get_attribute(PAIRWISE_ID) is None
    either = sign_in(porth, wants_any)
    assert len(either.get_attribute(PAIRWISE_ID)) == 1 and either.get_attribute(SUBJECT_ID) is None
    assert sign_in(porth, wants_none).get_attributes() == {}
