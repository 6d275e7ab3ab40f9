"""Typed settings (pydantic-settings).

Sources, strongest first: environment variables (prefix ``PORTH_``, nested
with ``__``, e.g. ``PORTH_LDAP__URL``), the TOML file named by
``PORTH_CONFIG``, then the embedded defaults below. With no configuration at
all Porth runs a private slapd and SQLite under ``./var/``.

Secrets that are not given are generated on first run into
``./var/secrets/`` (mode 0600) and reused afterwards. They are SecretStr
values: their repr and str never show them, so they cannot leak into logs.

This module is the only one that reads ``os.environ``.
"""

from __future__ import annotations

import os
import re
import secrets as random_secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, Literal

from cryptography.fernet import Fernet
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

ENV_PREFIX = "PORTH_"
CONFIG_FILE_VARIABLE = "PORTH_CONFIG"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
_DN = re.compile(r"^[A-Za-z][A-Za-z0-9-]*=[^,]+(,[A-Za-z][A-Za-z0-9-]*=[^,]+)*$")


class ConfigError(Exception):
    """A setting Porth cannot start with; str() is one line naming the setting."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_dn(value: str) -> str:
    if not _DN.match(value):
        raise ValueError("must be an LDAP DN such as dc=porth")
    return value


_LDAP_URL = re.compile(r"^ldaps?://[^/\s]+/?$|^ldapi://\S+$")
ReplicationRole = Literal["standalone", "provider", "consumer"]


def _url_list(value: str | None) -> str | None:
    """A space-separated list of LDAP URLs, as libldap takes them (tried in order), normalised to
    single spaces; each an ldap://host:port, ldaps://host:port or ldapi:// URL."""
    if value is None:
        return None
    urls = value.split()
    if not urls or not all(_LDAP_URL.match(url) for url in urls):
        # Worded as before URL lists (a list is space-separated: docs/deployment.md, "Replication").
        raise ValueError("must be an ldap://host:port, ldaps://host:port or ldapi:// URL")
    return " ".join(urls)


class LdapSettings(_Section):
    # None: Porth runs its own private slapd under var/ (the embedded default). Otherwise the
    # directory's write URLs, space-separated, tried in order (failover, like libldap's own URL
    # lists): with replication, every provider, the nearest first.
    url: str | None = None
    # Where sign-ins bind and look accounts up (the IdP's hot path): a consumer near the web node,
    # then the providers. Default: the write URLs. Every other read goes to the write URLs, so
    # Porth never plans a change from a replica a few milliseconds behind.
    read_urls: str | None = None
    base_dn: str = "dc=porth"
    bind_dn: str | None = None  # default: cn=porth,<base_dn>
    bind_password: SecretStr | None = None
    embedded_host: str = "127.0.0.1"
    embedded_port: int = Field(default=3890, ge=1, le=65535)
    # Durable commits by default; a throw-away instance (tests) may skip fsync.
    embedded_no_sync: bool = False
    # What the private slapd `porth directory` runs is (docs/deployment.md, "Replication"):
    # standalone (one server, the default), provider (one of several writable servers replicating
    # to each other) or consumer (a read-only copy that chains writes to the providers).
    embedded_role: ReplicationRole = "standalone"
    # A provider's olcServerID, unique among the providers (1..4095).
    embedded_server_id: int | None = Field(default=None, ge=1, le=4095)
    # The providers this node replicates from (a provider: the other providers; a consumer: all
    # of them, the nearest first, also where its writes are chained), space-separated URLs.
    replicate_from: str | None = None
    pool_size: int = Field(default=4, ge=1, le=64)
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    page_size: int = Field(default=500, ge=10, le=5000)

    @field_validator("url", "read_urls", "replicate_from")
    @classmethod
    def _url_scheme(cls, value: str | None) -> str | None:
        return _url_list(value)

    @field_validator("base_dn", "bind_dn")
    @classmethod
    def _dn_shape(cls, value: str | None) -> str | None:
        return None if value is None else _check_dn(value)

    @model_validator(mode="after")
    def _replication_complete(self) -> LdapSettings:
        if self.embedded_role == "provider" and self.embedded_server_id is None:
            raise ValueError("a provider needs its server id, unique among the providers "
                             "(PORTH_LDAP__EMBEDDED_SERVER_ID, 1..4095)")
        if self.embedded_role == "consumer" and not self.replicate_from:
            raise ValueError("a consumer needs the providers it replicates from (PORTH_LDAP__REPLICATE_FROM)")
        if self.embedded_role == "standalone" and (self.replicate_from or self.embedded_server_id):
            raise ValueError("replicate_from and embedded_server_id are for a provider or a consumer: "
                             "set PORTH_LDAP__EMBEDDED_ROLE")
        if self.embedded_role != "standalone" and self.bind_password is None:
            # One generated into this node's var/secrets would differ from every other node's.
            raise ValueError("a provider or a consumer needs PORTH_LDAP__BIND_PASSWORD, the same on every node "
                             "(Porth's service DN is the replication identity)")
        own = f"ldap://{self.embedded_host}:{self.embedded_port}"
        if own in (self.replicate_from or "").split():
            raise ValueError(f"replicate_from names this node itself ({own}): list the other providers")
        return self

    @property
    def embedded(self) -> bool:
        return self.url is None

    @property
    def runs_private_slapd(self) -> bool:
        """Whether `porth directory` runs a slapd here: the embedded default, or a replication node
        (whose Porth processes may still name every provider in `url`)."""
        return self.embedded or self.embedded_role != "standalone"

    @property
    def effective_url(self) -> str:
        return self.url or f"ldap://{self.embedded_host}:{self.embedded_port}"

    @property
    def effective_read_urls(self) -> str:
        return self.read_urls or self.effective_url

    @property
    def effective_bind_dn(self) -> str:
        return self.bind_dn or f"cn=porth,{self.base_dn}"


