"""Second factors checked and enrolled (issue 18 points 6-9): authenticator apps (TOTP, pyotp)
and security keys or passkeys (WebAuthn, the webauthn library), and one-time recovery codes.

The IdP asks for a factor after the password (idp/views.py) and the portal's My Profile
enrols them (webui/portal/factors.py); both come here. A TOTP secret is sealed with the
password-vault key (directory/rules/vault.py) before it is stored; a recovery code is kept as a
keyed hash. Every refusal, whatever its reason (a wrong code, a code used already, an assertion
from another origin or with a counter that went back), is the same `False` to the caller, which
shows one message: the reason goes to the log only, by account id."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from directory.model import Account
from directory.rules.vault import PasswordVault, VaultError
from idp import second_factor_rules as rules
from operational.second_factors import TOTP, WEBAUTHN, Factor, SecondFactors

log = logging.getLogger("porth.idp")

MAX_CREDENTIAL_JSON = 64 * 1024  # a credential is a few kB; anything larger is not one


def json_for_page(text: str) -> str:
    """JSON safe inside a page's <script type="application/json">: no `<` to end the element early
    (a display name is the person's, and may hold anything)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@dataclass(frozen=True)
class RelyingParty:
    """Porth as WebAuthn sees it: the RP ID is the public host name, the origin the public URL's."""

    id: str
    name: str
    origin: str

    @classmethod
    def of(cls, base_url: str, name: str) -> RelyingParty:
        url = urlsplit(base_url)
        return cls(id=url.hostname or "localhost", name=name, origin=f"{url.scheme}://{url.netloc}")


@dataclass(frozen=True)
class Used:
    """A second factor that was accepted: which one, and whether it was a recovery code."""

    factor_id: int | None
    kind: str  # totp, webauthn or recovery-code
    label: str
    recovery_codes_left: int | None = None


class SecondFactorChecks:
    def __init__(self, store: SecondFactors, vault: PasswordVault, recovery_key: bytes, party: RelyingParty,
                 recovery_count: int):
        self.store = store
        self._vault = vault
        self._recovery_key = recovery_key
        self.party = party
        self.recovery_count = recovery_count

    # -- at sign-in --------------------------------------------------------------------
    def check_code(self, account: Account, typed: str, now: datetime) -> Used | None:
        """A code from one of the account's authenticator apps, accepted once."""
        for factor in self.store.factors_of(account.id):
            if factor.kind != TOTP or not factor.totp_secret_sealed:
                continue
            secret = self._secret(factor)
            step = rules.accepted_step(secret, typed, now, None) if secret else None
            if step is None:
                continue
            if step <= (factor.last_time_step or -1) or not self.store.accept_time_step(factor.id, step, now):
                log.info("second factor refused: account %s, a code already used (factor %s)", account.id, factor.id)
                return None
            return Used(factor.id, TOTP, factor.label)
        log.info("second factor refused: account %s, a wrong code", account.id)
        return None

    def check_recovery_code(self, account: Account, typed: str, now: datetime) -> Used | None:
        if not typed.strip() or not self.store.use_recovery_code(
                account.id, rules.recovery_code_hash(self._recovery_key, typed), now):
            log.info("recovery code refused: account %s", account.id)
            return None
        return Used(None, "recovery-code", "", self.store.recovery_codes_left(account.id))

    def authentication_options(self, account: Account) -> tuple[str, str]:
        """The options navigator.credentials.get() is given (JSON) and their challenge (base64url,
        kept in the browser's server-side session until the answer comes back)."""
        keys = [PublicKeyCredentialDescriptor(id=base64url_to_bytes(f.credential_id))
                for f in self.store.factors_of(account.id) if f.kind == WEBAUTHN and f.credential_id]
        options = generate_authentication_options(rp_id=self.party.id, allow_credentials=keys,
                                                  user_verification=UserVerificationRequirement.DISCOURAGED)
        return json_for_page(options_to_json(options)), bytes_to_base64url(options.challenge)

    def check_assertion(self, account: Account, credential_json: str, challenge: str, now: datetime) -> Used | None:
        """A security key's answer to the challenge: signed by a key of this account's, for Porth's
        origin, with a signature counter that moved on."""
        factor = self._asserted_factor(account, credential_json)
        if factor is None or not challenge:
            return None
        try:
            verified = verify_authentication_response(
                credential=credential_json, expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=self.party.id, expected_origin=self.party.origin,
                credential_public_key=base64url_to_bytes(factor.public_key or ""),
                credential_current_sign_count=factor.sign_count)
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            log.info("security key refused: account %s, factor %s: %s", account.id, factor.id, type(exc).__name__)
            log.debug("security key refused: %s", exc)
            return None
        if not self.store.accept_sign_count(factor.id, factor.sign_count, verified.new_sign_count, now):
            log.info("security key refused: account %s, factor %s used at the same moment", account.id, factor.id)
            return None
        return Used(factor.id, WEBAUTHN, factor.label)

    def _asserted_factor(self, account: Account, credential_json: str) -> Factor | None:
        if not credential_json or len(credential_json) > MAX_CREDENTIAL_JSON:
            return None
        try:
            credential_id = json.loads(credential_json)["rawId"]
        except (ValueError, KeyError, TypeError):
            return None
        factor = self.store.by_credential(str(credential_id))
        if factor is None or factor.account_id != account.id:
            log.info("security key refused: account %s, a key not enrolled for it", account.id)
            return None
        return factor

    def _secret(self, factor: Factor) -> str | None:
        try:
            return self._vault.open(factor.totp_secret_sealed or "")
        except VaultError:
            log.error("second factor %s: its TOTP secret cannot be opened with this password-vault key", factor.id)
            return None

    # -- enrolling (My Profile) ----------------------------------------------------------
    def totp_uri(self, account: Account, secret: str) -> str:
        return rules.totp_uri(secret, account.mail or account.username, self.party.name)

    def enrol_totp(self, account: Account, label: str, secret: str, typed: str, now: datetime) -> int | None:
        """The new app's secret, kept once the person has typed a code it made (so it is set up right)."""
        step = rules.accepted_step(secret, typed, now, None)
        if step is None:
            return None
        return self.store.add_totp(account.id, label, self._vault.seal(secret), step, now)

    def registration_options(self, account: Account) -> tuple[str, str]:
        """navigator.credentials.create()'s options (JSON) and their challenge (base64url)."""
        existing = [PublicKeyCredentialDescriptor(id=base64url_to_bytes(f.credential_id))
                    for f in self.store.factors_of(account.id) if f.kind == WEBAUTHN and f.credential_id]
        options = generate_registration_options(
            rp_id=self.party.id, rp_name=self.party.name, user_name=account.mail or account.username,
            user_id=account.id.encode("utf-8"), user_display_name=account.display_name,
            exclude_credentials=existing,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.DISCOURAGED))
        return json_for_page(options_to_json(options)), bytes_to_base64url(options.challenge)

    def enrol_security_key(self, account: Account, label: str, credential_json: str, challenge: str,
                           now: datetime) -> int | None:
        if not credential_json or len(credential_json) > MAX_CREDENTIAL_JSON or not challenge:
            return None
        try:
            verified = verify_registration_response(
                credential=credential_json, expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=self.party.id, expected_origin=self.party.origin)
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            log.info("security key enrolment refused: account %s: %s", account.id, type(exc).__name__)
            return None
        credential_id = bytes_to_base64url(verified.credential_id)
        if self.store.by_credential(credential_id) is not None:
            return None
        return self.store.add_webauthn(account.id, label, credential_id,
                                       bytes_to_base64url(verified.credential_public_key), verified.sign_count, now)

    def new_recovery_codes(self, account: Account, now: datetime) -> list[str]:
        """Fresh one-time codes, shown once; the earlier ones stop working."""
        codes = rules.new_recovery_codes(self.recovery_count)
        self.store.replace_recovery_codes(account.id, [rules.recovery_code_hash(self._recovery_key, c) for c in codes],
                                          now)
        return codes
