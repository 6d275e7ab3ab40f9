"""The services (SAML service providers) Porth signs people in to.

Each service is a pair of files in the services folder
(`PORTH_IDP__SERVICES_DIR`, default `config/services/`):

- `NAME.xml`: the service's own SAML metadata, as the service publishes it;
- `NAME.toml`: Porth's policy for it (docs/sign-in.md): its category for
  consent (SPEC C-2), which NameID it gets, which attributes are released
  and under which names, whether SHA-1 signatures on its requests are
  accepted, whether it may be entered IdP-initiated, its name in English and
  Welsh.

A service without a `.toml` gets the narrowest policy: category
`additional`, a transient NameID (saml2int SDP-IDP12: new in every
assertion, so it tells the service nothing it could keep), no attributes. The folder is re-read
when a file in it changes, so a service is added or changed without a
restart. A file that cannot be read is logged and left out; the others
still work.
"""

from __future__ import annotations

import logging
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography import x509
from lxml import etree

from directory.rules.consent import ServiceCategory
from idp.attributes import (
    KNOWN_VALUES,
    NAME_FORMATS,
    SUBJECT_ID_REQUIREMENT,
    SUBJECT_ID_REQUIREMENTS,
    NamedAttribute,
    attribute_uri,
    with_required_identifiers,
)
from idp.authn_contexts import REFEDS_MFA, SECOND_FACTOR_CONTEXTS
from idp.saml_xml import BINDING_POST, BINDING_REDIRECT, DS, MD, SAML, XmlRefused, parse, q

log = logging.getLogger(__name__)

CATEGORIES = tuple(ServiceCategory)  # SPEC C-2
# `immutable-id`: the account's onPremisesImmutableId (directory/rules/cloud_identity.py) as a
# persistent NameID, the one Office 365 matches its users by (docs/microsoft365.md).
NAME_ID_CHOICES = ("persistent", "transient", "email", "immutable-id")
POLICY_SETTINGS = frozenset({"category", "name_id", "release", "attributes", "accept_sha1_request_signatures",
                             "accept_unsigned_logout_requests", "idp_initiated", "display_name", "entity_id",
                             "allow_badge", "mfa_context"})
MAX_METADATA_BYTES = 2 * 1024 * 1024
MDATTR = "urn:oasis:names:tc:SAML:metadata:attribute"


class ServiceConfigError(ValueError):
    """A service's files are not usable; str() names the file and the reason."""


@dataclass(frozen=True)
class Endpoint:
    binding: str
    location: str
    index: int | None = None
    is_default: bool | None = None
    response_location: str | None = None


@dataclass(frozen=True)
class Service:
    name: str
    entity_id: str
    assertion_consumers: tuple[Endpoint, ...]
    logout_endpoints: tuple[Endpoint, ...] = ()
    signing_certificates: tuple[x509.Certificate, ...] = ()
    encryption_certificates: tuple[x509.Certificate, ...] = ()
    authn_requests_signed: bool = False
    category: str = "additional"
    # saml2int SDP-IDP12: transient unless the policy (or the request's NameIDPolicy) asks otherwise.
    name_id: str = "transient"
    release: tuple[str, ...] = ()
    attributes: tuple[NamedAttribute, ...] = ()
    # Verify RSA-SHA1 signatures on this service's requests (Entra signs its AuthnRequests with
    # SHA-1 when a domain asks for signed requests); every other service's are refused.
    accept_sha1_request_signatures: bool = False
    # Take this service's unsigned LogoutRequests although its metadata has signing keys, bound to
    # the browser's session like a keyless service's (idp/logout_rules.py; docs/sign-in.md).
    accept_unsigned_logout_requests: bool = False
    idp_initiated: bool = False
    # Issue 18: may a learner sign in to it with a badge (docs/sign-in.md)? Off unless its policy
    # says so; the portal, built in, never does (R-6 asks for a password there).
    allow_badge: bool = False
    display_name: dict[str, str] = field(default_factory=dict)
    # The SubjectIdRequirement of the service's metadata (subject-id, pairwise-id, any, none), already
    # applied to `release` (idp.attributes.with_required_identifiers).
    subject_id_requirement: str | None = None
    # Issue 18 point 8: the AuthnContextClassRef that says a second factor was used, when the
    # request named none (REFEDS MFA; Office 365 reads Microsoft's multipleauthn).
    mfa_context: str = REFEDS_MFA

    def title(self, language: str) -> str:
        return self.display_name.get(language) or self.display_name.get("en") or self.name

    def consumer_for(self, url: str | None, index: int | None) -> Endpoint | None:
        """The HTTP-POST AssertionConsumerService a Response may go to (saml2int):
        the requested URL only if listed (exactly, case-sensitive), the requested
        index, or the default; never a URL the metadata does not list."""
        post = [e for e in self.assertion_consumers if e.binding == BINDING_POST]
        if url is not None:
            return next((e for e in post if e.location == url), None)
        if index is not None:
            return next((e for e in post if e.index == index), None)
        return default_endpoint(post)

    def logout_endpoint(self) -> Endpoint | None:
        for binding in (BINDING_REDIRECT, BINDING_POST):
            found = [e for e in self.logout_endpoints if e.binding == binding]
            if found:
                return found[0]
        return None