class DatabaseSettings(_Section):
    # None: SQLite at var/porth.sqlite3. Production: postgresql+psycopg://...
    url: str | None = None
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _supported_engine(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(sqlite(\+pysqlite)?|postgresql\+psycopg)://", value):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        return value


class ClaimsSettings(_Section):
    """Issue 17 point 2 (docs/deployment.md, "No duplicates across providers"): each username,
    alias and UPN hash is claimed in the operational database before any directory server is
    written with it, so that two providers never give one to two accounts."""

    # None: on when the operational database is PostgreSQL (the one every machine shares, so
    # several directory servers may be written), off on SQLite (one machine and its directory,
    # whose unique overlay suffices). true: also on SQLite (several processes on one machine
    # writing to different providers); false: off (one provider is the only one ever written).
    enabled: bool | None = None


class AccountSettings(_Section):
    username_domain: str = "hwbcymru.net"

    @field_validator("username_domain")
    @classmethod
    def _hostname(cls, value: str) -> str:
        if not _HOSTNAME.match(value):
            raise ValueError("must be a DNS domain such as hwbcymru.net")
        return value.lower()


class ProvisioningSettings(_Section):
    # SPEC M-11 (connectors/provisioning/guard.py): hold a run in which more than this share of a
    # school's active accounts disappear from a full export (leavers with a leaving date are not
    # counted), once that reaches guard_min_accounts...
    guard_max_share: float = Field(default=0.10, gt=0, le=1)
    guard_min_accounts: int = Field(default=25, ge=1)
    # ...or, in a school too small for that minimum, more than this share of it (half: a 20-account
    # school losing 15 is held).
    guard_small_school_share: float = Field(default=0.5, gt=0, le=1)
    # Also held: a run creating at least this share of the school's active learners (and at least
    # guard_replacement_min) as new accounts while as many existing learners vanish: what a wrong
    # UPN-hash key or a changed MIS looks like.
    guard_replacement_share: float = Field(default=0.25, gt=0, le=1)
    guard_replacement_min: int = Field(default=5, ge=1)
    # Schools provisioned at once: each worker thread hashes its new passwords
    # (Argon2, in C without the GIL; directory/ldap/passwords.py says why Porth
    # hashes, not slapd), so an initial load scales with the client's cores.
    jobs: int = Field(default=2, ge=1, le=16)


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65535)
    # None: gunicorn's rule of thumb, 2 x CPU cores + 1 (a sign-in spends ~10 ms waiting
    # for slapd's Argon2 check, during which another worker uses the core).
    workers: int | None = Field(default=None, ge=1, le=64)
    # sync: one request at a time per worker process, the lowest overhead per sign-in
    # (bench/README.md); gthread: threads in each worker.
    worker_class: Literal["sync", "gthread"] = "sync"
    # Reverse proxies in front of Porth whose X-Forwarded-For/-Proto/-Host are believed: the
    # sign-in throttle counts failures per client address (S-3), which behind a proxy is
    # the proxy's own unless this says how many hops to trust. 0: none (Porth faces clients).
    trusted_proxies: int = Field(default=0, ge=0, le=5)
    # The largest request body any endpoint reads (413 beyond it). A signed and encrypted SAML
    # message is at most ~100 KB, a portal form selecting 2,000 accounts ~100 KB; the web takes
    # no file uploads (MIS files come through `porth provision`).
    max_request_bytes: int = Field(default=1024 * 1024, ge=256 * 1024, le=64 * 1024 * 1024)
    # The public home page's account counts are read from the directory at most this often per
    # node, behind the page (webui/school_counts.py), never for each anonymous visitor.
    school_counts_seconds: int = Field(default=300, ge=1, le=24 * 3600)
    # A browser's session (single sign-on and portal) ends after this long without a request to
    # Porth, whatever its lifetime left (issue 15 point 1). 60: the Shibboleth IdP's own default
    # (idp.session.timeout), long enough for a lesson spent in one service; docs/sign-in.md.
    session_idle_minutes: int = Field(default=60, ge=5, le=24 * 60)

    @property
    def effective_workers(self) -> int:
        return self.workers or 2 * (os.cpu_count() or 1) + 1


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _https_or_http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


