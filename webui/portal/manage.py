"""Manage User: passwords, names, username, state and consent, for one account
or many (SPEC A-3..A-6, C-3, R-1..R-7). Every change is confirmed first when it
cannot be undone by the same person in one click; the operations
(webui/portal/operations/) write it and its audit entry.

    GET/POST /portal/accounts/<id>/password/reset      Reset Password (typed or generated)
    GET/POST /portal/accounts/<id>/edit                Edit names, Generate New Username (queued)
    GET/POST /portal/accounts/<id>/<deactivate|reactivate>
    GET/POST /portal/accounts/<id>/consent/<confirm|withdraw>
    GET/POST /portal/users/learners/group-reset        a registration group, class or year
    POST     /portal/users/<list>/selected             Selected Users (ticked, or all matching): reset, consent, print
    GET/POST /portal/profile                           My Profile: one's own password (R-1)
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required

from directory.model import Account, AccountState, Consent
from directory.store import AccountQuery
from webui.portal.access import require
from webui.portal.context import account_in_scope, caller, chosen_school, directory, records, school_register, utc_now
from webui.portal.credentials import print_page
from webui.portal.forms import (
    EXPIRY_LABELS,
    MAX_SELECTED,
    expiry_choice,
    generated_password,
    name_errors,
    policy_errors,
)
from webui.portal.lists import (
    USER_LISTS,
    group_choice,
    group_label,
    kept_arguments,
    list_filters,
    list_query,
    remember_reset,
)
from webui.portal.operations import accounts as account_operations
from webui.portal.operations import passwords as password_operations
from webui.portal.operations.core import by_name
from webui.portal.permissions import Action, Target, TargetKind, account_target

bp = Blueprint("manage", __name__)


def details(account: Account):
    return redirect(url_for("portal.users.account_details", account_id=account.id), 303)


# -- one account: password -----------------------------------------------------------------
@bp.route("/accounts/<account_id>/password/reset", methods=["GET", "POST"])
@login_required
def reset_password(account_id: str):
    account = account_in_scope(account_id, Action.RESET_PASSWORD)
    errors: list[str] = []
    password = request.form.get("password", "")
    if request.method == "POST":
        generated = generated_password(request.form.get("generate"))
        if generated:  # Generate Learner Password / Generate Password: shown, then Update Password
            password = generated
        else:
            errors = policy_errors(password)
            if not errors:
                password_operations.reset_password(records(), caller(), account, password)
                flash(_("The password of %(username)s has been changed. It is shown under Show password.",
                        username=account.username), "success")
                return details(account)
    return render_template("portal/reset_password.html", account=account, password=password, errors=errors), \
        400 if errors else 200


# -- one account: names and username ---------------------------------------------------------
@bp.route("/accounts/<account_id>/edit", methods=["GET", "POST"])
@login_required
def edit_account(account_id: str):
    account = account_in_scope(account_id, Action.EDIT_NAMES)
    form = {"forename": account.forename, "surname": account.surname, "new_username": False}
    errors: dict[str, str] = {}
    if request.method == "POST":
        forename = " ".join(request.form.get("forename", "").split())
        surname = " ".join(request.form.get("surname", "").split())
        new_username = request.form.get("new_username") == "yes"
        form = {"forename": forename, "surname": surname, "new_username": new_username}
        errors = name_errors(form, makes_username=new_username)
        if not errors:
            changed = account_operations.edit_names(records(), caller(), account, forename, surname)
            if new_username and account_operations.request_new_username(records(), caller(), account):
                flash(_("A new username has been requested. It will be ready within a few minutes, with a new "
                        "password shown under Show password."), "success")
            elif changed:
                flash(_("The names have been updated."), "success")
            return details(account)
    return render_template("portal/edit_account.html", account=account, form=form, errors=errors), \
        400 if errors else 200


# -- one account: state ----------------------------------------------------------------------
@bp.route("/accounts/<account_id>/<any(deactivate, reactivate):change>", methods=["GET", "POST"])
@login_required
def change_state(account_id: str, change: str):
    deactivating = change == "deactivate"
    account = account_in_scope(account_id, Action.DEACTIVATE if deactivating else Action.REACTIVATE)
    wanted = AccountState.DEACTIVATED if deactivating else AccountState.ACTIVE
    if account.state is wanted:
        return details(account)
    # L-1 with L-5: reactivating an account past its expiry sets a new expiry, chosen here.
    expired = not deactivating and account_operations.needs_new_expiry(account, utc_now().date())
    choice = expiry_choice(request.form.get("expiry"))
    if request.method == "POST" and (not expired or choice is not None):
        reason = _("deactivated in the portal") if deactivating else _("reactivated in the portal")
        account_operations.change_state(records(), caller(), account, wanted, reason,
                                        new_expiry=choice if expired else None)
        flash(_("The account has been deactivated.") if deactivating
              else _("The account has been reactivated."), "success")
        return details(account)
    question = (_("Are you sure you wish to deactivate this account?") if deactivating
                else _("Are you sure you wish to reactivate this account?"))
    return render_template("portal/confirm.html", title=question, accounts=[account], warning=(
        _("%(name)s will not be able to sign in until the account is reactivated.", name=account.display_name)
        if deactivating else None), confirm_label=_("Yes"),
        cancel_url=url_for("portal.users.account_details", account_id=account.id), hidden={},
        expiry_labels=EXPIRY_LABELS if expired else None), 400 if request.method == "POST" else 200


# -- consent ----------------------------------------------------------------------------------
WITHDRAW_WARNING = _l("If consent is withdrawn, ALL of the learner's work and email will be permanently deleted.")


@bp.route("/accounts/<account_id>/consent/<any(confirm, withdraw):change>", methods=["GET", "POST"])
@login_required
def change_consent(account_id: str, change: str):
    account = account_in_scope(account_id, Action.MANAGE_CONSENT)
    consent = Consent.EXPLICIT if change == "confirm" else Consent.WITHDRAWN
    if request.method == "POST":
        account_operations.set_consent(records(), caller(), [account], consent)
        flash(_("Consent has been recorded. Services follow within 24 hours.") if consent is Consent.EXPLICIT
              else _("Consent has been withdrawn. Services are withdrawn within 24 hours."), "success")
        return details(account)
    return render_template(
        "portal/confirm.html", accounts=[account], hidden={},
        title=(_("Confirm consent for this learner?") if change == "confirm"
               else _("Withdraw consent for this learner?")),
        warning=str(WITHDRAW_WARNING) if change == "withdraw" else None,
        confirm_label=_("Confirm consent") if change == "confirm" else _("Withdraw consent"),
        cancel_url=url_for("portal.users.account_details", account_id=account.id))


# -- many accounts ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    school: str
    list_name: str
    accounts: list[Account]
    # Learners dual registered at this school whose main school decides this action (consent):
    # left out of it rather than refusing the whole selection (permissions.AT_SUBSIDIARY_SCHOOL).
    main_school_decides: list[Account]
    # "Select all N matching accounts": the list's filters, run again here, chose them (not ids).
    all_matching: bool = False
    too_many: bool = False  # more than MAX_SELECTED: nothing is done, the person narrows the list


def selected(list_name: str, action: Action) -> Selection:
    """The ticked accounts of one list of one school, or every account matching the list's
    filters (selection=matching: the query is run again here, within the person's scope, so no
    id the browser sends is trusted); each checked against the person's scope."""
    wanted = USER_LISTS.get(list_name)
    if wanted is None:
        abort(404)
    dfes = request.form.get("school") or current_user.account.school
    if not dfes:
        abort(404)
    require(action, Target(TargetKind.of_account(wanted.kinds[0]), school=dfes))
    all_matching = request.form.get("selection") == "matching"
    if all_matching:
        accounts = [a for a in directory().find_accounts(list_query(dfes, wanted, list_filters(request.form)))
                    if a.state is AccountState.ACTIVE]
    else:
        ids = list(dict.fromkeys(request.form.getlist("account")))
        if len(ids) > MAX_SELECTED:
            return Selection(dfes, list_name, [], [], too_many=True)
        by_id = {a.id: a for a in directory().find_accounts(AccountQuery(school=dfes, kinds=wanted.kinds))} \
            if ids else {}
        accounts = [by_id[i] for i in ids if i in by_id and by_id[i].state is AccountState.ACTIVE]
    if len(accounts) > MAX_SELECTED:
        return Selection(dfes, list_name, [], [], all_matching, too_many=True)
    elsewhere = [a for a in accounts if a.school != dfes and dfes in a.subsidiary_schools
                 and not current_user.may(action, account_target(a))]
    accounts = [a for a in accounts if a not in elsewhere]
    for account in accounts:
        require(action, account_target(account))
    # In register order, as the list showed them: a confirmation of 151 names is read down, not searched.
    return Selection(dfes, list_name, by_name(accounts), elsewhere, all_matching)