def default_endpoint(endpoints: list[Endpoint]) -> Endpoint | None:
    if not endpoints:
        return None
    marked = [e for e in endpoints if e.is_default]
    if marked:
        return marked[0]
    unmarked = [e for e in endpoints if e.is_default is None]
    return min(unmarked or endpoints, key=lambda e: e.index if e.index is not None else 0)


def _certificate(element: etree._Element, source: str) -> x509.Certificate:
    text = "".join((element.text or "").split())
    pem = "-----BEGIN CERTIFICATE-----\n" + text + "\n-----END CERTIFICATE-----\n"
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError:
        raise ServiceConfigError(f"{source}: a KeyDescriptor holds a certificate that does not parse") from None


def _endpoint(element: etree._Element, source: str) -> Endpoint:
    location = element.get("Location")
    binding = element.get("Binding")
    if not location or not binding:
        raise ServiceConfigError(f"{source}: an endpoint lacks Binding or Location")
    index = element.get("index")
    default = element.get("isDefault")
    return Endpoint(binding=binding, location=location, index=int(index) if index and index.isdigit() else None,
                    is_default=None if default is None else default in ("true", "1"),
                    response_location=element.get("ResponseLocation"))


def read_metadata(document: bytes, source: str) -> dict:
    """The SP parts of a metadata file (an EntityDescriptor with one SPSSODescriptor)."""
    try:
        root = parse(document, MAX_METADATA_BYTES)
    except XmlRefused as exc:
        raise ServiceConfigError(f"{source}: {exc}") from None
    if root.tag == q(MD, "EntitiesDescriptor"):
        entities = root.findall(q(MD, "EntityDescriptor"))
        if len(entities) != 1:
            raise ServiceConfigError(f"{source}: holds {len(entities)} entities; put one service per file")
        root = entities[0]
    if root.tag != q(MD, "EntityDescriptor"):
        raise ServiceConfigError(f"{source}: not SAML metadata (no EntityDescriptor)")
    return service_parts(root, source)


def subject_id_requirement(entity: etree._Element) -> str | None:
    """The SubjectIdRequirement entity attribute (SAML V2.0 Subject Identifier Attributes Profile 2.4),
    if the metadata states one the profile defines."""
    for attribute in entity.iterfind(f"{q(MD, 'Extensions')}/{q(MDATTR, 'EntityAttributes')}/{q(SAML, 'Attribute')}"):
        if attribute.get("Name") == SUBJECT_ID_REQUIREMENT:
            values = [(v.text or "").strip() for v in attribute.iterfind(q(SAML, "AttributeValue"))]
            return next((v for v in values if v in SUBJECT_ID_REQUIREMENTS), None)
    return None


def service_parts(root: etree._Element, source: str) -> dict:
    """What Porth takes from one service's EntityDescriptor (a file of its own or one entity of an aggregate)."""
    entity_id = root.get("entityID")
    sp = root.find(q(MD, "SPSSODescriptor"))
    if not entity_id or sp is None:
        raise ServiceConfigError(f"{source}: no entityID or no SPSSODescriptor")
    signing, encryption = [], []
    for descriptor in sp.findall(q(MD, "KeyDescriptor")):
        use = descriptor.get("use")
        for cert in descriptor.iterfind(f".//{q(DS, 'X509Certificate')}"):
            parsed = _certificate(cert, source)
            if use in (None, "signing"):
                signing.append(parsed)
            if use in (None, "encryption"):
                encryption.append(parsed)
    consumers = tuple(_endpoint(e, source) for e in sp.findall(q(MD, "AssertionConsumerService")))
    if not any(e.binding == BINDING_POST for e in consumers):
        raise ServiceConfigError(f"{source}: no AssertionConsumerService with the HTTP-POST binding")
    return {
        "entity_id": entity_id,
        "assertion_consumers": consumers,
        "logout_endpoints": tuple(_endpoint(e, source) for e in sp.findall(q(MD, "SingleLogoutService"))),
        "signing_certificates": tuple(signing),
        "encryption_certificates": tuple(encryption),
        "authn_requests_signed": sp.get("AuthnRequestsSigned") in ("true", "1"),
        "subject_id_requirement": subject_id_requirement(root),
    }


