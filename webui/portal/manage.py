"""Manage User: passwords, names, username, state and consent, for one account
or many (SPEC A-3..A-6, C-3, R-1..R-7). Every change is confirmed first when it
cannot be undone by the same person in one click, and written to the audit log.

    GET/POST /portal/accounts/<id>/password/reset      Reset Password (typed or generated)
    GET/POST /portal/accounts/<id>/edit                Edit names, Generate New Username (queued)
    GET/POST /portal/accounts/<id>/<deactivate|reactivate>
    GET/POST /portal/accounts/<id>/consent/<confirm|withdraw>
    GET/POST /portal/users/learners/group-reset        a registration group, class or year
    POST     /portal/users/<list>/selected             Selected Users: reset, consent, print
    GET/POST /portal/profile                           My Profile: one's own password (R-1)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required

from directory.model import Account, AccountState, Consent
from operational import username_changes
from directory.rules import passwords
from directory.rules.lifecycle import ExpiryChoice, expiry_date
from webui.portal.permissions import Action, Target, TargetKind
from directory.store import AccountQuery
from webui.portal import audit_log
from webui.portal.access import account_target, require
from webui.portal.users import USER_LISTS, account_in_scope, group_choice
from webui.portal.views import _db, _register, _store, blueprint, chosen_school

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
MAX_SELECTED = 2000  # a whole secondary school's learners at most, in one go


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _policy_errors(password: str) -> list[str]:
    return [str(POLICY_MESSAGES.get(problem, problem)) for problem in passwords.policy_problems(password)]


def _generated(kind: str | None) -> str | None:
    if kind == "learner":
        return passwords.generate_learner_password()
    if kind == "password":
        return passwords.generate_password()
    return None


def _details(account: Account):
    return redirect(url_for("portal.account_details", account_id=account.id), 303)


# -- one account: password -----------------------------------------------------------------
@blueprint.route("/accounts/<account_id>/password/reset", methods=["GET", "POST"])
@login_required
def reset_password(account_id: str):
    account = account_in_scope(account_id, Action.RESET_PASSWORD)
    errors: list[str] = []
    password = request.form.get("password", "")
    if request.method == "POST":
        generated = _generated(request.form.get("generate"))
        if generated:  # Generate Learner Password / Generate Password: shown, then Update Password
            password = generated
        else:
            errors = _policy_errors(password)
            if not errors:
                _store().set_password(account.id, password)
                audit_log.record("reset-password", account)
                flash(_("The password of %(username)s has been changed. It is shown under Show password.",
                        username=account.username), "success")
                return _details(account)
    return render_template("portal/reset_password.html", account=account, password=password, errors=errors), \
        400 if errors else 200


# -- one account: names and username ---------------------------------------------------------
@blueprint.route("/accounts/<account_id>/edit", methods=["GET", "POST"])
@login_required
def edit_account(account_id: str):
    account = account_in_scope(account_id, Action.EDIT_NAMES)
    form = {"forename": account.forename, "surname": account.surname, "new_username": False}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = {"forename": " ".join(request.form.get("forename", "").split()),
                "surname": " ".join(request.form.get("surname", "").split()),
                "new_username": request.form.get("new_username") == "yes"}
        for field, label in (("forename", _("Enter a forename")), ("surname", _("Enter a surname"))):
            if not form[field]:
                errors[field] = label
            elif len(form[field]) > 64:
                errors[field] = _("Use at most 64 characters")
        if not errors:
            changes = {k: form[k] for k in ("forename", "surname") if form[k] != getattr(account, k)}
            if changes:
                _store().update_account(account.id, changes)  # names change at once
                audit_log.record("edit-names", account, detail={
                    "from": f"{account.forename} {account.surname}", "to": f"{form['forename']} {form['surname']}"})
            if form["new_username"] and username_changes.request_change(
                    _db(), account.id, current_user.account.username, _now()):
                audit_log.record("request-new-username", account)
                flash(_("A new username has been requested. It will be ready within a few minutes, with a new "
                        "password shown under Show password."), "success")
            elif changes:
                flash(_("The names have been updated."), "success")
            return _details(account)
    return render_template("portal/edit_account.html", account=account, form=form, errors=errors), \
        400 if errors else 200


# -- one account: state ----------------------------------------------------------------------
@blueprint.route("/accounts/<account_id>/<any(deactivate, reactivate):change>", methods=["GET", "POST"])
@login_required
def change_state(account_id: str, change: str):
    action = Action.DEACTIVATE if change == "deactivate" else Action.REACTIVATE
    account = account_in_scope(account_id, action)
    wanted = AccountState.DEACTIVATED if change == "deactivate" else AccountState.ACTIVE
    if account.state is wanted:
        return _details(account)
    if account.id == current_user.account.id:
        abort(403)  # nobody locks themselves out
    # L-1 with L-5: an account reactivated past its expiry would be deactivated again that night:
    # reactivating it sets a new expiry, chosen here.
    expired = (change == "reactivate" and not account.kind.is_mis and account.expiry is not None
               and account.expiry.date() < _now().date())
    choice = request.form.get("expiry", "")
    if request.method == "POST" and (not expired or choice in {c.value for c in ExpiryChoice}):
        by = current_user.account.username
        reason = _("deactivated in the portal") if change == "deactivate" else _("reactivated in the portal")
        changes = {"expiry": datetime.combine(expiry_date(choice, _now().date()), datetime.min.time(),
                                              tzinfo=timezone.utc)} if expired else None
        _store().set_state(account.id, wanted, by, reason, _now(), changes=changes)
        audit_log.record(change, account, detail={"expiry": choice} if expired else None)
        flash(_("The account has been deactivated.") if change == "deactivate"
              else _("The account has been reactivated."), "success")
        return _details(account)
    question = (_("Are you sure you wish to deactivate this account?") if change == "deactivate"
                else _("Are you sure you wish to reactivate this account?"))
    from webui.portal.nonmis import EXPIRY_LABELS

    return render_template("portal/confirm.html", title=question, accounts=[account], warning=(
        _("%(name)s will not be able to sign in until the account is reactivated.", name=account.display_name)
        if change == "deactivate" else None), confirm_label=_("Yes"),
        cancel_url=url_for("portal.account_details", account_id=account.id), hidden={},
        expiry_labels=EXPIRY_LABELS if expired else None), 400 if request.method == "POST" else 200


# -- consent ----------------------------------------------------------------------------------
WITHDRAW_WARNING = _l("If consent is withdrawn, ALL of the learner's work and email will be permanently deleted.")


def _set_consent(accounts: list[Account], consent: Consent) -> int:
    changed = [a for a in accounts if (a.consent or Consent.NOT_OBTAINED) is not consent]
    for account in changed:
        _store().update_account(account.id, {"consent": consent.value})
        audit_log.record("confirm-consent" if consent is Consent.EXPLICIT else "withdraw-consent", account,
                         detail={"from": (account.consent or Consent.NOT_OBTAINED).value, "to": consent.value})
    return len(changed)


@blueprint.route("/accounts/<account_id>/consent/<any(confirm, withdraw):change>", methods=["GET", "POST"])
@login_required
def change_consent(account_id: str, change: str):
    account = account_in_scope(account_id, Action.MANAGE_CONSENT)
    consent = Consent.EXPLICIT if change == "confirm" else Consent.WITHDRAWN
    if request.method == "POST":
        _set_consent([account], consent)
        flash(_("Consent has been recorded. Services follow within 24 hours."), "success")
        return _details(account)
    return render_template(
        "portal/confirm.html", accounts=[account], hidden={},
        title=_("Confirm consent for this learner?") if change == "confirm" else _("Withdraw consent for this learner?"),
        warning=str(WITHDRAW_WARNING) if change == "withdraw" else None,
        confirm_label=_("Confirm consent") if change == "confirm" else _("Withdraw consent"),
        cancel_url=url_for("portal.account_details", account_id=account.id))


# -- many accounts ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    school: str
    list_name: str
    accounts: list[Account]


def _selected(list_name: str, action: Action) -> Selection:
    """The ticked accounts of one list of one school, each checked against the person's scope."""
    wanted = USER_LISTS.get(list_name)
    if wanted is None:
        abort(404)
    dfes = request.form.get("school") or current_user.account.school
    if not dfes:
        abort(404)
    require(action, Target(TargetKind.of_account(wanted.kinds[0]), school=dfes))
    ids = request.form.getlist("account")[:MAX_SELECTED]
    by_id = {a.id: a for a in _store().find_accounts(AccountQuery(school=dfes, kinds=wanted.kinds))} if ids else {}
    accounts = [by_id[i] for i in ids if i in by_id and by_id[i].state is AccountState.ACTIVE]
    for account in accounts:
        require(action, account_target(account))
    return Selection(dfes, list_name, accounts)


