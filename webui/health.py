"""Liveness and readiness, for a load balancer and a container's health check (issue 17 point 4).

`/livez` says only that this process answers requests: restarting it is the cure for a no.
`/readyz` says whether a sign-in could succeed here now: the directory answers a cheap read, the
operational database a `SELECT 1`, and the IdP's signing key is loaded and usable. A load balancer
sends no one to a node that is not ready, and a node whose database is gone is not ready even if
its directory is (issue 17: `/healthz` answered 200 while every sign-in failed).

The body names each part and its state, never why it failed in detail (a URL, a DN, a driver's
message): anyone who can reach the node can read it. The detail goes to the log, one WARNING line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import text

from directory.store import DirectoryStore
from idp.signing import SigningKey
from operational.db import Database

log = logging.getLogger("porth.health")

OK = "ok"
FAILING = "failing"


def check_directory(store: DirectoryStore) -> None:
    store.check()  # binds and reads the base entry


def check_database(db: Database) -> None:
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


class SigningKeyUnusable(Exception):
    pass


def check_signing_key(key: SigningKey, now: datetime | None = None) -> None:
    """The key signs and its certificate verifies the signature, and the certificate is in date:
    services refuse a Response signed otherwise, so a node with such a key signs no one in."""
    now = now or datetime.now(UTC)
    certificate = key.certificate
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SigningKeyUnusable(f"the IdP signing certificate is valid from {certificate.not_valid_before_utc} "
                                 f"to {certificate.not_valid_after_utc}, not now")
    # One signature, checked with the certificate's key, as a service checks a Response's
    # (a millisecond: a load balancer asks every few seconds).
    probe = b"porth readiness"
    signature = key.private_key.sign(probe, padding.PKCS1v15(), hashes.SHA256())
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SigningKeyUnusable("the IdP signing certificate does not hold an RSA key")
    try:
        public_key.verify(signature, probe, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SigningKeyUnusable("the IdP signing certificate does not verify the key's signatures") from None


def readiness(checks: dict[str, Callable[[], None]]) -> tuple[dict[str, object], int]:
    """Run every check (all of them, so the body names every failing part) and say 200 or 503."""
    states: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - any failure of a part means it is not ready
            log.warning("not ready: %s failing: %s", name, str(exc).strip().splitlines()[0] if str(exc) else
                        type(exc).__name__)
            states[name] = FAILING
        else:
            states[name] = OK
    failing = [name for name, state in states.items() if state != OK]
    body: dict[str, object] = {"status": FAILING if failing else OK, "checks": states}
    if failing:
        body["failing"] = failing
    return body, 503 if failing else 200