def read_policy(text: str, source: str, known_attributes: frozenset[str]) -> dict:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ServiceConfigError(f"{source}: {exc}") from None
    unknown = set(raw) - POLICY_SETTINGS
    if unknown:
        raise ServiceConfigError(f"{source}: unknown setting {min(unknown)!r}")
    policy: dict = {}
    if "category" in raw:
        if raw["category"] not in CATEGORIES:
            raise ServiceConfigError(f"{source}: category must be one of {', '.join(CATEGORIES)}")
        policy["category"] = raw["category"]
    if "name_id" in raw:
        if raw["name_id"] not in NAME_ID_CHOICES:
            raise ServiceConfigError(f"{source}: name_id must be one of {', '.join(NAME_ID_CHOICES)}")
        policy["name_id"] = raw["name_id"]
    if "release" in raw:
        release = raw["release"]
        if not isinstance(release, list) or not all(isinstance(a, str) for a in release):
            raise ServiceConfigError(f"{source}: release must be a list of attribute names")
        wrong = [a for a in release if a not in known_attributes]
        if wrong:
            raise ServiceConfigError(f"{source}: release names an unknown attribute {wrong[0]!r} "
                                     f"(known: {', '.join(sorted(known_attributes))})")
        policy["release"] = tuple(release)
    if "attributes" in raw:
        policy["attributes"] = _named_attributes(raw["attributes"], source, policy.get("release", ()))
    for switch in ("accept_sha1_request_signatures", "accept_unsigned_logout_requests", "idp_initiated",
                   "allow_badge"):
        if switch in raw:
            if not isinstance(raw[switch], bool):
                raise ServiceConfigError(f"{source}: {switch} must be true or false")
            policy[switch] = raw[switch]
    if "mfa_context" in raw:
        if raw["mfa_context"] not in SECOND_FACTOR_CONTEXTS:
            raise ServiceConfigError(f"{source}: mfa_context must be one of {', '.join(SECOND_FACTOR_CONTEXTS)}")
        policy["mfa_context"] = raw["mfa_context"]
    if "display_name" in raw:
        names = raw["display_name"]
        if not isinstance(names, dict):
            raise ServiceConfigError(f"{source}: display_name must be a table (en = ..., cy = ...)")
        policy["display_name"] = {str(k): str(v) for k, v in names.items()}
    if "entity_id" in raw:
        if not isinstance(raw["entity_id"], str) or not raw["entity_id"]:
            raise ServiceConfigError(f"{source}: entity_id must be the entityID of a service in the aggregate")
        policy["entity_id"] = raw["entity_id"]
    return policy


def _named_attributes(table: object, source: str, release: tuple[str, ...]) -> tuple[NamedAttribute, ...]:
    """`[attributes]`: `NAME = { value = "...", name_format = "uri" | "basic" | "unspecified" }`;
    without a name_format, `unspecified` (saml-core 2.7.3.1: what an Attribute without one means)."""
    if not isinstance(table, dict):
        raise ServiceConfigError(f"{source}: attributes must be a table (NAME = {{ value = ... }})")
    released_names = {attribute_uri(name) for name in release}
    named = []
    for name, entry in table.items():
        where = f"{source}: attribute {name!r}"
        if not isinstance(entry, dict) or "value" not in entry:
            raise ServiceConfigError(f"{where} needs a table with a value (e.g. {{ value = \"upn\" }})")
        unknown = set(entry) - {"value", "name_format"}
        if unknown:
            raise ServiceConfigError(f"{where}: unknown setting {min(unknown)!r}")
        if entry["value"] not in KNOWN_VALUES:
            raise ServiceConfigError(f"{where}: unknown value {entry['value']!r} "
                                     f"(known: {', '.join(sorted(KNOWN_VALUES))})")
        name_format = entry.get("name_format", "unspecified")
        if name_format not in NAME_FORMATS:
            raise ServiceConfigError(f"{where}: name_format must be one of {', '.join(NAME_FORMATS)}")
        if name in released_names:
            raise ServiceConfigError(f"{where} is already sent by the release list")
        named.append(NamedAttribute(name=name, value=entry["value"], name_format=NAME_FORMATS[name_format]))
    return tuple(named)


def load_service(metadata_file: Path, known_attributes: frozenset[str]) -> Service:
    metadata = read_metadata(metadata_file.read_bytes(), metadata_file.name)
    policy_file = metadata_file.with_suffix(".toml")
    policy = read_policy(policy_file.read_text("utf-8"), policy_file.name, known_attributes) \
        if policy_file.exists() else {}
    if "entity_id" in policy:
        raise ServiceConfigError(f"{policy_file.name}: entity_id is only for the policy of a service whose metadata "
                                 f"comes from the aggregate (a .toml without a .xml); {metadata_file.name} says it")
    return make_service(metadata_file.stem, metadata, policy)


