"""What an AuthnRequest's RequestedAuthnContext asks of a sign-in, and which
AuthnContextClassRef the Response then says (issue 18 point 8; saml-core 3.3.2.2.1).

Porth knows two strengths of sign-in: a password over TLS (PasswordProtectedTransport,
and the weaker classes it meets) and a password with a second factor, which services
name by the REFEDS MFA profile or, Office 365, by Microsoft's multipleauthn claim.
Pure: the request's classes and comparison come in, a decision goes out.
"""

from __future__ import annotations

from enum import StrEnum

from idp.saml_xml import AUTHN_PASSWORD, AUTHN_PASSWORD_PROTECTED, AUTHN_UNSPECIFIED

REFEDS_MFA = "https://refeds.org/profile/mfa"
MICROSOFT_MULTIPLE_AUTHN = "http://schemas.microsoft.com/claims/multipleauthn"
SECOND_FACTOR_CONTEXTS = (REFEDS_MFA, MICROSOFT_MULTIPLE_AUTHN)
# How strong each class Porth can give is; a class not here is one Porth never gives.
_STRENGTH = {AUTHN_UNSPECIFIED: 0, AUTHN_PASSWORD: 1, AUTHN_PASSWORD_PROTECTED: 2,
             REFEDS_MFA: 3, MICROSOFT_MULTIPLE_AUTHN: 3}
_PASSWORD_STRENGTH = _STRENGTH[AUTHN_PASSWORD_PROTECTED]
_SECOND_FACTOR_STRENGTH = _STRENGTH[REFEDS_MFA]


class Need(StrEnum):
    PASSWORD = "password"  # noqa: S105 - a kind of sign-in, not a password
    SECOND_FACTOR = "second-factor"
    UNMET = "unmet"  # nothing Porth gives meets it: NoAuthnContext


def need(requested: tuple[str, ...], comparison: str) -> Need:
    """What the request needs: a password, a password and a second factor, or what Porth cannot give."""
    if not requested:
        return Need.PASSWORD
    known = [_STRENGTH[c] for c in requested if c in _STRENGTH]
    if not known:
        return Need.UNMET
    if comparison == "better":  # stronger than the weakest class named
        weakest = min(known)
        if weakest < _PASSWORD_STRENGTH:
            return Need.PASSWORD
        return Need.SECOND_FACTOR if weakest < _SECOND_FACTOR_STRENGTH else Need.UNMET
    if comparison == "maximum":  # no stronger than one named: a password is never too strong for a known class
        return Need.PASSWORD
    # exact (one of them) and minimum (at least as strong as one of them): the weakest one Porth gives
    return Need.PASSWORD if min(known) <= _PASSWORD_STRENGTH else Need.SECOND_FACTOR


def answered_context(requested: tuple[str, ...], comparison: str, second_factor: bool, service_context: str) -> str:
    """The AuthnContextClassRef of the Response: with a second factor, the MFA class the request
    named (else the service's own, `service_context`, where the comparison allows a stronger class
    than those named); without one, PasswordProtectedTransport, or the class named when only an
    exact match will do."""
    named_mfa = next((c for c in requested if c in SECOND_FACTOR_CONTEXTS), None)
    if second_factor:
        if named_mfa:
            return named_mfa
        if not requested or comparison in ("minimum", "better"):
            return service_context
    if comparison == "exact" and requested and AUTHN_PASSWORD_PROTECTED not in requested:
        weaker = next((c for c in requested if c in _STRENGTH and _STRENGTH[c] <= _PASSWORD_STRENGTH), None)
        if weaker:
            return weaker
    return AUTHN_PASSWORD_PROTECTED
