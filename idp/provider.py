"""Everything the identity provider holds for the life of a web worker, built once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509

from config.settings import IDP_SIGNING_PEM, ConfigError, Settings, secret_path, secret_value
from directory.ldap.sign_in import SignInDirectory
from directory.rules.vault import PasswordVault
from directory.store import DirectoryConfig
from idp.attributes import KNOWN_ATTRIBUTES
from idp.badges import BadgeSignIn, badge_key
from idp.guards import RequestLedger, SignInThrottle
from idp.intake import IntakeRules
from idp.metadata_trust import AggregateConfig, AggregateTrust
from idp.second_factors import RelyingParty, SecondFactorChecks
from idp.services import ServiceRegistry
from idp.signing import SigningKey, generate_signing_pair, load_signing_key
from idp.throttling import Limits
from operational.badges import BadgeLookup
from operational.db import Database, KeptConnections
from operational.second_factors import SecondFactors


@dataclass
class IdentityProvider:
    settings: Settings
    entity_id: str
    base_url: str
    key: SigningKey
    services: ServiceRegistry
    directory: SignInDirectory
    ledger: RequestLedger
    throttle: SignInThrottle
    persistent_id_key: bytes
    connections: KeptConnections
    badges: BadgeSignIn  # issue 18: badge sign-in for the youngest learners
    second_factors: SecondFactorChecks  # issue 18

    @property
    def intake_rules(self) -> IntakeRules:
        idp = self.settings.idp
        return IntakeRules(sso_urls={"redirect": f"{self.base_url}/idp/sso/redirect",
                                     "post": f"{self.base_url}/idp/sso/post"},
                           clock_skew=timedelta(seconds=idp.clock_skew_seconds),
                           max_age=timedelta(seconds=idp.request_max_age_seconds),
                           require_signed=idp.require_signed_requests, allow_sha1=idp.allow_sha1_requests)

    def close(self) -> None:
        if isinstance(self.services.aggregate, AggregateTrust):
            self.services.aggregate.stop()
        self.directory.close()
        self.connections.close()


def signing_files(settings: Settings) -> tuple[Path, Path]:
    idp = settings.idp
    if idp.signing_key_file and idp.signing_certificate_file:
        return idp.signing_key_file, idp.signing_certificate_file
    pair = secret_path(settings, IDP_SIGNING_PEM)
    generate_signing_pair(pair, idp.effective_entity_id)  # none when it exists (always, in PORTH_SECRETS__DIR)
    return pair, pair


def aggregate_trust(settings: Settings) -> AggregateTrust | None:
    """The signed SP-metadata aggregate, if one is configured (idp/metadata_trust.py)."""
    aggregate = settings.idp.aggregate
    if not aggregate.source or aggregate.certificate_file is None:
        return None
    try:
        anchor = x509.load_pem_x509_certificate(aggregate.certificate_file.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"PORTH_IDP__AGGREGATE__CERTIFICATE_FILE: cannot read a PEM certificate from "
                          f"{aggregate.certificate_file}: {exc}") from None
    return AggregateTrust(AggregateConfig(
        source=aggregate.source, anchor=anchor, cache_file=settings.var_dir / "metadata" / "aggregate.xml",
        refresh_every=timedelta(minutes=aggregate.refresh_minutes),
        max_validity=timedelta(days=aggregate.max_validity_days),
        clock_skew=timedelta(seconds=settings.idp.clock_skew_seconds), max_bytes=aggregate.max_bytes))


def build_identity_provider(settings: Settings, db: Database, directory_config: DirectoryConfig) -> IdentityProvider:
    idp = settings.idp
    secrets = settings.secrets
    persistent_key = secret_value(secrets.persistent_id_key, "secrets.persistent_id_key").encode("utf-8")
    throttle_key = secret_value(secrets.flask_secret_key, "secrets.flask_secret_key").encode("utf-8")
    connections = KeptConnections(db)
    return IdentityProvider(
        settings=settings,
        entity_id=idp.effective_entity_id,
        base_url=idp.base_url,
        key=load_signing_key(*signing_files(settings)),
        services=ServiceRegistry(idp.services_dir, KNOWN_ATTRIBUTES, aggregate=aggregate_trust(settings)),
        directory=SignInDirectory(directory_config),
        ledger=RequestLedger(connections),
        throttle=SignInThrottle(connections, throttle_key,
                                Limits(idp.failures_before_delay, idp.failures_before_lock,
                                       timedelta(minutes=idp.lock_minutes)),
                                idp.address_failures_before_lock),
        persistent_id_key=persistent_key,
        connections=connections,
        badges=BadgeSignIn(BadgeLookup(connections), badge_key(persistent_key), db),
        second_factors=second_factor_checks(settings, db),
    )


def second_factor_checks(settings: Settings, db: Database) -> SecondFactorChecks:
    """Second factors (issue 18): TOTP secrets sealed with the password-vault key, recovery codes
    hashed with a key derived from it (both kept with it in a backup), WebAuthn bound to the public URL."""
    vault_key = secret_value(settings.secrets.password_vault_key, "secrets.password_vault_key")
    recovery_key = hashlib.sha256(b"porth recovery codes\x00" + vault_key.encode("utf-8")).digest()
    return SecondFactorChecks(SecondFactors(db), PasswordVault(vault_key), recovery_key,
                              RelyingParty.of(settings.idp.base_url, settings.mfa.issuer_name),
                              settings.mfa.recovery_codes)
