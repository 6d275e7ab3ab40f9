"""Second factors in My Profile, their reset by a higher administrator, and the rule that the
management area needs one of the roles that must give one (issue 18 points 6, 7).

    GET       /portal/profile/second-factors                 the person's factors and recovery codes
    GET/POST  /portal/profile/second-factors/app             enrol an authenticator app (QR code)
    GET/POST  /portal/profile/second-factors/security-key    enrol a security key or passkey (WebAuthn)
    GET/POST  /portal/profile/second-factors/<id>/remove     remove one (asked first: GET the question, POST
                                                             does it; the last one takes the recovery codes)
    GET/POST  /portal/profile/second-factors/recovery-codes  new recovery codes, the old ones stop working
                                                             (asked first, as removing is)
    GET/POST  /portal/accounts/<id>/second-factors/reset     a higher administrator resets a lost factor
                                                             (asked first: GET the question, POST does it)

The gate (`second_factor_gate`, run before every portal view): someone whose role must give a
second factor (PORTH_MFA__REQUIRED_ROLES) and whose portal sign-in gave none is sent to the IdP
for it when they have one, or else to enrol one (an administrator promoted without one enrols
at their next visit); nothing else of the portal opens until then.
"""

from __future__ import annotations

import segno
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from directory.model import Account
from idp import second_factor_rules
from idp.second_factors import SecondFactorChecks
from operational.second_factors import TOTP, WEBAUTHN, Factor
from webui.portal.access import SIGNED_IN_WITH_SECOND_FACTOR
from webui.portal.context import account_in_scope, caller, records, school_register, utc_now
from webui.portal.operations import second_factors as operations
from webui.portal.operations.core import NotPermitted
from webui.portal.permissions import Action, account_target, portal_role
from webui.portal.second_factor_policy import may_reset_second_factor, second_factor_required

bp = Blueprint("factors", __name__)

# The app being enrolled, in this browser's server-side session: its key (secret), whose account
# it is for and when it was handed out. The same key is shown again (a reload, the language switch,
# a wrong code) until it is enrolled or TOTP_ENROLMENT_SECONDS pass; only a key handed out here is
# ever enrolled (the form posts a code, never a key).
TOTP_SECRET_KEY = "portal_new_totp"  # noqa: S105 - a session key, not a secret
TOTP_ENROLMENT_SECONDS = 10 * 60
WEBAUTHN_CHALLENGE_KEY = "portal_webauthn_challenge"
MAX_LABEL = 64


def checks() -> SecondFactorChecks:
    return current_app.extensions["porth.idp"].second_factors


def required_roles() -> tuple[str, ...]:
    return current_app.extensions["porth"].settings.mfa.required_roles


# -- the gate ----------------------------------------------------------------------------------
def second_factor_gate() -> ResponseReturnValue | None:
    if not current_user.is_authenticated:
        return None
    endpoint = request.endpoint or ""
    if endpoint.startswith("portal.session.") or session.get(SIGNED_IN_WITH_SECOND_FACTOR):
        return None
    if not second_factor_required(current_user.role, required_roles()):
        return None
    if checks().store.has_factor(current_user.account.id):
        return redirect(url_for("portal.session.sign_in", second_factor=1, next=request.full_path.rstrip("?")), 303)
    if endpoint.startswith("portal.factors.") and endpoint != "portal.factors.reset":
        return None  # enrolling is all that is open
    return redirect(url_for("portal.factors.second_factors"), 303)


def only_enrolling_open() -> bool:
    """The gate above lets this person reach nothing but setting up a second factor (they need
    one and have none yet): the menu then offers nothing that would only lead back there."""
    return (current_user.is_authenticated and must_enrol()
            and not checks().store.has_factor(current_user.account.id))


def must_enrol() -> bool:
    """The person must set up a second factor before the rest of the portal opens."""
    return (second_factor_required(current_user.role, required_roles())
            and not session.get(SIGNED_IN_WITH_SECOND_FACTOR))


def label_from_form() -> str:
    """The name typed, tidied; "" when none was: an unnamed factor is shown by its kind, in the
    reader's language (default_label), never stored in the language it was enrolled in."""
    return " ".join(request.form.get("label", "").split())[:MAX_LABEL]


def default_label(kind: str) -> str:
    return _("Authenticator app") if kind == TOTP else _("Security key")


