"""What every portal page's template may use: the menu of the areas the person may use,
whether a user list is theirs to see, the address of another page of a list, and schools by name."""

from __future__ import annotations

from flask import request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webui.portal.context import school_register
from webui.portal.dashboard import ORGANISATION_ROLES
from webui.portal.factors import only_enrolling_open
from webui.portal.lists import USER_LISTS
from webui.portal.permissions import Action, Target, TargetKind


def portal_menu() -> list[tuple[str, str, bool]]:
    """(address, label, is this the current area) for each area the person may use."""
    if only_enrolling_open():  # nothing else opens yet: no links that would only lead back
        return [(url_for("portal.factors.second_factors"), _("Second factors"), True)]
    user = current_user
    school = request.args.get("school") or user.account.school
    other_school = school if school != user.account.school else None
    on_dashboard = request.endpoint == "portal.dashboard.dashboard"
    items = []
    if user.role in ORGANISATION_ROLES:
        # LA, REC and national administrators land on their organisation; a school's
        # dashboard is one of its schools, offered once a school is chosen.
        items.append((url_for("portal.dashboard.dashboard", org=request.args.get("org") if not school else None),
                      _("Overview"), on_dashboard and not request.args.get("school")))
        if request.args.get("school"):
            items.append((url_for("portal.dashboard.dashboard", school=other_school), _("Dashboard"), on_dashboard))
    else:
        items.append((url_for("portal.dashboard.dashboard", school=other_school), _("Dashboard"), on_dashboard))
    first_list = next((name for name in ("learners", "staff", "governors", "non-mis")
                       if school and list_allowed(name, school)), None)
    if first_list:
        items.append((url_for("portal.users.users", list_name=first_list, school=other_school), _("View Users"),
                      request.endpoint in ("portal.users.users", "portal.users.account_details")))
    if school and user.may(Action.PROMOTE, Target(TargetKind.DIGITAL_CHAMPION, school=school)):
        items.append((url_for("portal.administrators.champions", school=other_school),
                      _("Digital Champions"), request.endpoint == "portal.administrators.champions"))
    if school and user.may(Action.MANAGE_LICENCES, Target(TargetKind.SCHOOL, school=school)):
        items.append((url_for("portal.licences.licences", school=other_school),
                      _("M365 Licences"), request.endpoint == "portal.licences.licences"))
    if school and user.may(Action.MANAGE_BADGES, Target(TargetKind.SCHOOL, school=school)):  # issue 18
        items.append((url_for("portal.badges.badges", school=other_school), _("Badges"),
                      request.endpoint == "portal.badges.badges"))
    if user.actor.scope.organisations is None or user.actor.scope.organisations:
        items.append((url_for("portal.administrators.administrators"), _("Administrators"),
                      request.endpoint == "portal.administrators.administrators"))
        items.append((url_for("portal.nonmis.organisation_users"), _("Non-MIS Users"),
                      request.endpoint in ("portal.nonmis.organisation_users", "portal.nonmis.new_organisation_user")))
    if user.role.is_administrator:
        items.append((url_for("portal.audit.audit_log_page"), _("Audit log"),
                      request.endpoint == "portal.audit.audit_log_page"))
    items.append((url_for("portal.manage.profile"), _("My Profile"), request.endpoint == "portal.manage.profile"))
    return items


def list_allowed(list_name: str, dfes: str) -> bool:
    kind = TargetKind.of_account(USER_LISTS[list_name].kinds[0])
    return current_user.may(Action.VIEW_ACCOUNTS, Target(kind, school=dfes))


def page_url(number: int) -> str:
    if request.endpoint is None:  # only a routed page has pages to number
        raise LookupError("no endpoint to number the pages of")
    arguments = {**request.args.to_dict(), **(request.view_args or {}), "page": number}
    return url_for(request.endpoint, **arguments)


def school_labels(dfes_numbers) -> str:
    """Schools as a person recognises them: `Ysgol Brawf (6612345)`, comma separated."""
    labels = []
    for dfes in dfes_numbers:
        school = school_register().school(dfes)
        labels.append(f"{school.name} ({dfes})" if school else dfes)
    return ", ".join(labels)


def page_helpers() -> dict:
    return {"portal_menu": portal_menu, "list_allowed": list_allowed, "page_url": page_url,
            "current_user": current_user}
