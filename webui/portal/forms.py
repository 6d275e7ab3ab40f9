"""What the portal's forms share: the password policy's messages in the reader's language, the
Generate buttons, the checks of a forename and surname, the expiry choices (SPEC A-3, L-1)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from directory.rules import passwords
from directory.rules.lifecycle import ExpiryChoice

MAX_SELECTED = 2000  # a whole secondary school's learners at most, in one go

POLICY_MESSAGES = {
    f"must be at least {passwords.MIN_LENGTH} characters": _l("Enter a password of at least %(n)d characters",
                                                               n=passwords.MIN_LENGTH),
    f"must be at most {passwords.MAX_LENGTH} characters": _l("Enter a password of at most %(n)d characters",
                                                              n=passwords.MAX_LENGTH),
    "must contain an upper-case letter": _l("The password must contain an upper-case letter"),
    "must contain a lower-case letter": _l("The password must contain a lower-case letter"),
    "must contain a digit": _l("The password must contain a number"),
    "must not contain tabs, line breaks or NUL": _l("The password must not contain tabs or line breaks"),
}

EXPIRY_LABELS = {
    ExpiryChoice.ONE_MONTH: _l("1 month"),
    ExpiryChoice.THREE_MONTHS: _l("3 months"),
    ExpiryChoice.SIX_MONTHS: _l("6 months"),
    ExpiryChoice.END_OF_ACADEMIC_YEAR: _l("End of the academic year (31 August)"),
}


def policy_errors(password: str) -> list[str]:
    """What is wrong with a typed password (A-3), in the reader's language; none: it will do."""
    return [str(POLICY_MESSAGES.get(problem, problem)) for problem in passwords.policy_problems(password)]


def generated_password(button: str | None) -> str | None:
    """The password a Generate button asked for: `learner` (words) or `password`; None for any other."""
    if button == "learner":
        return passwords.generate_learner_password()
    if button == "password":
        return passwords.generate_password()
    return None


def name_errors(form: dict) -> dict[str, str]:
    """A forename and a surname, each at most 64 characters."""
    errors: dict[str, str] = {}
    for field, message in (("forename", _("Enter a forename")), ("surname", _("Enter a surname"))):
        if not form[field]:
            errors[field] = message
        elif len(form[field]) > 64:
            errors[field] = _("Use at most 64 characters")
    return errors


def expiry_choice(value: str | None) -> ExpiryChoice | None:
    """One of the offered expiry periods, or None."""
    return ExpiryChoice(value) if value in {c.value for c in ExpiryChoice} else None