def reset_many(accounts: list[Account], learner_words: bool) -> list[tuple[Account, str]]:
    """New generated passwords for each (A-3, shown under Show password, A-4); audited one by one."""
    done = []
    for account in accounts:
        password = passwords.generate_learner_password() if learner_words else passwords.generate_password()
        _store().set_password(account.id, password)
        audit_log.record("reset-password", account, detail={"bulk": True})
        done.append((account, password))
    return done


SELECTED_ACTIONS = {
    "reset-passwords": Action.RESET_PASSWORD,
    "confirm-consent": Action.MANAGE_CONSENT,
    "withdraw-consent": Action.MANAGE_CONSENT,
    "print": Action.PRINT_CREDENTIALS,
    "print-with-passwords": Action.PRINT_CREDENTIALS,
}


@blueprint.post("/users/<list_name>/selected")
@login_required
def selected_users(list_name: str):
    what = request.form.get("action", "")
    if what not in SELECTED_ACTIONS:
        abort(400)
    selection = _selected(list_name, SELECTED_ACTIONS[what])
    back = url_for("portal.users", list_name=list_name, school=selection.school)
    if not selection.accounts:
        flash(_("Select at least one user first."), "error")
        return redirect(back, 303)
    if what.startswith("print"):
        from webui.portal.credentials import print_page
        return print_page(selection.accounts, with_passwords=what == "print-with-passwords")
    if request.form.get("confirmed") != "yes":
        titles = {"reset-passwords": _("Reset the passwords of these users?"),
                  "confirm-consent": _("Confirm consent for these learners?"),
                  "withdraw-consent": _("Withdraw consent for these learners?")}
        return render_template(
            "portal/confirm.html", title=titles[what], accounts=selection.accounts, cancel_url=back,
            warning=str(WITHDRAW_WARNING) if what == "withdraw-consent" else None,
            confirm_label=_("Yes"), hidden={"action": what, "school": selection.school, "confirmed": "yes",
                                            "account": [a.id for a in selection.accounts]})
    if what == "reset-passwords":
        done = reset_many(selection.accounts, learner_words=list_name == "learners")
        flash(ngettext("%(num)d password has been reset.", "%(num)d passwords have been reset.", len(done)),
              "success")
    else:
        count = _set_consent(selection.accounts, Consent.EXPLICIT if what == "confirm-consent" else Consent.WITHDRAWN)
        flash(ngettext("Consent has been recorded for %(num)d learner.", "Consent has been recorded for %(num)d "
                        "learners.", count), "success")
    return redirect(back, 303)


