"""The encrypted reveal copy of a password (SPEC A-4).

Only passwords set by an administrator, a generator or the system are kept,
encrypted with Fernet (AES-128-CBC + HMAC-SHA256, authenticated) under the
password-vault key from settings. The directory holds only the token; the
cleartext exists only in memory while it is shown.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class VaultError(ValueError):
    """A reveal copy that cannot be opened with this key (wrong key or tampered)."""


class PasswordVault:
    def __init__(self, key: str | bytes):
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise VaultError("the password-vault key is not a valid Fernet key") from exc

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode("ascii")

    def seal(self, password: str) -> str:
        return self._fernet.encrypt(password.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise VaultError("the stored password copy cannot be decrypted with this key") from exc

    def __repr__(self) -> str:
        return "PasswordVault(<key hidden>)"
