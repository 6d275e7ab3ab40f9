"""Office 365 through Porth's IdP, the parts that need no directory (issue 14 points 1-2; SPEC S-1, C-2,
G-3): the shipped service definition, the immutable-id NameID chosen by policy, attributes under a
service's own names, SHA-1 request signatures accepted by one service's policy only, and what
`porth m365 federation` prints for the tenant's administrator."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from directory.model import Account, AccountKind, AccountState
from directory.rules.cloud_identity import immutable_id
from directory.rules.cloud_principal import InvalidUserPrincipalName, user_principal_name
from entrypoints.cli.main import cli
from idp import bindings
from idp.attributes import KNOWN_ATTRIBUTES, NAME_FORMATS, NamedAttribute, released
from idp.entra import FederationRefused, domain_federation
from idp.intake import IntakeRules, Pending, Refused, check_request, receive_post, receive_redirect
from idp.responses import SignInFacts, Timing, authn_response, logout_request
from idp.saml_xml import DS, NAMEID_EMAIL, NAMEID_PERSISTENT, SAML, STATUS_INVALID_NAME_ID_POLICY, q
from idp.services import ServiceRegistry
from idp.signing import RSA_SHA1, SHA1_REFUSED, SigningKey, generate_signing_pair, load_signing_key

ROOT = Path(__file__).parents[2]
SHIPPED = ROOT / "config" / "services"
ENTRA = "urn:federation:MicrosoftOnline"
LOGIN_SRF = "https://login.microsoftonline.com/login.srf"
PORTH = "https://porth.example"
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
RULES = IntakeRules(sso_urls={"redirect": f"{PORTH}/idp/sso/redirect", "post": f"{PORTH}/idp/sso/post"},
                    clock_skew=timedelta(minutes=3),
                    max_age=timedelta(minutes=10), require_signed=False, allow_sha1=False)
LEARNER = Account(id="3f2a6c1e-8d4b-4e0a-9b7c-5d1e2f3a4b5c", username="BloggsJ", kind=AccountKind.LEARNER,
                  state=AccountState.ACTIVE, surname="Bloggs", forename="Joe", display_name="Joe Bloggs",
                  mail="BloggsJ@hwbcymru.net", school="6612345")

# Microsoft's sample AuthnRequest, verbatim from how-to-connect-fed-saml-idp ("Sample SAML request and
# response messages"); each use gets a fresh ID and IssueInstant (a request is answered once, S-1).
ENTRA_SAMPLE_REQUEST = (
    '<samlp:AuthnRequest ID="_1e089e5c-a976-4881-af74-3b92c89e7e2c" Version="2.0" '
    'IssueInstant="2024-03-12T14:00:18.450Z" xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">'
    '<Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer>'
    '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>')


def entra_request(now: datetime = NOW, name_id_format: str = NAMEID_PERSISTENT, destination: str | None = None,
                  issuer: str = ENTRA) -> tuple[str, bytes]:
    request_id = f"_{uuid.uuid4()}"
    document = (ENTRA_SAMPLE_REQUEST.replace("_1e089e5c-a976-4881-af74-3b92c89e7e2c", request_id)
                .replace("2024-03-12T14:00:18.450Z", now.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
                .replace(NAMEID_PERSISTENT, name_id_format).replace(ENTRA, issuer))
    if destination:
        document = document.replace('Version="2.0" ', f'Version="2.0" Destination="{destination}" ', 1)
    return request_id, document.encode()


def key_pair(common_name: str, expired: bool = False) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = NOW - timedelta(days=800 if expired else 1)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(start)
                   .not_valid_after(start + timedelta(days=365)).sign(key, hashes.SHA256()))
    return key, certificate


def sign_like_entra(document: bytes, key: rsa.RSAPrivateKey, sha1: bool = True) -> bytes:
    """An enveloped signature the way Entra signs its requests (the doc's signed sample): RSA-SHA1 over
    exclusive C14N, after the Issuer, KeyInfo naming the key (X509SKI, KeyName) instead of carrying it."""
    root = etree.fromstring(document)
    digest_name, method, hash_class = (("sha1", RSA_SHA1, hashes.SHA1) if sha1 else
                                       ("sha256", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", hashes.SHA256))
    digest_uri = "http://www.w3.org/2000/09/xmldsig#sha1" if sha1 else "http://www.w3.org/2001/04/xmlenc#sha256"
    digest = base64.b64encode(hashlib.new(digest_name, etree.tostring(root, method="c14n", exclusive=True))
                              .digest()).decode()
    exc = "http://www.w3.org/2001/10/xml-exc-c14n#"
    signed_info = (f'<SignedInfo xmlns="{DS}"><CanonicalizationMethod Algorithm="{exc}"></CanonicalizationMethod>'
                   f'<SignatureMethod Algorithm="{method}"></SignatureMethod><Reference URI="#{root.get("ID")}">'
                   '<Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature">'
                   f'</Transform><Transform Algorithm="{exc}"></Transform></Transforms>'
                   f'<DigestMethod Algorithm="{digest_uri}"></DigestMethod><DigestValue>{digest}</DigestValue>'
                   '</Reference></SignedInfo>')
    value = base64.b64encode(key.sign(signed_info.encode(), padding.PKCS1v15(), hash_class())).decode()
    signature = etree.fromstring(
        f'<Signature xmlns="{DS}">{signed_info}<SignatureValue>{value}</SignatureValue><KeyInfo>'
        f'<ds:X509Data xmlns:ds="{DS}"><ds:X509SKI>bwzmkdKETWhixlS99FL36FH37EI=</ds:X509SKI></ds:X509Data>'
        f'<ds:KeyName xmlns:ds="{DS}">MicrosoftOnline</ds:KeyName></KeyInfo></Signature>')
    root[0].addnext(signature)
    return etree.tostring(root)


def metadata_with_key(certificate: x509.Certificate, entity_id: str = ENTRA) -> bytes:
    """Microsoft's metadata as shipped, its signing keys replaced by one this test holds the private half of."""
    body = "".join(certificate.public_bytes(serialization.Encoding.PEM).decode().splitlines()[1:-1])
    root = etree.fromstring((SHIPPED / "office365.xml").read_bytes())
    root.remove(root.find(q(DS, "Signature")))  # no longer Microsoft's document: its signature would not verify
    for text in root.iter(q(DS, "X509Certificate")):
        text.text = body
    root.set("entityID", entity_id)
    return etree.tostring(root)


def registry(folder: Path) -> ServiceRegistry:
    return ServiceRegistry(folder, KNOWN_ATTRIBUTES, check_every=0)


@pytest.fixture
def office365(tmp_path) -> ServiceRegistry:
    for suffix in (".xml", ".toml"):
        shutil.copy(SHIPPED / f"office365{suffix}", tmp_path / f"office365{suffix}")
    return registry(tmp_path)


def check(received, services: ServiceRegistry, rules: IntakeRules = RULES) -> Pending | Refused:
    return check_request(received, services, rules, NOW, lambda issuer, request_id, keep_until: True)


def post(document: bytes):
    return receive_post(base64.b64encode(document).decode(), None)


def redirect(document: bytes, key: rsa.RSAPrivateKey | None = None, sig_alg: str = RSA_SHA1):
    query = f"SAMLRequest={quote(bindings.encode_redirect(document), safe='')}"
    if key is not None:
        query += f"&SigAlg={quote(sig_alg, safe='')}"
        hash_class = hashes.SHA1 if sig_alg == RSA_SHA1 else hashes.SHA256
        signature = key.sign(query.encode(), padding.PKCS1v15(), hash_class())
        query += f"&Signature={quote(base64.b64encode(signature).decode(), safe='')}"
    return receive_redirect(query.encode())


# -- the shipped service ---------------------------------------------------------------------
def test_the_shipped_office365_is_microsofts_signed_metadata_unchanged():
    from signxml import DigestAlgorithm, SignatureMethod, XMLVerifier
    from signxml.verifier import SignatureConfiguration

    document = (SHIPPED / "office365.xml").read_bytes()
    root = etree.fromstring(document)
    signer = root.find(f"{q(DS, 'Signature')}//{q(DS, 'X509Certificate')}").text
    assert x509.load_der_x509_certificate(base64.b64decode(signer)).subject.rfc4514_string() == \
        "CN=Live ID STS Signing Public Key"
    config = SignatureConfiguration(signature_methods=frozenset({SignatureMethod.RSA_SHA1}),
                                    digest_algorithms=frozenset({DigestAlgorithm.SHA1}),
                                    verification_time=datetime(2025, 6, 1, tzinfo=UTC))
    verified = XMLVerifier().verify(document, x509_cert=signer, expect_config=config, ignore_ambiguous_key_info=True)
    assert verified.signed_xml.get("entityID") == ENTRA  # Microsoft's signature covers every byte that matters


def test_the_shipped_office365_service_is_what_entra_needs(office365):
    service = office365.get(ENTRA)
    assert office365.problems == []
    shipped = registry(SHIPPED)  # the default services folder, which `porth demo` serves with
    assert shipped.get(ENTRA) is not None and shipped.problems == []
    assert (service.name, service.category, service.name_id) == ("office365", "legacy", "immutable-id")  # C-2
    assert service.consumer_for(None, None).location == LOGIN_SRF  # Entra's requests name no ACS
    assert service.logout_endpoint().location == LOGIN_SRF
    assert service.attributes == (NamedAttribute("IDPEmail", "upn", NAME_FORMATS["unspecified"]),)
    assert service.release == () and service.encryption_certificates == ()
    assert service.accept_sha1_request_signatures and not service.authn_requests_signed
    assert service.title("cy") == "Office 365"


# -- the NameID and IDPEmail -------------------------------------------------------------------
@pytest.mark.parametrize("binding", ["post", "redirect"])
@pytest.mark.parametrize("asked", [NAMEID_PERSISTENT, "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"])
def test_entras_sample_request_gets_the_immutable_id_whatever_persistent_or_unspecified_it_asks(office365, binding,
                                                                                                 asked):
    request_id, document = entra_request(name_id_format=asked)
    pending = check(post(document) if binding == "post" else redirect(document), office365)
    assert isinstance(pending, Pending), pending
    assert (pending.name_id_mode, pending.name_id_format) == ("immutable-id", NAMEID_PERSISTENT)
    assert (pending.acs_url, pending.request_id) == (LOGIN_SRF, request_id)
    assert Pending.from_dict(pending.to_dict()) == pending  # carried through the sign-in form


def test_a_request_for_another_format_is_refused_by_the_immutable_id_policy(office365):
    _, document = entra_request(name_id_format=NAMEID_EMAIL)
    refused = check(post(document), office365)
    assert isinstance(refused, Refused) and refused.status == STATUS_INVALID_NAME_ID_POLICY
    assert "persistent NameID only" in refused.reason and refused.to_service.acs_url == LOGIN_SRF


def test_other_services_still_let_the_request_choose_among_the_formats(office365, tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "lms.xml").write_bytes(metadata_with_key(key_pair("lms")[1], "https://lms.example/sp"))
    _, document = entra_request(name_id_format=NAMEID_EMAIL, issuer="https://lms.example/sp")
    pending = check(post(document), registry(folder))
    assert (pending.name_id_mode, pending.name_id_format) == ("email", NAMEID_EMAIL)
    old_token = {k: v for k, v in pending.to_dict().items() if k != "name_id_mode"}
    assert Pending.from_dict(old_token).name_id_mode == "email"  # a token signed before this change


def test_idpemail_is_the_microsoft_365_upn_under_its_own_name_and_format():
    named = (NamedAttribute("IDPEmail", "upn", NAME_FORMATS["unspecified"]),
             NamedAttribute("ImmutableID", "immutable_id", NAME_FORMATS["basic"]))
    sent = released(LEARNER, ("given_name",), named)
    by_name = {a.name: (a.values, a.name_format, a.friendly_name) for a in sent}
    assert by_name["IDPEmail"] == (("BloggsJ@hwbcymru.net",), NAME_FORMATS["unspecified"], None)
    assert by_name["ImmutableID"] == ((LEARNER.id,), NAME_FORMATS["basic"], None)
    assert by_name["urn:oid:2.5.4.42"] == (("Joe",), NAME_FORMATS["uri"], "givenName")
    assert user_principal_name(LEARNER) == LEARNER.mail and immutable_id(LEARNER.id) == LEARNER.id


@pytest.mark.parametrize(("mail", "why"), [
    ("Siân@hwbcymru.net", "character"), ("BloggsJ", "alias@domain"), ("Bloggs..J@hwbcymru.net", "period"),
    ("B" * 65 + "@hwbcymru.net", "at most 64"), ("BloggsJ@hwb cymru.net", "DNS"),
])
def test_an_address_graph_would_refuse_is_no_userprincipalname_and_the_error_names_the_account(mail, why):
    with pytest.raises(InvalidUserPrincipalName, match=why) as refused:
        user_principal_name(replace(LEARNER, mail=mail))
    assert LEARNER.id in str(refused.value) and mail not in str(refused.value)


@pytest.fixture(scope="module")
def porth_key(tmp_path_factory) -> SigningKey:
    pem = tmp_path_factory.mktemp("keys") / "pair.pem"
    generate_signing_pair(pem, f"{PORTH}/idp/metadata")
    return load_signing_key(pem, pem)


def test_the_immutable_id_is_sent_unqualified_and_the_assertion_still_verifies(office365, porth_key):
    from signxml import XMLVerifier

    service = office365.get(ENTRA)
    document = authn_response(
        key=porth_key, idp_entity_id=f"{PORTH}/idp/metadata", service=service, destination=LOGIN_SRF,
        in_response_to="_r1", name_id=LEARNER.id, name_id_format=NAMEID_PERSISTENT, qualify_name_id=False,
        attributes=released(LEARNER, service.release, service.attributes),
        facts=SignInFacts(NOW, "_s1", NOW + timedelta(hours=8)), timing=Timing(NOW, timedelta(minutes=3),
                                                                                timedelta(minutes=5)))
    verified = XMLVerifier().verify(document, x509_cert=porth_key.certificate_pem).signed_xml
    name_id = verified.find(f".//{q(SAML, 'NameID')}")
    assert (name_id.text, name_id.get("Format"), dict(name_id.attrib).keys() - {"Format"}) == \
        (LEARNER.id, NAMEID_PERSISTENT, set())
    attribute = verified.find(f".//{q(SAML, 'Attribute')}")
    assert dict(attribute.attrib) == {"Name": "IDPEmail", "NameFormat": NAME_FORMATS["unspecified"]}
    assert [v.text for v in attribute] == ["BloggsJ@hwbcymru.net"]
    _, logout = logout_request(key=None, idp_entity_id=f"{PORTH}/idp/metadata", destination=LOGIN_SRF,
                               name_id=LEARNER.id, name_id_format=NAMEID_PERSISTENT, service_entity_id=ENTRA,
                               session_index="_s1", now=NOW, lifetime=timedelta(minutes=5), qualify_name_id=False)
    assert etree.fromstring(logout).find(q(SAML, "NameID")).attrib == {"Format": NAMEID_PERSISTENT}


# -- policy files ------------------------------------------------------------------------------
@pytest.mark.parametrize(("policy", "reason"), [
    ('[attributes]\nIDPEmail = { value = "upm" }\n', "unknown value 'upm'"),
    ('[attributes]\nIDPEmail = { value = "upn", name_format = "url" }\n', "name_format must be one of"),
    ('[attributes]\nIDPEmail = { value = "upn", format = "uri" }\n', "unknown setting 'format'"),
    ('[attributes]\nIDPEmail = "upn"\n', "needs a table with a value"),
    ('release = ["mail"]\n[attributes]\n"urn:oid:0.9.2342.19200300.100.1.3" = { value = "mail" }\n',
     "already sent by the release list"),
    ('accept_sha1_request_signatures = "yes"\n', "must be true or false"),
    ('name_id = "immutable"\n', "name_id must be one of persistent, transient, email, immutable-id"),
])
def test_a_policy_that_cannot_mean_what_it_says_is_left_out_with_its_reason(tmp_path, policy, reason):
    (tmp_path / "sp.xml").write_bytes(metadata_with_key(key_pair("sp")[1], "https://sp.example"))
    (tmp_path / "sp.toml").write_text(policy)
    services = registry(tmp_path)
    assert services.get("https://sp.example") is None
    assert any("sp.toml" in problem and reason in problem for problem in services.problems), services.problems


# -- SHA-1 signed requests -----------------------------------------------------------------------
def _signed_folders(tmp_path, certificate: x509.Certificate) -> tuple[ServiceRegistry, ServiceRegistry]:
    """The shipped Office 365 policy, and the same metadata under a policy without the SHA-1 switch."""
    allowed, strict = tmp_path / "allowed", tmp_path / "strict"
    for folder in (allowed, strict):
        folder.mkdir()
        (folder / "office365.xml").write_bytes(metadata_with_key(certificate))
    shutil.copy(SHIPPED / "office365.toml", allowed / "office365.toml")
    (strict / "office365.toml").write_text('category = "legacy"\nname_id = "immutable-id"\n')
    return registry(allowed), registry(strict)


@pytest.mark.parametrize("binding", ["post", "redirect"])
def test_sha1_signatures_are_accepted_by_the_office365_policy_alone_and_refused_elsewhere_saying_so(tmp_path,
                                                                                                    binding):
    key, certificate = key_pair("MicrosoftOnline")
    allowed, strict = _signed_folders(tmp_path, certificate)

    def signed_request():
        _, document = entra_request(destination=f"{PORTH}/idp/sso/{binding}")
        return post(sign_like_entra(document, key)) if binding == "post" else redirect(document, key)

    assert isinstance(check(signed_request(), allowed), Pending)
    refused = check(signed_request(), strict)
    assert isinstance(refused, Refused) and refused.reason == f"office365: {SHA1_REFUSED}"
    deployment_wide = replace(RULES, allow_sha1=True)  # PORTH_IDP__ALLOW_SHA1_REQUESTS still works for all
    assert isinstance(check(signed_request(), strict, deployment_wide), Pending)


def test_a_signature_by_another_key_still_does_not_verify_and_says_that(tmp_path):
    key, certificate = key_pair("MicrosoftOnline")
    allowed, _ = _signed_folders(tmp_path, certificate)
    stranger, _ = key_pair("someone else")
    for sha1 in (True, False):
        _, document = entra_request()
        refused = check(post(sign_like_entra(document, stranger, sha1=sha1)), allowed)
        assert isinstance(refused, Refused) and "does not verify with the service's keys" in refused.reason
    _, document = entra_request()
    tampered = sign_like_entra(document, key).replace(b"nameid-format:persistent", b"nameid-format:transient")
    assert "does not verify" in check(post(tampered), allowed).reason


def test_a_metadata_key_whose_certificate_has_expired_still_verifies(tmp_path):
    """SAML metadata interoperability: a key is trusted for being in the metadata, whatever its
    certificate's dates (Microsoft's published metadata lists certificates past their end date)."""
    key, certificate = key_pair("MicrosoftOnline", expired=True)
    assert certificate.not_valid_after_utc < NOW
    allowed, _ = _signed_folders(tmp_path, certificate)
    _, document = entra_request()
    assert isinstance(check(post(sign_like_entra(document, key, sha1=False)), allowed), Pending)
    _, document = entra_request()
    assert isinstance(check(post(sign_like_entra(document, key)), allowed), Pending)


# -- porth m365 federation -----------------------------------------------------------------------
def test_the_federation_commands_name_porths_endpoints_and_certificate():
    config = domain_federation(domain="HwbCymru.net", base_url=PORTH, entity_id=f"{PORTH}/idp/metadata",
                               certificate_base64="MIIC+x/y")
    body = config.graph_body()
    assert body == {
        "@odata.type": "#microsoft.graph.internalDomainFederation", "displayName": "Porth",
        "issuerUri": f"{PORTH}/idp/metadata", "passiveSignInUri": f"{PORTH}/idp/sso/post",
        "signOutUri": f"{PORTH}/idp/slo/redirect", "signingCertificate": "MIIC+x/y",
        "preferredAuthenticationProtocol": "saml", "federatedIdpMfaBehavior": "acceptIfMfaDoneByFederatedIdp"}
    request = config.graph_request()
    assert request.startswith("POST https://graph.microsoft.com/v1.0/domains/hwbcymru.net/federationConfiguration\n")
    assert json.loads(request.split("\n\n", 1)[1]) == body
    script = config.powershell()
    for line in ("-DomainId 'hwbcymru.net' `", f"-IssuerUri '{PORTH}/idp/metadata' `",
                 f"-PassiveSignInUri '{PORTH}/idp/sso/post' `", f"-SignOutUri '{PORTH}/idp/slo/redirect' `",
                 "-SigningCertificate 'MIIC+x/y' `", "-PreferredAuthenticationProtocol saml `",
                 "-FederatedIdpMfaBehavior acceptIfMfaDoneByFederatedIdp"):
        assert f"  {line}" in script.splitlines()
    assert "New-MgDomainFederationConfiguration `" in script.splitlines()
    assert "'It''s'" in domain_federation(domain="a.example", base_url=PORTH, entity_id="x", certificate_base64="c",
                                          display_name="It's").powershell()


@pytest.mark.parametrize("domain", ["contoso.onmicrosoft.com", "localhost", "hwb cymru.net", "ŵ.example"])
def test_a_domain_entra_cannot_federate_is_refused(domain):
    with pytest.raises(FederationRefused):
        domain_federation(domain=domain, base_url=PORTH, entity_id="x", certificate_base64="c")


def test_porth_m365_federation_prints_both_from_the_settings(tmp_path):
    env = {"PORTH_VAR_DIR": str(tmp_path / "var"), "PORTH_IDP__BASE_URL": "https://sign-in.hwb.example",
           "PORTH_ACCOUNTS__USERNAME_DOMAIN": "hwb.example", "PORTH_IDP__SERVICES_DIR": str(SHIPPED)}
    result = CliRunner().invoke(cli, ["m365", "federation"], env=env)
    assert result.exit_code == 0, result.output
    pair = tmp_path / "var" / "secrets" / "idp-signing.pem"
    certificate = x509.load_pem_x509_certificate(pair.read_bytes())
    der = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
    assert "  -DomainId 'hwb.example' `" in result.stdout and f"  -SigningCertificate '{der}' `" in result.stdout
    assert '"issuerUri": "https://sign-in.hwb.example/idp/metadata"' in result.stdout
    assert "warning" not in result.output

    result = CliRunner().invoke(cli, ["m365", "federation", "--domain", "other.example"],
                                env=env | {"PORTH_IDP__BASE_URL": "http://127.0.0.1:5000"})
    assert result.exit_code == 0 and "over HTTPS" in result.stderr and "signs none of them in" in result.stderr
    result = CliRunner().invoke(cli, ["m365", "federation"], env=env | {"PORTH_IDP__SERVICES_DIR": str(tmp_path)})
    assert result.exit_code == 0 and "no service in" in result.stderr and "is Office 365" in result.stderr
    result = CliRunner().invoke(cli, ["m365", "federation", "--domain", "hwb.onmicrosoft.com"], env=env)
    assert result.exit_code == 2 and "cannot be federated" in result.output


@pytest.mark.parametrize(("binding", "other"), [("post", "redirect"), ("redirect", "post")])
def test_a_signed_request_addressed_to_the_other_endpoint_is_refused(tmp_path, binding, other):
    # saml-bindings 3.4.5.2/3.5.5.2: the Destination of a signed message is the location it was sent to, checked
    # against where it arrived; Porth's other SSO endpoint is another location (found by an attacker-style run).
    key, certificate = key_pair("MicrosoftOnline")
    allowed, _ = _signed_folders(tmp_path, certificate)

    def signed_request(destination: str):
        _, document = entra_request(destination=destination)
        return post(sign_like_entra(document, key)) if binding == "post" else redirect(document, key)

    assert isinstance(check(signed_request(f"{PORTH}/idp/sso/{binding}"), allowed), Pending)
    refused = check(signed_request(f"{PORTH}/idp/sso/{other}"), allowed)
    assert isinstance(refused, Refused)
    assert refused.reason == (f"office365: the request is addressed to '{PORTH}/idp/sso/{other}', not to the "
                              "endpoint it was sent to")