def label_of(factor: Factor) -> str:
    """A factor's name as shown: the one given, else its kind's."""
    return factor.label or default_label(factor.kind)


def enrolling_secret(account_id: str, *, new: bool) -> str | None:
    """The key handed out to this browser for the account's new app while it is still fresh; else
    (none, another account's, or older than TOTP_ENROLMENT_SECONDS) a new one when `new`, or None."""
    now = int(utc_now().timestamp())
    held = session.get(TOTP_SECRET_KEY)
    if (isinstance(held, dict) and held.get("account") == account_id and isinstance(held.get("secret"), str)
            and 0 <= now - int(held.get("issued", 0)) < TOTP_ENROLMENT_SECONDS):
        return held["secret"]
    if not new:
        return None
    secret = second_factor_rules.new_totp_secret()
    session[TOTP_SECRET_KEY] = {"secret": secret, "account": account_id, "issued": now}
    return secret


def show_recovery_codes(codes: list[str], *, replaced: bool = False, kind: str | None = None) -> ResponseReturnValue:
    """`replaced`: these take the place of earlier codes, which the page says no longer work;
    `kind`: of the factor just set up (what the check that follows asks of it)."""
    return render_template("portal/recovery_codes.html", codes=codes, must_enrol=must_enrol(), replaced=replaced,
                           kind=kind)


# -- My Profile ----------------------------------------------------------------------------------
@bp.get("/profile/second-factors")
@login_required
def second_factors() -> ResponseReturnValue:
    account = current_user.account
    return render_template("portal/second_factors.html", factors=checks().store.factors_of(account.id),
                           label_of=label_of,
                           recovery_codes_left=checks().store.recovery_codes_left(account.id),
                           must_enrol=must_enrol(),
                           required=second_factor_required(current_user.role, required_roles()))


@bp.route("/profile/second-factors/app", methods=["GET", "POST"])
@login_required
def enrol_app() -> ResponseReturnValue:
    account = current_user.account
    error = None
    if request.method == "POST":
        secret = enrolling_secret(account.id, new=False)
        if secret is None:  # the key shown has expired (or was never handed to this browser)
            error = _("The key to scan has expired. Remove it from your app, then scan the new QR code below.")
        else:
            codes = operations.enrol_app(records(), caller(), checks(), label_from_form(),
                                         secret, request.form.get("code", ""))
            if codes is not None:
                session.pop(TOTP_SECRET_KEY, None)
                if codes:
                    return show_recovery_codes(codes, kind=TOTP)
                flash(_("Your authenticator app is set up."), "success")
                return redirect(url_for("portal.factors.second_factors"), 303)
            error = _("That code is not right. Type the 6-digit code your app shows now.")
    secret = enrolling_secret(account.id, new=True) or ""
    uri = checks().totp_uri(account, secret)
    qr = segno.make(uri, error="m").svg_inline(scale=5, dark="#0b0c0c", light="#ffffff", svgclass="porth-qr",
                                               title=_("QR code to scan with your authenticator app"))
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_template("portal/enrol_app.html", qr=qr, secret=grouped, error=error,
                           label=label_from_form()), 400 if error else 200


@bp.route("/profile/second-factors/security-key", methods=["GET", "POST"])
@login_required
def enrol_security_key() -> ResponseReturnValue:
    account = current_user.account
    error = None
    if request.method == "POST":
        codes = operations.enrol_security_key(records(), caller(), checks(), label_from_form(),
                                              request.form.get("credential", ""),
                                              session.pop(WEBAUTHN_CHALLENGE_KEY, ""))
        if codes is not None:
            if codes:
                return show_recovery_codes(codes, kind=WEBAUTHN)
            flash(_("Your security key is set up."), "success")
            return redirect(url_for("portal.factors.second_factors"), 303)
        error = _("Your security key could not be set up. Try again.")
    options, challenge = checks().registration_options(account)
    session[WEBAUTHN_CHALLENGE_KEY] = challenge
    return render_template("portal/enrol_security_key.html", options=options, error=error,
                           label=label_from_form()), 400 if error else 200