SELECTED_ACTIONS = {
    "reset-passwords": Action.RESET_PASSWORD,
    "confirm-consent": Action.MANAGE_CONSENT,
    "withdraw-consent": Action.MANAGE_CONSENT,
    "print": Action.PRINT_CREDENTIALS,
    "print-with-passwords": Action.PRINT_CREDENTIALS,
}


@bp.post("/users/<list_name>/selected")
@login_required
def selected_users(list_name: str):
    what = request.form.get("action", "")
    if what not in SELECTED_ACTIONS:
        abort(400)
    selection = selected(list_name, SELECTED_ACTIONS[what])
    # Issue 16 point 5: back to the same view of the list (its filters and page), whatever happens.
    kept = kept_arguments(request.form)
    back = url_for("portal.users.users", list_name=list_name, school=selection.school, **kept)
    if selection.too_many:
        flash(_("At most %(limit)s accounts can be changed at once. Narrow the list with the filters, for "
                "example by year group, and try again.", limit=format(MAX_SELECTED, ",")), "error")
        return redirect(back, 303)
    left_out = (ngettext("%(num)d learner is dual registered here: their main school records their consent, "
                         "so they are left out.",
                         "%(num)d learners are dual registered here: their main school records their consent, "
                         "so they are left out.", len(selection.main_school_decides))
                if selection.main_school_decides else None)
    if not selection.accounts:
        flash(left_out or _("Select at least one user first."), "error")
        return redirect(back, 303)
    if what.startswith("print"):
        return print_page(selection.accounts, with_passwords=what == "print-with-passwords",
                          printed_at=selection.school)
    # What the confirmation sends again: all matching accounts by the filters (run again then, and
    # the count compared), ticked ones by id.
    chosen = ({"selection": "matching", "expected": str(len(selection.accounts))} if selection.all_matching
              else {"account": [a.id for a in selection.accounts]})
    changed_meanwhile = (selection.all_matching and request.form.get("confirmed") == "yes"
                         and request.form.get("expected") != str(len(selection.accounts)))
    if request.form.get("confirmed") != "yes" or changed_meanwhile:
        titles = {"reset-passwords": _("Reset the passwords of these users?"),
                  "confirm-consent": _("Confirm consent for these learners?"),
                  "withdraw-consent": _("Withdraw consent for these learners?")}
        changed_note = (_("The accounts matching the list's filters have changed since you chose them: "
                          "check them again.") if changed_meanwhile else None)
        return render_template(
            "portal/confirm.html", title=titles[what], accounts=selection.accounts, cancel_url=back,
            warning=" ".join(w for w in (changed_note, str(WITHDRAW_WARNING) if what == "withdraw-consent" else None,
                                         left_out) if w) or None,
            all_matching=selection.all_matching,
            confirm_label=_("Yes"), hidden={"action": what, "school": selection.school, "confirmed": "yes",
                                            **kept, **chosen})
    if what == "reset-passwords":
        done = password_operations.reset_passwords(records(), caller(), selection.accounts,
                                                   learner_words=list_name == "learners")
        flash(ngettext("%(num)d password has been reset.", "%(num)d passwords have been reset.", len(done)),
              "success")
        remember_reset(list_name, selection.school, [account.id for account, _password in done])
    else:
        confirming = what == "confirm-consent"
        count = account_operations.set_consent(records(), caller(), selection.accounts,
                                               Consent.EXPLICIT if confirming else Consent.WITHDRAWN)
        # C-3: withdrawing is never reported in the words of recording (a reviewer read "recorded" as given).
        flash(ngettext("Consent has been recorded for %(num)d learner.", "Consent has been recorded for %(num)d "
                       "learners.", count) if confirming else
              ngettext("Consent has been withdrawn for %(num)d learner.", "Consent has been withdrawn for %(num)d "
                       "learners.", count), "success")
    return redirect(back, 303)


