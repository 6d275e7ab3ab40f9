"""A software WebAuthn authenticator (ES256, attestation "none"), for tests that need answers a
browser would never give: another origin, a signature counter that went back."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url


@dataclass
class SoftAuthenticator:
    rp_id: str
    origin: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    sign_count: int = 0

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def register(self, options_json: str) -> str:
        options = json.loads(options_json)
        attested = (bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose_key())
        auth_data = hashlib.sha256(self.rp_id.encode()).digest() + bytes([0x41]) + struct.pack(">I", self.sign_count) \
            + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        raw_id = bytes_to_base64url(self.credential_id)
        return json.dumps({"id": raw_id, "rawId": raw_id, "type": "public-key", "response": {
            "clientDataJSON": bytes_to_base64url(self._client_data("webauthn.create", options["challenge"], None)),
            "attestationObject": bytes_to_base64url(attestation)}})

    def answer(self, options_json: str, origin: str | None = None, count: int | None = None) -> str:
        options = json.loads(options_json)
        self.sign_count = self.sign_count + 1 if count is None else count
        auth_data = hashlib.sha256(self.rp_id.encode()).digest() + bytes([0x01]) + struct.pack(">I", self.sign_count)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        raw_id = bytes_to_base64url(self.credential_id)
        assert base64url_to_bytes(raw_id) == self.credential_id
        return json.dumps({"id": raw_id, "rawId": raw_id, "type": "public-key", "response": {
            "clientDataJSON": bytes_to_base64url(client_data), "authenticatorData": bytes_to_base64url(auth_data),
            "signature": bytes_to_base64url(signature)}})
