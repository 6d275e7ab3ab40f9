"""Services' metadata from a signed aggregate (a federation's, or an LA's own), trusted only as far
as its signature and its validity go (saml2int SDP-MD02, SDP-MD03; docs/sign-in.md "Metadata trust").

- The aggregate (a file or an https URL, `PORTH_IDP__AGGREGATE__SOURCE`) must carry an enveloped
  signature over its root element that verifies with the configured certificate
  (`PORTH_IDP__AGGREGATE__CERTIFICATE_FILE`); an unsigned one, or one signed by another key, is
  never loaded. The certificate is the trust anchor: its dates are not checked, the aggregate's
  validUntil is what limits how long a copy is believed (SAML V2.0 Metadata Interoperability).
- Its root must have a validUntil, in the future and no further ahead than `max_validity_days`
  (SDP-MD03). Entities inside with their own validUntil in the past are left out.
- Each web process refreshes it by itself, in a background thread, every `refresh_minutes`. A copy
  that fails any check is logged and ignored, and the last good copy stays in use, until its own
  validUntil passes. The last good copy is kept on disk (var/metadata/) so a restart while the
  source is unreachable still has the services; it is verified again when read back. Each node
  of a deployment does the same on its own, so no node depends on another (or on the scheduler)
  to see the federation's services.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from cryptography import x509
from lxml import etree
from signxml import XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.verifier import SignatureConfiguration

from idp.saml_xml import DS, MD, XmlRefused, parse, parse_instant, q
from idp.services import ServiceConfigError, service_parts

log = logging.getLogger("porth.idp.metadata")


class AggregateRefused(ValueError):
    """An aggregate that is not loaded; str() says why in one line."""


@dataclass(frozen=True)
class TrustedServices:
    """What one verified aggregate holds: each service's metadata parts, by entityID."""

    services: dict[str, dict]
    valid_until: datetime
    left_out: tuple[str, ...] = ()


def verify_aggregate(document: bytes, anchor: x509.Certificate, now: datetime, max_validity: timedelta,
                     clock_skew: timedelta, limit: int) -> etree._Element:
    """The aggregate's root element as signed, or AggregateRefused. Only what the signature covers is
    returned: the caller reads nothing the federation did not sign."""
    try:
        root = parse(document, limit)
    except XmlRefused as exc:
        raise AggregateRefused(str(exc)) from None
    if root.tag not in (q(MD, "EntitiesDescriptor"), q(MD, "EntityDescriptor")):
        raise AggregateRefused("not SAML metadata (no EntitiesDescriptor)")
    if root.find(q(DS, "Signature")) is None:
        raise AggregateRefused("it is not signed; an aggregate must be (saml2int SDP-MD02)")
    # The anchor's own dates do not matter (see the module's docstring): check at a time within them.
    config = SignatureConfiguration(location="./", expect_references=1,
                                    verification_time=anchor.not_valid_before_utc)
    try:
        result = XMLVerifier().verify(root, x509_cert=anchor, expect_config=config)
    except (InvalidSignature, InvalidInput) as exc:
        raise AggregateRefused(f"its signature does not verify with the configured certificate ({exc})") from None
    signed = None if isinstance(result, list) else result.signed_xml
    if signed is None or signed.tag != root.tag or signed.get("ID") != root.get("ID"):
        raise AggregateRefused("the signature does not cover the whole aggregate")
    valid_until = parse_instant(signed.get("validUntil"))
    if valid_until is None:
        raise AggregateRefused("it has no validUntil (saml2int SDP-MD03)")
    if valid_until < now - clock_skew:
        raise AggregateRefused(f"it expired at {valid_until.isoformat()}")
    if valid_until > now + max_validity + clock_skew:
        raise AggregateRefused(f"it claims to be valid until {valid_until.isoformat()}, further ahead than the "
                               f"{max_validity.days} days allowed (saml2int SDP-MD03)")
    return signed


def services_in(root: etree._Element, source: str, now: datetime, clock_skew: timedelta) -> TrustedServices:
    """Every service (an EntityDescriptor with an SPSSODescriptor) of a verified aggregate; identity
    providers, expired entities and entities Porth cannot use are left out (and said why)."""
    valid_until = parse_instant(root.get("validUntil"))
    assert valid_until is not None  # noqa: S101 (verify_aggregate refused it otherwise)
    entities = [root] if root.tag == q(MD, "EntityDescriptor") else list(root.iter(q(MD, "EntityDescriptor")))
    services: dict[str, dict] = {}
    left_out: list[str] = []
    for entity in entities:
        if entity.find(q(MD, "SPSSODescriptor")) is None:
            continue
        entity_id = entity.get("entityID") or "?"
        own = _own_valid_until(entity)
        if own is not None and own < now - clock_skew:
            left_out.append(f"{entity_id}: expired at {own.isoformat()}")
            continue
        try:
            parts = service_parts(entity, f"{source} {entity_id}")
        except ServiceConfigError as exc:
            left_out.append(str(exc))
            continue
        if parts["entity_id"] in services:
            left_out.append(f"{entity_id}: listed twice; the first is kept")
            continue
        parts["ui_names"] = _display_names(entity)
        services[parts["entity_id"]] = parts
    return TrustedServices(services, valid_until, tuple(left_out))


