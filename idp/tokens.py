"""Signed, timed values Porth hands to browsers: the session cookie and the IdP's tokens.

itsdangerous' URL-safe serializer tries zlib on every value it signs. For the few
hundred bytes of JSON Porth signs, compression took three quarters of the time to
sign a value (four values per sign-in) to save a few hundred bytes of a cookie or
URL. These serializers write values uncompressed; a value written compressed before
(marked by a leading '.') is still read.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.url_safe import URLSafeSerializerMixin


class UncompressedSerializer(URLSafeTimedSerializer):
    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(super(URLSafeSerializerMixin, self).dump_payload(obj))


_SERIALIZERS: dict[tuple[Any, ...], UncompressedSerializer] = {}


def serializer(secret_keys: str | bytes | list, salt: str, **options: Any) -> UncompressedSerializer:
    """One serializer per key set, salt and options, made once: each call signs anew."""
    keys = tuple(secret_keys) if isinstance(secret_keys, list) else (secret_keys,)
    cache_key = (keys, salt, tuple(sorted((k, repr(v)) for k, v in options.items())))
    made = _SERIALIZERS.get(cache_key)
    if made is None:
        made = _SERIALIZERS[cache_key] = UncompressedSerializer(list(keys), salt=salt, **options)
    return made
