"""The two SAML bindings' encodings (saml-bindings 3.4, 3.5): decoding what
services send, encoding what Porth sends back, and the octets a
Redirect-binding signature covers."""

from __future__ import annotations

import base64
import binascii
import zlib
from urllib.parse import quote, unquote_plus

from idp.saml_xml import MAX_MESSAGE_BYTES

MAX_ENCODED_BYTES = 64 * 1024  # a query string or form field beyond this is not a SAML request


class BindingError(ValueError):
    """A message that cannot be decoded; str() says why in one line."""


def _base64(text: str | bytes) -> bytes:
    if len(text) > MAX_ENCODED_BYTES:
        raise BindingError("the SAML message is too large")
    try:
        return base64.b64decode(text, validate=False) if text else b""
    except (binascii.Error, ValueError):
        raise BindingError("the SAML message is not base64") from None


def decode_redirect(encoded: str) -> bytes:
    """base64, then raw DEFLATE, inflated no further than MAX_MESSAGE_BYTES (no zip bomb)."""
    compressed = _base64(encoded)
    if not compressed:
        raise BindingError("the SAML message is empty")
    inflater = zlib.decompressobj(-15)
    try:
        document = inflater.decompress(compressed, MAX_MESSAGE_BYTES + 1)
    except zlib.error:
        raise BindingError("the SAML message is not DEFLATE-compressed") from None
    if len(document) > MAX_MESSAGE_BYTES or inflater.unconsumed_tail:
        raise BindingError("the SAML message inflates beyond the size limit")
    return document


def decode_post(encoded: str) -> bytes:
    document = _base64(encoded.strip())
    if not document:
        raise BindingError("the SAML message is empty")
    return document


def encode_redirect(document: bytes) -> str:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(deflater.compress(document) + deflater.flush()).decode("ascii")


def encode_post(document: bytes) -> str:
    return base64.b64encode(document).decode("ascii")


def raw_query_values(query_string: bytes) -> dict[str, str]:
    """Each parameter's value exactly as it appears in the URL (still URL-encoded):
    a Redirect-binding signature covers these octets, not a re-encoding of them."""
    values: dict[str, str] = {}
    for part in query_string.decode("ascii", "replace").split("&"):
        name, _, value = part.partition("=")
        if name and name not in values:
            values[name] = value
    return values


def redirect_signed_octets(raw: dict[str, str], message_kind: str) -> bytes | None:
    """`SAMLRequest=..&RelayState=..&SigAlg=..` from the raw values, or None if unsigned."""
    if "Signature" not in raw or "SigAlg" not in raw or message_kind not in raw:
        return None
    parts = [f"{message_kind}={raw[message_kind]}"]
    if "RelayState" in raw:
        parts.append(f"RelayState={raw['RelayState']}")
    parts.append(f"SigAlg={raw['SigAlg']}")
    return "&".join(parts).encode("ascii")


def decoded(raw_value: str) -> str:
    return unquote_plus(raw_value)


def redirect_query(message_kind: str, document: bytes, relay_state: str | None) -> str:
    query = f"{message_kind}={quote(encode_redirect(document), safe='')}"
    if relay_state:
        query += f"&RelayState={quote(relay_state, safe='')}"
    return query
