"""The service registry: metadata and policy files, reloaded without a restart (issue 4)."""

from __future__ import annotations

from pathlib import Path

from idp.attributes import KNOWN_ATTRIBUTES
from idp.saml_xml import BINDING_POST
from idp.services import ServiceRegistry
from tests.saml_services import key_and_certificate

_, CERTIFICATE = key_and_certificate("sp")
CERT_BODY = "".join(CERTIFICATE.splitlines()[1:-1])


def metadata(entity_id: str, signed_requests: bool = False, extra_acs: str = "") -> str:
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
    entityID="{entity_id}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"
      AuthnRequestsSigned="{'true' if signed_requests else 'false'}">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{CERT_BODY}</ds:X509Certificate>
    </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp/slo"/>
    <md:AssertionConsumerService Binding="{BINDING_POST}" Location="https://sp/acs" index="1"/>
    <md:AssertionConsumerService Binding="{BINDING_POST}" Location="https://sp/acs2" index="2" isDefault="true"/>
    {extra_acs}
  </md:SPSSODescriptor>
</md:EntityDescriptor>"""


def registry(folder: Path) -> ServiceRegistry:
    return ServiceRegistry(folder, KNOWN_ATTRIBUTES, check_every=0)


def test_a_service_is_its_metadata_plus_its_policy_and_defaults_to_the_narrowest(tmp_path):
    (tmp_path / "office.xml").write_text(metadata("https://office.example", signed_requests=True))
    (tmp_path / "office.toml").write_text('category = "legacy"\nname_id = "email"\nrelease = ["mail"]\n'
                                          'display_name = { en = "Office", cy = "Swyddfa" }\n')
    (tmp_path / "bare.xml").write_text(metadata("https://bare.example"))
    services = registry(tmp_path)
    office = services.get("https://office.example")
    assert (office.category, office.name_id, office.release, office.authn_requests_signed) == \
        ("legacy", "email", ("mail",), True)
    assert office.title("cy") == "Swyddfa" and office.title("en") == "Office"
    assert len(office.signing_certificates) == 1 and office.encryption_certificates == ()
    bare = services.get("https://bare.example")
    assert (bare.category, bare.name_id, bare.release, bare.idp_initiated) == ("additional", "transient", (), False)


def test_the_answer_goes_only_to_a_listed_consumer(tmp_path):
    (tmp_path / "sp.xml").write_text(metadata("https://sp.example"))
    service = registry(tmp_path).get("https://sp.example")
    assert service.consumer_for("https://sp/acs", None).location == "https://sp/acs"
    assert service.consumer_for("https://SP/acs", None) is None  # exact, case-sensitive (saml2int)
    assert service.consumer_for("https://evil.example/acs", None) is None
    assert service.consumer_for(None, 1).location == "https://sp/acs"
    assert service.consumer_for(None, 7) is None
    assert service.consumer_for(None, None).location == "https://sp/acs2"  # isDefault


def test_a_broken_file_is_left_out_with_its_reason_and_the_others_still_work(tmp_path):
    (tmp_path / "good.xml").write_text(metadata("https://good.example"))
    (tmp_path / "typo.xml").write_text(metadata("https://typo.example"))
    (tmp_path / "typo.toml").write_text('release = ["mial"]\n')
    (tmp_path / "junk.xml").write_text("<not metadata")
    services = registry(tmp_path)
    assert [s.name for s in services.all()] == ["good"]
    assert any("typo.toml" in p and "'mial'" in p for p in services.problems)
    assert any("junk.xml" in p for p in services.problems)


def test_changes_to_the_folder_are_picked_up_without_a_restart(tmp_path):
    services = registry(tmp_path)
    assert services.get("https://new.example") is None
    (tmp_path / "new.xml").write_text(metadata("https://new.example"))
    assert services.get("https://new.example").category == "additional"
    (tmp_path / "new.toml").write_text('category = "core"\n')
    assert services.get("https://new.example").category == "core"
    (tmp_path / "new.xml").unlink()
    assert services.get("https://new.example") is None


def test_two_files_claiming_one_entity_id_keep_the_first(tmp_path):
    (tmp_path / "a.xml").write_text(metadata("https://same.example"))
    (tmp_path / "b.xml").write_text(metadata("https://same.example"))
    services = registry(tmp_path)
    assert services.get("https://same.example").name == "a"
    assert any("b.xml" in p and "already registered" in p for p in services.problems)
