"""Credentials on paper and in a spreadsheet (SPEC P-1, P-2, A-4, R-7).

    GET/POST /portal/users/learners/print-group     Print Registration Group / Class / Year (details or passwords)
    POST     /portal/accounts/<id>/print            Print Details / Print With Password for one user
    GET/POST /portal/download/<pupils|staff>        the warning, then the CSV

Only passwords still available (Show password) are printed or downloaded;
every password that leaves Porth this way is one audit event per account
(webui/portal/operations/passwords.py).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from flask import Blueprint, Response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from directory.model import Account, AccountKind, Consent, PasswordStatus, School
from directory.rules import passwords
from webui.portal.access import require
from webui.portal.context import (
    account_in_scope,
    caller,
    chosen_school,
    records,
    school_register,
    school_viewed,
    utc_now,
)
from webui.portal.lists import group_choice, group_label, kept_arguments
from webui.portal.operations import passwords as password_operations
from webui.portal.operations.core import by_name
from webui.portal.permissions import Action, Target, TargetKind

bp = Blueprint("credentials", __name__)

PUPIL_COLUMNS = ("Forename", "Surname", "Username", "Password", "Date created", "Year", "Reg group", "Consent",
                 "Admission number")  # SPEC P-2, exactly
STAFF_COLUMNS = ("Forename", "Surname", "Username", "Password", "Date created", "Staff code")
DOWNLOADS = {"pupils": (AccountKind.LEARNER, PUPIL_COLUMNS), "staff": (AccountKind.STAFF, STAFF_COLUMNS)}
CONSENT_WORDS = {Consent.NOT_OBTAINED: "Consent not obtained", Consent.WITHDRAWN: "Consent withdrawn",
                 Consent.LEGACY: "Legacy consent", Consent.EXPLICIT: "Explicit consent"}


@dataclass(frozen=True)
class Slip:
    """One person's sign-in slip, headed by the school it is printed for and their group there."""

    account: Account
    school: School | None
    registration_group: str | None


def print_page(accounts: list[Account], with_passwords: bool, title: str | None = None,
               printed_at: str | None = None) -> str:
    """One slip per person, A4, large names (P-1); passwords only where available. A learner dual
    registered at `printed_at` (the school whose list it is printed from) gets that school's slip."""
    def slip(account: Account) -> Slip:
        school = printed_at if printed_at and account.belongs_to(printed_at) else account.school
        registration_group = account.groups_at(school)[0] if school else account.registration_group
        return Slip(account, school_register().school(school), registration_group)

    slips = sorted((slip(a) for a in accounts), key=lambda s: (s.registration_group or "",
                                                               s.account.surname.casefold(),
                                                               s.account.forename.casefold()))
    revealed = password_operations.print_credentials(records(), caller(), [s.account for s in slips], with_passwords)
    # The language switch sends the same form again (a print page is the answer to a POST).
    resend = [(k, v) for k, v in request.form.items(multi=True) if k != "csrf_token"]
    return render_template("portal/print.html", slips=slips, revealed=revealed,
                           with_passwords=with_passwords, title=title or _("Sign-in details"), resend=resend)


@bp.post("/accounts/<account_id>/print")
@login_required
def print_account(account_id: str):
    account = account_in_scope(account_id, Action.PRINT_CREDENTIALS)
    here = school_viewed(account)
    return print_page([account], with_passwords=request.form.get("passwords") == "yes",
                      printed_at=here.dfes if here else None)


@bp.route("/users/learners/print-group", methods=["GET", "POST"])
@login_required
def print_group():
    """Print Registration Group / Class / Year: pick it, then print details or passwords (P-1).
    The list's filters ride along in the address, for the way back to it."""
    school = chosen_school(required=True)
    require(Action.PRINT_CREDENTIALS, Target(TargetKind.LEARNER, school=school.dfes))
    choice = group_choice(school.dfes)
    if request.method == "GET" or choice.group is None:
        error = _("Select a group") if request.method == "POST" else None
        return render_template("portal/print_group.html", school=school, groups=choice.groups,
                               chosen=choice.chosen, error=error, kept=kept_arguments(request.args)), \
            400 if error else 200
    return print_page(choice.learners(school.dfes), with_passwords=request.form.get("passwords") == "yes",
                      title=group_label(choice.group), printed_at=school.dfes)


def csv_cell(value: str) -> str:
    # A spreadsheet runs a cell that starts like a formula: keep names such as "=cmd" inert.
    return "'" + value if passwords.starts_like_formula(value) and value != "-" else value


# A reveal copy kept from before the policy refused a formula's first character: it cannot be
# written both exactly and safely, so the cell says so instead of holding a changed password.
UNSAFE_PASSWORD_CELL = "Use Show password (this password cannot be written safely in a spreadsheet)"  # noqa: S105


def password_cell(password: str) -> str:
    """The password exactly as it is: the policy and the generators never let one start like a formula."""
    return UNSAFE_PASSWORD_CELL if passwords.starts_like_formula(password) else password


@bp.route("/download/<any(pupils, staff):which>", methods=["GET", "POST"])
@login_required
def download(which: str):
    """P-2: the warning first; then every active account of the kind, one row each."""
    school = chosen_school(required=True)
    kind, columns = DOWNLOADS[which]
    require(Action.DOWNLOAD_CREDENTIALS, Target(TargetKind.of_account(kind), school=school.dfes))
    if request.method == "GET":
        return render_template("portal/download_warning.html", school=school, which=which,
                               back=url_for("portal.dashboard.dashboard", school=school.dfes))
    found = password_operations.download_credentials(records(), caller(), school, kind)
    revealed = {account.id: password for account, password in found if password}
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    password_column = columns.index("Password")  # written exactly (password_cell); every other cell through csv_cell
    for account in by_name(account for account, _password in found):
        password = password_cell(revealed[account.id]) if account.id in revealed else (
            "User changed password" if account.password_status is PasswordStatus.USER_CHANGED else "-")
        created = account.created_at.date().isoformat() if account.created_at else ""
        common = [account.forename, account.surname, account.mail, password, created]  # password: written as is
        if kind is AccountKind.LEARNER:
            # A dual-registered learner's row at a subsidiary school: its group there, and no admission
            # number (the account holds the main school's, which is not this school's number for them).
            main_here = account.school == school.dfes
            row = [*common, account.year_group or "", account.groups_at(school.dfes)[0] or "",
                   CONSENT_WORDS[account.consent or Consent.NOT_OBTAINED],
                   (account.admission_number or "") if main_here else ""]
        else:
            row = [*common, account.staff_code or ""]
        writer.writerow([value if index == password_column else csv_cell(str(value))
                         for index, value in enumerate(row)])
    stamp = utc_now().strftime("%Y-%m-%d")
    response = Response("\ufeff" + buffer.getvalue(), mimetype="text/csv; charset=utf-8")  # BOM: Excel reads UTF-8
    response.headers["Content-Disposition"] = f'attachment; filename="{which}-{school.dfes}-{stamp}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