@bp.route("/users/learners/group-reset", methods=["GET", "POST"])
@login_required
def group_reset():
    """Reset Passwords for a registration group, class or year (R-2): confirm, then every active
    learner in it. The list's filters ride along in the address, to come back to it afterwards."""
    school = chosen_school(required=True)
    require(Action.RESET_PASSWORD, Target(TargetKind.LEARNER, school=school.dfes))
    kept = kept_arguments(request.args)
    choice = group_choice(school.dfes)
    group, chosen = choice.group, choice.chosen
    if request.method == "GET" or group is None:
        return render_template("portal/group_reset.html", school=school, groups=choice.groups, kept=kept,
                               error=_("Select a group") if request.method == "POST" else None), \
            400 if request.method == "POST" else 200
    learners = choice.learners(school.dfes)
    if request.form.get("confirmed") != "yes":
        return render_template(
            "portal/confirm.html", title=_("Reset the passwords of %(group)s?", group=group_label(group)),
            accounts=learners, warning=_("Every learner in the group gets a new password; the old ones stop working."),
            confirm_label=_("Reset Passwords"), hidden={"group": chosen, "confirmed": "yes"},
            action=url_for("portal.manage.group_reset", school=school.dfes, **kept),
            cancel_url=url_for("portal.users.users", list_name="learners", school=school.dfes, **kept))
    done = password_operations.reset_passwords(records(), caller(), learners, learner_words=True)
    flash(ngettext("%(num)d password has been reset.", "%(num)d passwords have been reset.", len(done)), "success")
    return redirect(url_for("portal.credentials.print_group", school=school.dfes, group=chosen, passwords="yes",
                            **kept), 303)


# -- one's own password (R-1) ----------------------------------------------------------------
@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile() -> ResponseReturnValue:
    account = current_user.account
    may_change = current_user.may(Action.CHANGE_OWN_PASSWORD, account_target(account))
    errors: list[str] = []
    generated = None
    if request.method == "POST":
        if not may_change:
            abort(403)
        generated = generated_password(request.form.get("generate"))
        if generated is None:
            password, again = request.form.get("password", ""), request.form.get("confirm", "")
            errors = policy_errors(password)
            if not errors and password != again:
                errors = [_("The two passwords are not the same")]
            if not errors:
                password_operations.change_own_password(records(), caller(), password)
                flash(_("Your password has been changed."), "success")
                return redirect(url_for("portal.manage.profile"), 303)
    return render_template("portal/profile.html", account=account, school=school_register().school(account.school),
                           may_change=may_change, errors=errors, generated=generated), 400 if errors else 200
