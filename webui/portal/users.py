"""View Users: the lists of a school's learners, staff, governors and non-MIS
accounts, one account's details, and revealing a password (SPEC A-4, R-2..R-5).

    GET  /portal/users/<list>                 ?school=&q=&year=&reg=&class=&consent=&status=&page=
    GET  /portal/accounts/<id>                View Details
    POST /portal/accounts/<id>/password       Show password (audited; JSON for the page's script)
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, render_template, request
from flask_login import current_user, login_required

from directory.model import AccountKind, GroupKind
from directory.store import LIST_FIELDS
from operational import username_changes
from webui.portal.access import require
from webui.portal.context import (
    account_in_scope,
    caller,
    chosen_school,
    directory,
    operational_db,
    page_size,
    records,
    school_viewed,
)
from webui.portal.forms import MAX_SELECTED
from webui.portal.lists import (
    USER_LISTS,
    kept_arguments,
    list_filters,
    list_query,
    page_of,
    take_reset,
    with_year_groups,
    year_choices,
)
from webui.portal.operations import passwords
from webui.portal.permissions import Action, Target, TargetKind, account_target

bp = Blueprint("users", __name__)


@bp.get("/users/<list_name>")
@login_required
def users(list_name: str):
    wanted = USER_LISTS.get(list_name)
    if wanted is None:
        abort(404)
    school = chosen_school(required=True)
    target = Target(TargetKind.of_account(wanted.kinds[0]), school=school.dfes)
    require(Action.VIEW_ACCOUNTS, target)
    args = request.args
    filters = list_filters(args)
    query = list_query(school.dfes, wanted, filters, fields=(*LIST_FIELDS, "subsidiary_groups"))
    page = page_of(query, args.get("page", 1, type=int), page_size())
    learners = wanted.kinds == (AccountKind.LEARNER,)
    groups = with_year_groups(school.dfes, directory().groups(school.dfes)) if learners else []
    return render_template(
        "portal/users.html", school=school, list_name=list_name, page=page, filters=filters,
        # what the Selected Users form carries, to come back to this same view of the list (issue 16 point 5)
        kept={**kept_arguments(args), **({"page": str(page.number)} if page.number > 1 else {})},
        # ?selection=matching: "Select all N matching accounts" followed without scripts
        matching_selected=args.get("selection") == "matching" and page.total > len(page.items),
        max_selected=MAX_SELECTED,
        # After a Selected Users reset: the accounts whose new passwords the list offers to print.
        just_reset=take_reset(list_name, school.dfes),
        year_groups=year_choices(groups),
        registration_groups=[g for g in groups if g.kind is GroupKind.REGISTRATION_GROUP],
        classes=[g for g in groups if g.kind is GroupKind.CLASS],
        may_show=current_user.may(Action.SHOW_PASSWORD, target), may={
            "reset": current_user.may(Action.RESET_PASSWORD, target),
            "print": current_user.may(Action.PRINT_CREDENTIALS, target),
            "consent": current_user.may(Action.MANAGE_CONSENT, target),
            "create": list_name in ("governors", "non-mis") and current_user.may(Action.CREATE_ACCOUNT, target)})


def offered_actions(account) -> set[Action]:
    """What the details page offers for this account (each still checked when asked for)."""
    return {action for action in Action if current_user.may(action, account_target(account))}


@bp.get("/accounts/<account_id>")
@login_required
def account_details(account_id: str):
    account = account_in_scope(account_id, Action.VIEW_ACCOUNTS)
    return render_template("portal/account.html", account=account, offered=offered_actions(account),
                           school=school_viewed(account),
                           username_pending=bool(username_changes.pending_among(operational_db(), [account.id])))


@bp.post("/accounts/<account_id>/password")
@login_required
def show_password(account_id: str):
    """A-4: the reveal copy, only while the status is Show password; every reveal audited (R-7)."""
    account = account_in_scope(account_id, Action.SHOW_PASSWORD)
    password = passwords.show_password(records(), caller(), account)
    if request.accept_mimetypes.best == "application/json":  # the page's script
        response = jsonify({"password": password, "status": account.password_status.value})
        response.status_code = 200 if password else 409
    else:  # no script: the details page, with the password on it
        response = current_app.make_response(render_template(
            "portal/account.html", account=account, offered=offered_actions(account), revealed=password,
            school=school_viewed(account)))
    response.headers["Cache-Control"] = "no-store"
    return response
