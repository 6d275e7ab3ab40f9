"""Services' metadata from a signed aggregate (issue 15 point 8; saml2int SDP-MD02, SDP-MD03):
loaded only when its signature verifies with the configured certificate and its validUntil holds,
the last good copy kept when a worse one arrives, refreshed without a restart, the local folder
winning over the aggregate."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree
from signxml import SignatureConstructionMethod, XMLSigner

from directory.model import Consent
from idp.metadata_trust import AggregateConfig, AggregateTrust, read_source
from tests.integration.conftest import learner
from tests.integration.idp_fixtures import PASSWORD, make_porth
from tests.saml_services import POST, OneLoginService, key_and_certificate, posted_form

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
MAIL = "urn:oid:0.9.2342.19200300.100.1.3"


class Federation:
    """A federation operator: signs aggregates of its members' metadata with its own key."""

    def __init__(self, folder: Path, name: str = "federation"):
        self.key, self.certificate = key_and_certificate(name)
        self.certificate_file = folder / f"{name}.crt"
        self.certificate_file.write_text(self.certificate)
        self.source = folder / f"{name}-aggregate.xml"

    def aggregate(self, members: list[bytes], valid_for: timedelta = timedelta(days=14),
                  signed: bool = True, key: str | None = None, certificate: str | None = None) -> bytes:
        valid_until = (datetime.now(UTC) + valid_for).strftime("%Y-%m-%dT%H:%M:%SZ")
        root = etree.Element(f"{{{MD}}}EntitiesDescriptor", nsmap={"md": MD}, ID="_aggregate",
                             validUntil=valid_until, Name="urn:example:federation")
        for member in members:
            root.append(etree.fromstring(member))
        if not signed:
            return etree.tostring(root)
        signer = XMLSigner(method=SignatureConstructionMethod.enveloped, c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
        signed_root = signer.sign(root, key=(key or self.key).encode(), cert=(certificate or self.certificate),
                                  reference_uri="#_aggregate")
        return etree.tostring(signed_root)

    def publish(self, document: bytes) -> None:
        self.source.write_bytes(document)


def sp(name: str, base: str | None = None) -> OneLoginService:
    return OneLoginService(entity_id=f"https://{name}.example/sp", idp_metadata="", base=base or f"https://{name}.example")


def sp_metadata(service: OneLoginService) -> bytes:
    # python3-saml builds its SP metadata from settings that need an IdP: any will do for that.
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    settings = OneLogin_Saml2_Settings({
        "strict": True, "sp": {"entityId": service.entity_id,
                               "assertionConsumerService": {"url": service.acs_url, "binding": POST},
                               "x509cert": service.certificate, "privateKey": service.key},
        "idp": {"entityId": "https://idp.example", "singleSignOnService": {"url": "https://idp.example/sso"},
                "x509cert": service.certificate}}, sp_validation_only=True)
    return settings.get_sp_metadata()


@pytest.fixture
def federation(tmp_path) -> Federation:
    return Federation(tmp_path)


def trust(federation: Federation, tmp_path: Path, clock=None) -> AggregateTrust:
    anchor = x509.load_pem_x509_certificate(federation.certificate.encode())
    config = AggregateConfig(source=str(federation.source), anchor=anchor, cache_file=tmp_path / "cache" / "agg.xml",
                             refresh_every=timedelta(minutes=60), max_validity=timedelta(days=28),
                             clock_skew=timedelta(minutes=3), max_bytes=8 * 1024 * 1024)
    return AggregateTrust(config, clock=clock or (lambda: datetime.now(UTC)))


# -- signatures and validity --------------------------------------------------------------
def test_a_signed_aggregate_is_loaded(federation, tmp_path):
    federation.publish(federation.aggregate([sp_metadata(sp("lms")), sp_metadata(sp("library"))]))
    aggregate = trust(federation, tmp_path)
    assert aggregate.refresh()
    assert set(aggregate.services()) == {"https://lms.example/sp", "https://library.example/sp"}


@pytest.mark.parametrize("how", ["unsigned", "another key", "tampered after signing"])
def test_an_aggregate_that_is_not_signed_by_the_federation_is_refused(federation, tmp_path, caplog, how):
    members = [sp_metadata(sp("lms"))]
    if how == "unsigned":
        document = federation.aggregate(members, signed=False)
    elif how == "another key":
        key, certificate = key_and_certificate("impostor")
        document = federation.aggregate(members, key=key, certificate=certificate)
    else:
        document = federation.aggregate(members).replace(b"https://lms.example/acs", b"https://evil.example/acs")
    federation.publish(document)
    aggregate = trust(federation, tmp_path)
    with caplog.at_level(logging.ERROR, logger="porth.idp.metadata"):
        assert not aggregate.refresh()
    assert aggregate.services() == {}
    assert f"metadata aggregate {federation.source} refused" in caplog.text
    assert not (tmp_path / "cache" / "agg.xml").exists()


@pytest.mark.parametrize(("valid_for", "reason"), [
    (timedelta(days=-1), "expired"),
    (timedelta(days=400), "further ahead than"),
])
def test_an_aggregate_without_a_sound_valid_until_is_refused_and_the_last_good_copy_kept(
        federation, tmp_path, caplog, valid_for, reason):
    federation.publish(federation.aggregate([sp_metadata(sp("lms"))]))
    aggregate = trust(federation, tmp_path)
    assert aggregate.refresh()
    federation.publish(federation.aggregate([sp_metadata(sp("lms")), sp_metadata(sp("newcomer"))],
                                            valid_for=valid_for))
    with caplog.at_level(logging.ERROR, logger="porth.idp.metadata"):
        assert not aggregate.refresh()
    assert reason in caplog.text and "keeping the copy valid until" in caplog.text
    assert set(aggregate.services()) == {"https://lms.example/sp"}


def test_the_kept_copy_is_used_no_longer_than_its_own_valid_until(federation, tmp_path):
    now = [datetime.now(UTC)]
    federation.publish(federation.aggregate([sp_metadata(sp("lms"))], valid_for=timedelta(days=2)))
    aggregate = trust(federation, tmp_path, clock=lambda: now[0])
    assert aggregate.refresh()
    federation.source.unlink()  # the federation's server is gone
    now[0] += timedelta(days=3)
    assert not aggregate.refresh()
    assert aggregate.services() == {}


def test_a_restart_while_the_source_is_unreachable_uses_the_verified_copy_on_disk(federation, tmp_path):
    federation.publish(federation.aggregate([sp_metadata(sp("lms"))]))
    assert trust(federation, tmp_path).refresh()
    federation.source.unlink()
    restarted = trust(federation, tmp_path)
    restarted.load_cached()
    assert set(restarted.services()) == {"https://lms.example/sp"}

    cache = tmp_path / "cache" / "agg.xml"
    cache.write_bytes(cache.read_bytes().replace(b"https://lms.example/acs", b"https://evil.example/acs"))
    tampered = trust(federation, tmp_path)
    tampered.load_cached()
    assert tampered.services() == {}


def test_the_background_refresher_picks_up_a_new_service(federation, tmp_path):
    federation.publish(federation.aggregate([sp_metadata(sp("lms"))]))
    aggregate = trust(federation, tmp_path)
    aggregate.config.refresh_every = timedelta(milliseconds=50)
    try:
        aggregate.services()  # the first use starts the refresher
        assert aggregate.refreshed.wait(10)
        assert set(aggregate.services()) == {"https://lms.example/sp"}
        aggregate.refreshed.clear()
        federation.publish(federation.aggregate([sp_metadata(sp("lms")), sp_metadata(sp("newcomer"))]))
        assert aggregate.refreshed.wait(10)
        for _ in range(200):  # a refresh may have started before the new copy was published
            if "https://newcomer.example/sp" in aggregate.services():
                break
            aggregate.refreshed.clear()
            assert aggregate.refreshed.wait(10)
        assert set(aggregate.services()) == {"https://lms.example/sp", "https://newcomer.example/sp"}
    finally:
        aggregate.stop()


def test_an_aggregate_larger_than_the_limit_is_refused(tmp_path):
    from idp.metadata_trust import AggregateRefused

    (tmp_path / "big.xml").write_bytes(b"<x>" + b" " * 2048 + b"</x>")
    with pytest.raises(AggregateRefused):
        read_source(str(tmp_path / "big.xml"), 1024)


# -- through Porth ----------------------------------------------------------------------------
@pytest.fixture
def federated_porth(slapd, store, tmp_path, federation):
    made = make_porth(slapd, tmp_path / "porth", aggregate={"source": str(federation.source),
                                                           "certificate_file": str(federation.certificate_file)})
    yield made
    made.app.extensions["porth.idp"].close()
    made.runtime.close()


def registry(porth):
    services = porth.app.extensions["porth.idp"].services
    services.check_every = 0
    return services


def test_a_service_from_the_aggregate_signs_people_in_with_its_policy_and_local_metadata_wins(
        federated_porth, federation, store, now):
    store.add_account(learner(password=PASSWORD, consent=Consent.EXPLICIT), now)
    lms = sp("lms")
    lms.idp_metadata = federated_porth.metadata
    (federated_porth.services_dir / "lms.toml").write_text(
        'entity_id = "https://lms.example/sp"\ncategory = "core"\nrelease = ["mail"]\n')
    federation.publish(federation.aggregate([sp_metadata(lms)]))
    services = registry(federated_porth)
    assert services.aggregate.refresh()

    url, request_id = lms.login_url()
    auth = lms.accept(posted_form(federated_porth.sign_in(url, "BloggsJ").get_data(as_text=True)), request_id)
    assert auth.get_errors() == [], auth.get_last_error_reason()
    assert auth.get_attribute(MAIL) == ["BloggsJ@hwbcymru.net"]

    # The same entity registered in the folder, with another consumer: the folder's metadata is used.
    local = sp("lms", base="https://lms-local.example")
    federated_porth.register("lms-local", sp_metadata(local), 'category = "core"\n')
    assert services.get("https://lms.example/sp").assertion_consumers[0].location == "https://lms-local.example/acs"


def test_a_new_service_in_the_aggregate_is_served_without_a_restart(federated_porth, federation):
    federation.publish(federation.aggregate([sp_metadata(sp("lms"))]))
    services = registry(federated_porth)
    assert services.aggregate.refresh()
    assert services.get("https://newcomer.example/sp") is None
    federation.publish(federation.aggregate([sp_metadata(sp("lms")), sp_metadata(sp("newcomer"))]))
    assert services.aggregate.refresh()  # what the refresher thread runs every refresh_minutes
    newcomer = services.get("https://newcomer.example/sp")
    assert newcomer is not None and newcomer.category == "additional" and newcomer.name_id == "transient"


def test_an_aggregate_source_without_a_certificate_is_a_configuration_error(tmp_path):
    from config.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match="CERTIFICATE_FILE"):
        load_settings(var_dir=tmp_path, idp={"aggregate": {"source": "https://federation.example/md.xml"}})