@blueprint.route("/users/learners/group-reset", methods=["GET", "POST"])
@login_required
def group_reset():
    """Reset Passwords for a registration group, class or year (R-2): confirm, then every learner in it."""
    school = chosen_school(required=True)
    require(Action.RESET_PASSWORD, Target(TargetKind.LEARNER, school=school.dfes))
    choice = group_choice(school.dfes)
    group, chosen = choice.group, choice.chosen
    if request.method == "GET" or group is None:
        return render_template("portal/group_reset.html", school=school, groups=choice.groups,
                               error=_("Select a group") if request.method == "POST" else None), \
            400 if request.method == "POST" else 200
    learners = choice.learners(school.dfes)
    if request.form.get("confirmed") != "yes":
        return render_template(
            "portal/confirm.html", title=_("Reset the passwords of %(group)s?", group=group.name or group.code),
            accounts=learners, warning=_("Every learner in the group gets a new password; the old ones stop working."),
            confirm_label=_("Reset Passwords"), hidden={"group": chosen, "confirmed": "yes"},
            cancel_url=url_for("portal.users", list_name="learners", school=school.dfes))
    done = reset_many(learners, learner_words=True)
    flash(ngettext("%(num)d password has been reset.", "%(num)d passwords have been reset.", len(done)), "success")
    return redirect(url_for("portal.print_group", school=school.dfes, group=chosen, passwords="yes"), 303)


# -- one's own password (R-1) ----------------------------------------------------------------
@blueprint.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    account = current_user.account
    target = account_target(account)
    may_change = current_user.may(Action.CHANGE_OWN_PASSWORD, target)
    errors: list[str] = []
    generated = None
    if request.method == "POST":
        if not may_change:
            abort(403)
        generated = _generated(request.form.get("generate"))
        if generated is None:
            password, again = request.form.get("password", ""), request.form.get("confirm", "")
            errors = _policy_errors(password)
            if not errors and password != again:
                errors = [_("The two passwords are not the same")]
            if not errors:
                _store().set_password(account.id, password, set_by_user=True)  # User changed password
                audit_log.record("change-own-password", account)
                flash(_("Your password has been changed."), "success")
                return redirect(url_for("portal.profile"), 303)
    return render_template("portal/profile.html", account=account, school=_register().school(account.school),
                           may_change=may_change, errors=errors, generated=generated), 400 if errors else 200


def pending_username_changes(accounts: list[Account]) -> set[str]:
    return username_changes.pending_among(_db(), [a.id for a in accounts])