def make_service(name: str, metadata: dict, policy: dict) -> Service:
    """The service: its metadata, its policy, and the subject identifier its metadata requires
    added to what the policy releases (saml2int SDP-MD01, SDP-IDP15: the metadata decides it)."""
    release = with_required_identifiers(policy.get("release", ()), metadata.get("subject_id_requirement"))
    return Service(name=name, **metadata, **{**policy, "release": release})


class AggregateServices(Protocol):
    """Services' metadata from a verified aggregate (idp.metadata_trust.AggregateTrust)."""

    version: int

    def services(self) -> dict[str, dict]: ...


class ServiceRegistry:
    """The services in a folder, re-read when the folder's files change (checked at most once a second),
    and those of the signed aggregate, if one is configured (a service in both: the folder's is used)."""

    def __init__(self, folder: Path, known_attributes: frozenset[str], check_every: float = 1.0,
                 aggregate: AggregateServices | None = None):
        self.aggregate = aggregate
        self.folder = folder
        self.known_attributes = known_attributes
        self.check_every = check_every
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._checked_at = 0.0
        self._by_entity_id: dict[str, Service] = {}
        self._built_in: dict[str, Service] = {}
        self.problems: list[str] = []

    def add_built_in(self, service: Service) -> None:
        """A service that is part of Porth itself (the portal): always registered, whatever the folder holds."""
        with self._lock:
            self._built_in[service.entity_id] = service
            self._signature = None  # merge it on the next look-up

    def _folder_signature(self) -> tuple:
        try:
            return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                                for p in self.folder.iterdir() if p.suffix in (".xml", ".toml")))
        except FileNotFoundError:
            return ()

    def _reload_if_changed(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < self.check_every and self._signature is not None:
            return
        with self._lock:
            self._checked_at = now
            from_aggregate = self.aggregate.services() if self.aggregate is not None else {}
            signature = (self._folder_signature(), self.aggregate.version if self.aggregate else 0,
                         len(from_aggregate))
            if signature == self._signature:
                return
            services: dict[str, Service] = dict(self._built_in)
            problems: list[str] = []
            for metadata_file in sorted(self.folder.glob("*.xml")) if self.folder.exists() else []:
                try:
                    service = load_service(metadata_file, self.known_attributes)
                except (ServiceConfigError, OSError) as exc:
                    problems.append(str(exc))
                    log.error("service left out: %s", exc)
                    continue
                if service.entity_id in services:
                    holder = services[service.entity_id].name
                    problems.append(f"{metadata_file.name}: entityID {service.entity_id} is already registered "
                                    f"by {'Porth itself' if service.entity_id in self._built_in else holder + '.xml'}")
                    log.error("service left out: %s", problems[-1])
                    continue
                services[service.entity_id] = service
            self._merge_aggregate(services, from_aggregate, problems)
            self._by_entity_id, self.problems, self._signature = services, problems, signature
            log.info("services loaded from %s: %d (%d left out)", self.folder, len(services), len(problems))

    def _aggregate_policies(self, problems: list[str]) -> dict[str, tuple[str, dict]]:
        """Policies for services of the aggregate: a NAME.toml without NAME.xml, naming the entity_id."""
        policies: dict[str, tuple[str, dict]] = {}
        for policy_file in sorted(self.folder.glob("*.toml")) if self.folder.exists() else []:
            if policy_file.with_suffix(".xml").exists():
                continue
            try:
                policy = read_policy(policy_file.read_text("utf-8"), policy_file.name, self.known_attributes)
            except (ServiceConfigError, OSError) as exc:
                problems.append(str(exc))
                log.error("policy left out: %s", exc)
                continue
            if "entity_id" in policy:
                policies[policy.pop("entity_id")] = (policy_file.stem, policy)
        return policies

    def _merge_aggregate(self, services: dict[str, Service], from_aggregate: dict[str, dict],
                         problems: list[str]) -> None:
        """The aggregate's services after the folder's: an entity the folder (or Porth itself) registers
        keeps the folder's metadata and policy, the administrator's own decision."""
        policies = self._aggregate_policies(problems)
        for entity_id, parts in from_aggregate.items():
            if entity_id in services:
                log.info("aggregate service %s is registered locally as %s: the local one is used",
                         entity_id, services[entity_id].name)
                continue
            metadata = {key: value for key, value in parts.items() if key != "ui_names"}
            name, policy = policies.get(entity_id, (entity_id, {}))
            policy = {"display_name": parts.get("ui_names", {}), **policy}
            services[entity_id] = make_service(name, metadata, policy)

    def get(self, entity_id: str) -> Service | None:
        self._reload_if_changed()
        return self._by_entity_id.get(entity_id)

    def all(self) -> list[Service]:
        self._reload_if_changed()
        return sorted(self._by_entity_id.values(), key=lambda s: s.name)
