"""What the portal's forms share: the password policy's messages in the reader's language, the
Generate buttons, the checks of a forename and surname, the expiry choices (SPEC A-3, L-1)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from directory.rules import names, passwords
from directory.rules.lifecycle import ExpiryChoice
from directory.rules.usernames import fold_to_ascii_letters

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
    "must not start with = + - or @": _l("The password must not start with = + - or @"),
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


# What is wrong with a typed forename or surname (directory/rules/names.py), in the reader's language.
NAME_MESSAGES = {
    "forename": {
        "required": _l("Enter a forename"),
        names.NO_LETTER: _l("The forename must contain a letter"),
        names.CONTROL_CHARACTERS: _l("The forename must not contain control characters"),
        names.NONCHARACTERS: _l("The forename contains code points that are not characters, such as U+FFFE: "
                                "type it again"),
        "username": _l("The forename needs a letter from A to Z (accents are fine) to make a username from"),
    },
    "surname": {
        "required": _l("Enter a surname"),
        names.NO_LETTER: _l("The surname must contain a letter"),
        names.CONTROL_CHARACTERS: _l("The surname must not contain control characters"),
        names.NONCHARACTERS: _l("The surname contains code points that are not characters, such as U+FFFE: "
                                "type it again"),
        "username": _l("The surname needs a letter from A to Z (accents are fine) to make a username from"),
    },
}
MAX_NAME_LENGTH = 64  # the message below says so


def name_errors(form: dict, makes_username: bool = False) -> dict[str, str]:
    """A forename and a surname, each a name (directory/rules/names.py) of at most 64 characters; when a
    username is made from them (a new account, Generate New Username), one it can be made from (A-2).
    Never raises: every name a person can type is an answer on the form, not a 500."""
    errors: dict[str, str] = {}
    for field in ("forename", "surname"):
        messages = NAME_MESSAGES[field]
        problem = names.name_problem(form[field]) if form[field] else "required"
        if problem:
            errors[field] = str(messages[problem])
        elif len(form[field]) > MAX_NAME_LENGTH:
            errors[field] = _("Use at most 64 characters")
        elif makes_username and not fold_to_ascii_letters(form[field]):
            # usernames.username_base would refuse it (and its message quotes the name, for no log)
            errors[field] = str(messages["username"])
    return errors


def expiry_choice(value: str | None) -> ExpiryChoice | None:
    """One of the offered expiry periods, or None."""
    return ExpiryChoice(value) if value in {c.value for c in ExpiryChoice} else None