@bp.route("/profile/second-factors/<int:factor_id>/remove", methods=["GET", "POST"])
@login_required
def remove(factor_id: int) -> ResponseReturnValue:
    """Asked first (portal/confirm.html), naming the factor; the last one's question says the
    recovery codes go with it and, when the role needs a second factor, what follows. Done on its POST."""
    listed = url_for("portal.factors.second_factors")
    account = current_user.account
    factor = checks().store.factor(account.id, factor_id)
    if factor is None:
        return redirect(listed, 303)  # not theirs, or removed already
    name = label_of(factor)
    last = len(checks().store.factors_of(account.id)) == 1
    required = second_factor_required(current_user.role, required_roles())
    if request.method == "POST":
        if operations.remove_factor(records(), caller(), checks(), factor_id):
            if not last:
                flash(_("%(name)s has been removed. Your other second factors and your recovery codes still work.",
                        name=name), "success")
            elif required:
                flash(_("%(name)s and your recovery codes have been removed. Your role needs a second factor: set "
                        "one up now. If you do not, you must set one up the next time you sign in, before you can "
                        "manage accounts.", name=name), "info")  # Important, not Success: something to do
            else:
                flash(_("%(name)s and your recovery codes have been removed. You have no second factor now.",
                        name=name), "success")
        return redirect(listed, 303)
    if not last:
        warning = _("You will not be able to use %(name)s to confirm it is you any more, and you will be signed out "
                    "everywhere else.", name=name)
    elif required:
        warning = _("%(name)s is your only second factor: your recovery codes will be removed with it, and you will "
                    "be signed out everywhere else. Your role needs a second factor: the next time you sign in, you "
                    "must set one up again before you can manage accounts.", name=name)
    else:
        warning = _("%(name)s is your only second factor: your recovery codes will be removed with it, and you will "
                    "be signed out everywhere else.", name=name)
    return render_template("portal/confirm.html", title=_("Remove %(name)s?", name=name), accounts=[], hidden={},
                           confirm_label=_("Remove second factor"), cancel_url=listed, warning=warning)


@bp.route("/profile/second-factors/recovery-codes", methods=["GET", "POST"])
@login_required
def new_recovery_codes() -> ResponseReturnValue:
    """Asked first, as removing is: the codes the person has (perhaps printed) stop working at once."""
    listed = url_for("portal.factors.second_factors")
    if not checks().store.has_factor(current_user.account.id):
        return redirect(listed, 303)
    if request.method == "POST":
        return show_recovery_codes(operations.new_recovery_codes(records(), caller(), checks()), replaced=True)
    return render_template(
        "portal/confirm.html", title=_("Make new recovery codes?"), accounts=[], hidden={},
        confirm_label=_("Make new recovery codes"), cancel_url=listed,
        warning=_("The recovery codes you have now, printed or written down, will stop working at once. "
                  "Porth shows the new ones only once."))


# -- a higher administrator's reset --------------------------------------------------------------
def role_of(account: Account):
    school = school_register().school(account.school)
    return portal_role(account, school.type if school else None)


def second_factor_summary(account: Account) -> dict:
    """For the account's details page: how many factors it has, and may the viewer reset them."""
    count = len(checks().store.factors_of(account.id))
    return {"count": count, "may_reset": bool(count) and account.id != current_user.account.id
            and current_user.may(Action.RESET_PASSWORD, account_target(account))
            and may_reset_second_factor(current_user.role, role_of(account))}


@bp.route("/accounts/<account_id>/second-factors/reset", methods=["GET", "POST"])
@login_required
def reset(account_id: str) -> ResponseReturnValue:
    """Asked first, as the portal's other irreversible actions are (portal/confirm.html); done on its POST."""
    account = account_in_scope(account_id, Action.VIEW_ACCOUNTS)
    details = url_for("portal.users.account_details", account_id=account.id)
    if request.method == "POST":
        operations.reset_factors(records(), caller(), checks(), account, role_of(account))
        flash(_("Their second factor has been reset. They will set up a new one when they next sign in."), "success")
        return redirect(details, 303)
    summary = second_factor_summary(account)
    if not summary["count"]:
        return redirect(details, 303)  # nothing (left) to reset
    if not summary["may_reset"]:
        raise NotPermitted(Action.RESET_PASSWORD, account_target(account))
    return render_template(
        "portal/confirm.html", title=_("Reset the second factor of %(name)s?", name=account.display_name),
        accounts=[account], hidden={}, confirm_label=_("Reset second factor"), cancel_url=details,
        warning=_("Every second factor and recovery code of %(name)s will be removed, and they will be signed out "
                  "everywhere. They must set up a second factor again the next time they sign in to the "
                  "management area.", name=account.display_name))