def _own_valid_until(entity: etree._Element) -> datetime | None:
    """The earliest validUntil on the entity or an EntitiesDescriptor between it and the root."""
    moments = []
    element: etree._Element | None = entity
    while element is not None:
        moment = parse_instant(element.get("validUntil"))
        if moment is not None:
            moments.append(moment)
        element = element.getparent()
    return min(moments) if moments else None


MDUI = "urn:oasis:names:tc:SAML:metadata:ui"


def _display_names(entity: etree._Element) -> dict[str, str]:
    names: dict[str, str] = {}
    for element in entity.iterfind(f"{q(MD, 'SPSSODescriptor')}/{q(MD, 'Extensions')}/{q(MDUI, 'UIInfo')}/"
                                   f"{q(MDUI, 'DisplayName')}"):
        language = element.get("{http://www.w3.org/XML/1998/namespace}lang")
        if language in ("en", "cy") and element.text and element.text.strip():
            names.setdefault(language, element.text.strip())
    return names


@dataclass
class AggregateConfig:
    source: str  # a path or an https:// URL
    anchor: x509.Certificate
    cache_file: Path  # the last good copy
    refresh_every: timedelta
    max_validity: timedelta
    clock_skew: timedelta
    max_bytes: int


def read_source(source: str, max_bytes: int, timeout: float = 30.0) -> bytes:
    """The aggregate's bytes, from a file or over https (refused past max_bytes)."""
    if not source.startswith("https://"):
        with Path(source).open("rb") as handle:
            document = handle.read(max_bytes + 1)
    else:
        with requests.get(source, timeout=timeout, stream=True) as response:
            response.raise_for_status()
            chunks, size = [], 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    break
                chunks.append(chunk)
            document = b"".join(chunks) + (b"!" if size > max_bytes else b"")
    if len(document) > max_bytes:
        raise AggregateRefused(f"it is larger than {max_bytes} bytes")
    return document


@dataclass
class AggregateTrust:
    """The services of the configured aggregate: the last copy that passed every check, refreshed
    in the background. `version` changes whenever a new copy is taken (ServiceRegistry rebuilds then)."""

    config: AggregateConfig
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    fetch: Callable[[str, int], bytes] = read_source
    version: int = 0
    _trusted: TrustedServices | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _pid: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    refreshed: threading.Event = field(default_factory=threading.Event)  # set after each attempt (tests wait on it)

    def services(self) -> dict[str, dict]:
        """The aggregate's services now: none once the last good copy's validUntil has passed."""
        self._start_once()
        trusted = self._trusted
        if trusted is None:
            return {}
        if trusted.valid_until < self.clock() - self.config.clock_skew:
            return {}
        return trusted.services

    def refresh(self) -> bool:
        """Fetch, verify, take: True when a new copy is in use. Never raises: a bad copy is logged."""
        now = self.clock()
        source = self.config.source
        try:
            document = self.fetch(source, self.config.max_bytes)
            trusted = self._checked(document, now)
        except (AggregateRefused, OSError, requests.RequestException) as exc:
            kept = self._trusted
            log.error("metadata aggregate %s refused: %s; %s", source, exc,
                      f"keeping the copy valid until {kept.valid_until.isoformat()}" if kept
                      else "no services from it until a good copy arrives")
            self.refreshed.set()
            return False
        self._take(trusted, document)
        log.info("metadata aggregate %s: %d services, valid until %s (%d left out)", source,
                 len(trusted.services), trusted.valid_until.isoformat(), len(trusted.left_out))
        for reason in trusted.left_out:
            log.warning("aggregate service left out: %s", reason)
        self.refreshed.set()
        return True

    def load_cached(self) -> None:
        """The last good copy from disk, checked again as if it had just been fetched."""
        try:
            document = self.config.cache_file.read_bytes()
        except FileNotFoundError:
            return
        try:
            trusted = self._checked(document, self.clock())
        except AggregateRefused as exc:
            log.error("the kept copy of metadata aggregate %s is not used: %s", self.config.source, exc)
            return
        with self._lock:
            self._trusted, self.version = trusted, self.version + 1

    def stop(self) -> None:
        self._stop.set()

    def _checked(self, document: bytes, now: datetime) -> TrustedServices:
        root = verify_aggregate(document, self.config.anchor, now, self.config.max_validity,
                                self.config.clock_skew, self.config.max_bytes)
        return services_in(root, self.config.source, now, self.config.clock_skew)

    def _take(self, trusted: TrustedServices, document: bytes) -> None:
        with self._lock:
            self._trusted, self.version = trusted, self.version + 1
        cache = self.config.cache_file
        try:
            cache.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            draft = cache.with_name(f".{cache.name}.{os.getpid()}")
            draft.write_bytes(document)
            draft.replace(cache)  # atomic: a reader sees the old copy or the new one
        except OSError as exc:
            log.error("cannot keep a copy of metadata aggregate %s in %s: %s", self.config.source, cache, exc)

    def _start_once(self) -> None:
        """The refresher starts on first use in each process (gunicorn forks workers after loading the
        app: a thread started before the fork would not run in them)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="metadata-aggregate", daemon=True)
        self.load_cached()
        self._thread.start()

    def _run(self) -> None:
        interval = self.config.refresh_every.total_seconds()
        self.refresh()
        while not self._stop.wait(interval):
            self.refresh()
