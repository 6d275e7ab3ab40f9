"""Signed, timed values Porth hands to browsers: the IdP's tokens (sign-in, continuation, logout).

itsdangerous' URL-safe serializer tries zlib on every value it signs. For the few
hundred bytes of JSON Porth signs, compression took three quarters of the time to
sign a value (four values per sign-in) to save a few hundred bytes of a cookie or
URL. These serializers write values uncompressed; a value written compressed before
(marked by a leading '.') is still read.
"""

from __future__ import annotations

import functools
from typing import Any

from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.url_safe import URLSafeSerializerMixin


class UncompressedSerializer(URLSafeTimedSerializer):
    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(super(URLSafeSerializerMixin, self).dump_payload(obj))


@functools.cache
def serializer(keys: tuple[str | bytes, ...], salt: str, json: Any = None, key_derivation: str | None = None,
               digest_method: Any = None) -> UncompressedSerializer:
    """One serializer per key set (the newest last), salt and options, made once: each call signs anew."""
    signer_options = {"key_derivation": key_derivation, "digest_method": digest_method}
    # Flask's key and its fallbacks may mix str and bytes; itsdangerous encodes a str key as UTF-8.
    key_bytes = [key.encode("utf-8") if isinstance(key, str) else key for key in keys]
    return UncompressedSerializer(key_bytes, salt=salt, serializer=json,
                                  signer_kwargs={k: v for k, v in signer_options.items() if v is not None})