class IdpMetadataSettings(_Section):
    """What Porth's own SAML metadata tells services and people about it (saml2int SDP-MD09..MD11,
    docs/saml2int.md). An LA sets its own names, pages and contact; the defaults are usable as they are."""

    # mdui:DisplayName and mdui:Description, in English and Welsh (a discovery service shows them).
    display_name_en: str = Field(default="Porth", min_length=1, max_length=256)
    display_name_cy: str = Field(default="Porth", min_length=1, max_length=256)
    description_en: str = Field(default="Sign-in for school accounts", min_length=1, max_length=256)
    description_cy: str = Field(default="Mewngofnodi ar gyfer cyfrifon ysgol", min_length=1, max_length=256)
    # mdui:InformationURL: default the home page, <base_url>/.
    information_url: str | None = None
    # mdui:PrivacyStatementURL: the LA's privacy notice for the accounts; left out until set
    # (saml2int asks it of services, not of IdPs; Porth itself has no such page to point to).
    privacy_statement_url: str | None = None
    # mdui:Logo (80x60 PNG, saml2int SDP-MD10: an https URL or a data: URI): default Porth's own, inline.
    logo_url: str | None = None
    # md:ContactPerson technical (SDP-MD11) and support: default postmaster@<accounts.username_domain>
    # (RFC 5321 requires a mail domain to have one; it reaches whoever runs the accounts' mail).
    technical_contact_email: str | None = None
    support_contact_email: str | None = None
    # validUntil: now + this many days (SDP-MD03: consumers refuse metadata without one or valid for
    # too long; Shibboleth's RequireValidUntil allows up to 14 days by default).
    valid_days: int = Field(default=7, ge=1, le=14)

    @field_validator("information_url", "privacy_statement_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _https_or_http_url(value)

    @field_validator("logo_url")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "data:image/png;base64,")):
            raise ValueError("must be an https:// URL or a data:image/png;base64, URI (saml2int SDP-MD10)")
        return value

    @field_validator("technical_contact_email", "support_contact_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value.removeprefix("mailto:")):
            raise ValueError("must be an email address")
        return None if value is None else value.removeprefix("mailto:")


class MetadataAggregateSettings(_Section):
    """SP metadata from a signed aggregate, e.g. a federation's (docs/sign-in.md, "Metadata trust")."""

    # A file path or an https:// URL. Unset: no aggregate, the services folder alone.
    source: str | None = None
    # The PEM certificate whose key must have signed the aggregate (the federation publishes it).
    certificate_file: Path | None = None
    refresh_minutes: int = Field(default=60, ge=1, le=24 * 60)
    # SDP-MD03: an aggregate valid for longer than this is refused (a stolen copy lives no longer).
    max_validity_days: int = Field(default=28, ge=1, le=365)
    max_bytes: int = Field(default=128 * 1024 * 1024, ge=1024)

    @model_validator(mode="after")
    def _certificate_with_source(self) -> MetadataAggregateSettings:
        if self.source and self.certificate_file is None:
            raise ValueError("an aggregate source needs certificate_file: unsigned or unverified "
                             "metadata is never loaded (PORTH_IDP__AGGREGATE__CERTIFICATE_FILE)")
        if self.source and self.source.startswith("http://"):
            raise ValueError("an aggregate URL must be https://")
        return self


class IdpSettings(_Section):
    """The SAML identity provider (issue 4; SPEC S-1..S-4)."""

    # Where people and services reach Porth; the IdP's entityID and endpoints derive from it.
    base_url: str = "http://127.0.0.1:5000"
    entity_id: str | None = None  # default: <base_url>/idp/metadata
    # SAML metadata of the services (name.xml) and their Porth policy (name.toml); re-read when changed.
    services_dir: Path = Path("config/services")
    # PEM files; when both are unset a key and a self-signed certificate are generated into var/secrets.
    signing_key_file: Path | None = None
    signing_certificate_file: Path | None = None
    session_hours: float = Field(default=8.0, gt=0, le=24 * 7)
    clock_skew_seconds: int = Field(default=180, ge=0, le=600)
    assertion_lifetime_seconds: int = Field(default=300, ge=30, le=3600)
    # An AuthnRequest issued longer ago than this is refused (and its ID is remembered this long).
    request_max_age_seconds: int = Field(default=600, ge=60, le=86400)
    require_signed_requests: bool = False
    # SHA-1 signatures on requests are refused unless a legacy service needs them (saml2int).
    allow_sha1_requests: bool = False
    # S-3: after this many failures for a username, each further attempt must wait; then it locks.
    failures_before_delay: int = Field(default=3, ge=1, le=100)
    # The one statement of the lockout: the IdP's throttle applies it and slapd's password policy
    # is written from it (directory.ldap.config.Lockout, DirectoryStore.initialise).
    failures_before_lock: int = Field(default=10, ge=2, le=1000)
    lock_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Per source address: whole schools sign in from one public address, so far higher.
    address_failures_before_lock: int = Field(default=300, ge=10, le=100000)
    metadata: IdpMetadataSettings = IdpMetadataSettings()
    aggregate: MetadataAggregateSettings = MetadataAggregateSettings()

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("entity_id")
    @classmethod
    def _entity_id(cls, value: str | None) -> str | None:
        # saml2int SDP-G04: an absolute URI of at most 256 characters.
        if value is not None and (len(value) > 256 or not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", value)):
            raise ValueError("must be an absolute URI of at most 256 characters (saml2int SDP-G04)")
        return value

    @model_validator(mode="after")
    def _entity_id_length(self) -> IdpSettings:
        if len(self.effective_entity_id) > 256:
            raise ValueError("the entityID <base_url>/idp/metadata would be longer than 256 characters "
                             "(saml2int SDP-G04): shorten the base URL or set entity_id")
        return self

    @property
    def effective_entity_id(self) -> str:
        return self.entity_id or f"{self.base_url}/idp/metadata"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


class PortalSettings(_Section):
    """The User Management Portal (issue 5; SPEC R-1..R-7)."""

    # entering user management asks for the password again; the forced sign-in lasts this long.
    session_minutes: int = Field(default=60, ge=5, le=12 * 60)
    # Accounts listed per page in View Users.
    page_size: int = Field(default=50, ge=10, le=500)


# --- Second factors (issue 18 points 6-9) ------------------------------------
# The portal roles a second factor may be required of (webui/portal/permissions.py PortalRole values).
SECOND_FACTOR_ROLES = ("primary-learner", "secondary-learner", "non-mis-user", "school-staff", "digital-champion",
                       "la-administrator", "rec-administrator", "national-administrator")


class SecondFactorSettings(_Section):
    """Second factors: authenticator apps (TOTP) and security keys or passkeys (WebAuthn)."""

    # The roles that must give a second factor to enter the portal's management area (R-6's
    # step-up asks for it); someone in one of them without a factor is asked to enrol one.
    # PORTH_MFA__REQUIRED_ROLES='["digital-champion"]', or '[]' for none.
    required_roles: tuple[str, ...] = ("digital-champion", "la-administrator", "rec-administrator",
                                       "national-administrator")
    # How many one-time recovery codes an enrolment gives.
    recovery_codes: int = Field(default=10, ge=4, le=20)
    # The name authenticator apps and security-key prompts show for Porth.
    issuer_name: str = Field(default="Porth", min_length=1, max_length=64)

    @field_validator("required_roles")
    @classmethod
    def _known_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [role for role in value if role not in SECOND_FACTOR_ROLES]
        if unknown:
            raise ValueError(f"unknown role {unknown[0]!r} (known: {', '.join(SECOND_FACTOR_ROLES)})")
        return value


class JobsSettings(_Section):
    """The scheduled jobs (issue 6): `porth scheduler` runs them."""

    # queued username changes are done within 10 minutes; the job runs this often.
    username_change_minutes: int = Field(default=5, ge=1, le=10)
    # L-1, L-3, L-4: the daily lifecycle jobs run at this hour (Europe/London).
    lifecycle_hour: int = Field(default=2, ge=0, le=23)
    # L-4: a deletion run that would delete more than this holds until confirmed.
    max_deletions_per_run: int = Field(default=500, ge=1)
    # A job's lock is a lease this long, renewed by a heartbeat every third of it while the job
    # runs: a scheduler that died (killed, its machine gone) frees its jobs this long after its last
    # heartbeat, and its run is then marked failed (issue 17: a 30-minute lock held up A-5's 10 minutes).
    lease_seconds: int = Field(default=120, ge=1, le=120)
    # Housekeeping: job runs older than this are forgotten (each job's latest, and latest
    # successful, run is always kept: jobs/housekeeping.py).
    keep_runs_days: int = Field(default=90, ge=7)


class GraphSettings(_Section):
    """Microsoft 365 through Microsoft Graph (issue 6; SPEC G-1..G-3). Off until configured."""

    enabled: bool = False
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    # Default: https://login.microsoftonline.com/<tenant_id>. MSAL needs https.
    authority: str | None = None
    # Only for a local fake Graph: where requests for the https authority really go.
    authority_server: str | None = None
    graph_url: str = "https://graph.microsoft.com/v1.0"
    learner_sku: str = "STANDARDWOFFPACK_STUDENT"  # skuPartNumber (FORMATS.md lists the education SKUs)
    staff_sku: str = "STANDARDWOFFPACK_FACULTY"
    dry_run: bool = False  # read the tenant, send no write
    # Graph's documented budget per app and tenant: 3,000 writes per 150 s. The sync keeps below it.
    writes_per_window: int = Field(default=3000, ge=1)
    window_seconds: float = Field(default=150.0, gt=0)
    # G-3: changes reach the tenant within the hour; C-3: consent within 24 hours.
    sync_minutes: int = Field(default=15, ge=1, le=60)
    consent_minutes: int = Field(default=60, ge=1, le=24 * 60)
    full_sync_hour: int = Field(default=3, ge=0, le=23)

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> GraphSettings:
        if self.enabled:
            missing = [name for name in ("tenant_id", "client_id", "client_secret") if not getattr(self, name)]
            if missing:
                raise ValueError(f"graph.enabled needs {', '.join(missing)} "
                                 f"(PORTH_GRAPH__{missing[0].upper()})")
        return self

    @property
    def effective_authority(self) -> str:
        return self.authority or f"https://login.microsoftonline.com/{self.tenant_id}"


class MetricsSettings(_Section):
    """The Prometheus endpoints (issue 17 point 5): /metrics on every web node, and the
    scheduler's own (the Graph counters live in its process). docs/deployment.md, "Metrics"."""

    enabled: bool = True
    # Who may scrape /metrics: the addresses the request comes from (the TCP peer, never a
    # forwarded header). Loopback only by default: a Prometheus on the node, or one the LA
    # names here. A request that came through a proxy (X-Forwarded-For or Forwarded) is refused
    # whatever its address, so the public proxy never serves them by accident.
    allow: tuple[IPvAnyNetwork, ...] = (IPv4Network("127.0.0.0/8"), IPv6Network("::1/128"))
    # The scheduler serves its own /metrics on this port when set (none by default).
    scheduler_port: int | None = Field(default=None, ge=1, le=65535)
    scheduler_host: str = "127.0.0.1"


class SecretSettings(_Section):
    """Keys Porth needs. One given here (an environment variable, the TOML file) is used as it is;
    any other is read from the secrets folder (SECRET_FILES below says which file holds which)."""

    # A folder Porth only reads: the deployment's secrets as files (compose secrets, mounted at
    # /run/secrets), written once by `porth secrets create`. Nothing is generated there, so every
    # web node reads the same keys; a file missing is a secret this process was not given. Unset:
    # var/secrets/, where a missing secret is generated on first run.
    dir: Path | None = None
    upn_hash_key: SecretStr | None = None
    password_vault_key: SecretStr | None = None
    flask_secret_key: SecretStr | None = None
    # Keys the persistent NameIDs (an opaque identifier per person and service): never change it.
    persistent_id_key: SecretStr | None = None

    @field_validator("upn_hash_key", "flask_secret_key", "persistent_id_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("password_vault_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                Fernet(value.get_secret_value())
            except (ValueError, TypeError):
                raise ValueError("must be a Fernet key (32 url-safe base64-encoded bytes)") from None
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    var_dir: Path = Path("var")
    ldap: LdapSettings = LdapSettings()
    database: DatabaseSettings = DatabaseSettings()
    claims: ClaimsSettings = ClaimsSettings()
    accounts: AccountSettings = AccountSettings()
    web: WebSettings = WebSettings()
    provisioning: ProvisioningSettings = ProvisioningSettings()
    idp: IdpSettings = IdpSettings()
    portal: PortalSettings = PortalSettings()
    mfa: SecondFactorSettings = SecondFactorSettings()
    jobs: JobsSettings = JobsSettings()
    graph: GraphSettings = GraphSettings()
    metrics: MetricsSettings = MetricsSettings()
    secrets: SecretSettings = SecretSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # text: one line a record; json: one JSON object a line, for a log collector (webui/logs.py).
    log_format: Literal["text", "json"] = "text"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings]
        toml_file = _config_file_from(os.environ)
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{(self.var_dir / 'porth.sqlite3').resolve()}"

    @property
    def claims_enabled(self) -> bool:
        """Whether usernames and UPN hashes are claimed in the operational database (ClaimsSettings)."""
        if self.claims.enabled is not None:
            return self.claims.enabled
        return self.database_url.startswith("postgresql")

    @property
    def secrets_dir(self) -> Path:
        """Where the secrets not given in the settings are: PORTH_SECRETS__DIR, else var/secrets."""
        return self.secrets.dir or self.var_dir / "secrets"

    @property
    def secrets_read_only(self) -> bool:
        """The secrets folder is the deployment's (PORTH_SECRETS__DIR): read, never written."""
        return self.secrets.dir is not None

    @property
    def slapd_dir(self) -> Path:
        return self.var_dir / "slapd"


def _config_file_from(environ: os._Environ[str] | dict[str, str]) -> Path | None:
    raw = environ.get(CONFIG_FILE_VARIABLE)
    if not raw:
        return None
    path = Path(raw)
    if not path.is_file():
        raise ConfigError(f"{CONFIG_FILE_VARIABLE}: no such file: {raw}")
    return path


def _setting_name(location: tuple[Any, ...]) -> str:
    return ENV_PREFIX + "__".join(str(part).upper() for part in location)


def _describe(error: ErrorDetails) -> str:
    name = _setting_name(tuple(error["loc"]))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{name}: unknown setting"
    shown = error.get("input")
    secret = any("secret" in str(part) or "password" in str(part) or "key" in str(part) for part in error["loc"])
    if shown is None or secret or isinstance(shown, dict):
        return f"{name}: {message}"
    return f"{name}: {message} (got {shown!r})"


def load_settings(**overrides: Any) -> Settings:
    """Read settings; a bad one raises ConfigError with one line naming it."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(_describe(errors[0]) + more) from None
    except (ValueError, OSError) as exc:  # e.g. a TOML file that does not parse
        raise ConfigError(f"{CONFIG_FILE_VARIABLE}: {exc}") from None
    if not settings.ldap.embedded and settings.ldap.bind_password is None and not settings.secrets_read_only:
        raise ConfigError(
            f"{ENV_PREFIX}LDAP__BIND_PASSWORD: required when {ENV_PREFIX}LDAP__URL names an existing directory "
            f"(or a file ldap_bind_password in {ENV_PREFIX}SECRETS__DIR)"
        )
    if not settings.ldap.embedded and settings.ldap.bind_dn is None:
        raise ConfigError(
            f"{ENV_PREFIX}LDAP__BIND_DN: required when {ENV_PREFIX}LDAP__URL names an existing directory"
        )
    return settings


# --- The secret files -------------------------------------------------------


@dataclass(frozen=True)
class SecretFile:
    """One file of the secrets folder: what it keys, what is lost without it, and where the
    settings can give it instead. Every writer (first run, `porth secrets create`) and the backup
    read this one list, so a secret added here cannot be left out of a backup."""

    name: str
    what: str
    without_it: str
    given_by: str  # the setting(s) that can hold it instead of the file; "" for none
    # Generates a new value for a text secret; None for a key pair, which idp.signing makes.
    generate: Callable[[], str] | None


# The two key pairs' files, named by the modules that load them (idp/provider.py, webui/portal).
IDP_SIGNING_PEM = "idp-signing.pem"
PORTAL_SP_PEM = "portal-sp.pem"
# The text secrets' files, each named as the setting it fills (section, field).
_SETTING_OF = {
    "upn_hash_key": ("secrets", "upn_hash_key"),
    "persistent_id_key": ("secrets", "persistent_id_key"),
    "password_vault_key": ("secrets", "password_vault_key"),
    "flask_secret_key": ("secrets", "flask_secret_key"),
    "ldap_bind_password": ("ldap", "bind_password"),
}


def _token(size: int) -> Callable[[], str]:
    return lambda: random_secrets.token_urlsafe(size)


SECRET_FILES: tuple[SecretFile, ...] = (
    SecretFile("upn_hash_key", "UPN-hash key (HMAC of each learner's UPN, SPEC M-3)",
               "no learner is recognised: the next provisioning run would create every learner again",
               "PORTH_SECRETS__UPN_HASH_KEY", _token(48)),
    SecretFile("persistent_id_key", "persistent NameID key (the identifier each service knows a person by)",
               "every service would see each person as a stranger and lose their work",
               "PORTH_SECRETS__PERSISTENT_ID_KEY", _token(48)),
    SecretFile("password_vault_key", "password-vault key (Fernet: passwords set by administrators, SPEC A-4)",
               "passwords set by administrators could no longer be shown", "PORTH_SECRETS__PASSWORD_VAULT_KEY",
               lambda: Fernet.generate_key().decode("ascii")),
    SecretFile("flask_secret_key", "session and sign-in throttle key",
               "everyone is signed out and the sign-in throttle forgets its counts", "PORTH_SECRETS__FLASK_SECRET_KEY",
               _token(48)),
    SecretFile(IDP_SIGNING_PEM, "IdP signing key and certificate (every service trusts this certificate)",
               "every service would refuse Porth's sign-ins until given new metadata",
               "PORTH_IDP__SIGNING_KEY_FILE and PORTH_IDP__SIGNING_CERTIFICATE_FILE", None),
    SecretFile(PORTAL_SP_PEM, "the User Management Portal's own SAML key (the same on every web node)",
               "portal sign-ins in progress fail and every web node must be given the new key", "", None),
    SecretFile("ldap_bind_password", "the directory's administrator password (cn=porth)",
               "the restored directory's password would differ from the one in the settings",
               "PORTH_LDAP__BIND_PASSWORD", _token(32)),
)
_BY_NAME = {secret.name: secret for secret in SECRET_FILES}


def secret_files_read(settings: Settings) -> list[SecretFile]:
    """The secrets these settings read from the secrets folder: all but those they give themselves
    (and an external directory's password, which is the LA's, given in the settings)."""
    given = {name: getattr(getattr(settings, section), field) is not None
             for name, (section, field) in _SETTING_OF.items()}
    given["ldap_bind_password"] |= not settings.ldap.embedded and not settings.secrets_read_only
    given[IDP_SIGNING_PEM] = bool(settings.idp.signing_key_file and settings.idp.signing_certificate_file)
    given[PORTAL_SP_PEM] = False
    return [secret for secret in SECRET_FILES if not given[secret.name]]


def secret_path(settings: Settings, name: str) -> Path:
    """The file of secret `name`. In a read-only secrets folder (PORTH_SECRETS__DIR) it must be
    there: a key pair is generated only into var/secrets, so two web nodes never make two."""
    path = settings.secrets_dir / name
    if settings.secrets_read_only and not path.is_file():
        secret = _BY_NAME[name]
        raise ConfigError(f"{ENV_PREFIX}SECRETS__DIR: {path} is missing ({secret.what}); give this service that "
                          "secret (`porth secrets create DIR` writes a whole set)")
    return path


def _read_or_create_secret(directory: Path, name: str) -> SecretStr:
    """Read var/secrets/<name>, creating it (0600, never overwritten) if absent."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    if not path.exists():
        write_new_secret(path, _new_value(name))
    found = _read_secret(path)
    if found is None:  # deleted between the two steps: only by hand
        raise ConfigError(f"{path}: secret file vanished while Porth started; start it again")
    return found


def _new_value(name: str) -> str:
    generate = _BY_NAME[name].generate
    if generate is None:
        raise ValueError(f"{name} is a key pair: idp.signing.generate_signing_pair makes it")
    return generate()


def write_new_secret(path: Path, value: str, owner: tuple[int, int] | None = None) -> bool:
    """Write a text secret (0600) unless the file exists; True if this call wrote it.

    Written whole to a file of this process's own, then linked into place: link() refuses to
    replace a file, so when processes start together (web, scheduler) exactly one secret wins and
    none of them can read a file another has created but not yet written."""
    fd, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(value + "\n")
        if owner is not None:
            os.chown(draft, *owner)
        os.link(draft, path)
    except FileExistsError:
        return False  # another process won: its secret is the one
    finally:
        Path(draft).unlink()
    return True


def _read_secret(path: Path) -> SecretStr | None:
    """The secret in `path`; None if there is no such file; ConfigError if it is empty or unreadable."""
    try:
        value = path.read_text("ascii").strip()
    except FileNotFoundError:
        return None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied: the secret files must be readable by the user Porth "
                          f"runs as (uid {os.getuid()}; `porth secrets create --owner UID`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the secret file: {exc}") from None
    if not value:
        raise ConfigError(f"{path}: secret file is empty; delete it to generate a new one")
    return SecretStr(value)


def with_secrets(settings: Settings) -> Settings:
    """The settings with every missing text secret filled from the secrets folder: generated into
    var/secrets on first run or, from a read-only PORTH_SECRETS__DIR, only read (one it lacks
    stays unset, and secret_value() says so when it is used)."""
    directory = settings.secrets_dir
    if settings.secrets_read_only:
        if not directory.is_dir():
            raise ConfigError(f"{ENV_PREFIX}SECRETS__DIR: no such folder: {directory}")

        def obtain(name: str) -> SecretStr | None:
            return _read_secret(directory / name)
    else:
        def obtain(name: str) -> SecretStr | None:
            return _read_or_create_secret(directory, name)

    secrets_section = settings.secrets
    filled = {
        name: getattr(secrets_section, name) or obtain(name)
        for name, (section, _field) in _SETTING_OF.items() if section == "secrets"
    }
    ldap = settings.ldap
    if ldap.bind_password is None:
        password = obtain("ldap_bind_password")
        if password is None and ldap.embedded:  # the private slapd is configured with it: needed at once
            secret_path(settings, "ldap_bind_password")
        ldap = ldap.model_copy(update={"bind_password": password})
    return settings.model_copy(
        update={"secrets": secrets_section.model_copy(update=filled), "ldap": ldap}
    )


def settings_from_environment() -> Settings:
    """What every entry point calls: load, validate, fill secrets."""
    return with_secrets(load_settings())


def secret_value(secret: SecretStr | None, name: str) -> str:
    """A secret the settings hold, for the code that uses it (`name` as "secrets.upn_hash_key").
    Unset here: the settings skipped with_secrets(), or a read-only secrets folder lacks its file."""
    if secret is None:
        file = next((file for file, setting in _SETTING_OF.items() if ".".join(setting) == name), None)
        if file is None:
            raise ConfigError(f"{name} is not set (the settings did not pass through with_secrets)")
        setting = ENV_PREFIX + "__".join(part.upper() for part in _SETTING_OF[file])
        raise ConfigError(f"{name} is not set: give it as {setting} or as the file {file} in the "
                          f"secrets folder ({ENV_PREFIX}SECRETS__DIR lacks it: this service was not given it)")
    return secret.get_secret_value()
