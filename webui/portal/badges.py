"""Badges (issue 18 point 1): a digital champion turns badge sign-in on for their school, for
chosen years and a mode, and prints or revokes badges for one learner, the ticked learners, or a
registration group, class or year.

    GET  /portal/badges            ?school=&group=   the settings and the learners who may have a badge
    POST /portal/badges/settings   on or off, the years, the mode
    POST /portal/badges/print      the ticked learners (`account`), or all shown (`all_shown=yes`): A4 sheets;
                                   confirmed first when any of them has a live badge (its card stops working)
    POST /portal/badges/revoke     the same choice, confirmed first: their badges stop working at once

A printed sheet holds badges that sign children in: it is a page of secrets (no-store, audited
per badge, webui/portal/operations/badges.py), in a new tab, as print-with-password is.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import login_required
from markupsafe import Markup

from directory.model import Account, AccountKind, AccountState, Group, GroupKind, School
from directory.rules.badges import BadgeMode, SchoolBadges, default_years, years_offered
from directory.rules.year_groups import NC_YEARS
from directory.store import AccountQuery
from idp import badges as badge_settings
from operational import badges as badge_store
from webui.portal.access import require
from webui.portal.context import caller, chosen_school, directory, operational_db, records
from webui.portal.lists import group_choice, group_label, year_label
from webui.portal.operations import badges as badge_operations
from webui.portal.operations.core import by_name
from webui.portal.permissions import Action, school_target

bp = Blueprint("badges", __name__)


def _learners_shown(school: School, settings: SchoolBadges, *, whole_school: bool = False) -> list[Account]:
    """The learners who may have a badge (main school here, in a chosen year), narrowed to the
    group picked (`group`) unless `whole_school`, in register order; read again on every POST,
    never a list of ids sent."""
    choice = group_choice(school.dfes)
    narrowed = choice.group is not None and not whole_school
    people = choice.learners(school.dfes) if narrowed else directory().find_accounts(
        AccountQuery(school=school.dfes, kinds=(AccountKind.LEARNER,), states=(AccountState.ACTIVE,)))
    return by_name(a for a in people if a.school == school.dfes and a.year_group in settings.years)


def _listed(learners: list[Account], settings: SchoolBadges,
            states: dict[str, badge_store.BadgeState]) -> list[Account]:
    """What the page lists of `learners`: all of them while badges are on; while they are off, only
    those whose badge is live, so that a lost card can still be revoked (nothing can be printed)."""
    return learners if settings.enabled else [a for a in learners if _is_live(states.get(a.id))]


# The codes of each kind of group a learner whose main school it is belongs to: their own fields.
_GROUP_CODES = {
    GroupKind.REGISTRATION_GROUP: lambda account: {account.registration_group},
    GroupKind.CLASS: lambda account: set(account.classes),
    GroupKind.YEAR_GROUP: lambda account: {account.year_group},
}


def _in_group(account: Account, group: Group) -> bool:
    return group.code in _GROUP_CODES[group.kind](account)


def _groups_of(groups: list[Group], learners: list[Account]) -> list[Group]:
    """The groups (registration groups, classes, years) holding at least one of `learners` (main
    school here, so their own fields say their groups): a year not chosen for badges is not offered."""
    return [g for g in groups if any(_in_group(a, g) for a in learners)]


def _chosen(school: School, settings: SchoolBadges) -> list[Account]:
    shown = _learners_shown(school, settings)
    if request.form.get("all_shown") == "yes":
        return shown
    wanted = set(request.form.getlist("account"))
    return [a for a in shown if a.id in wanted]


def _back(school: School):
    group = request.values.get("group") or None
    return redirect(url_for("portal.badges.badges", school=school.dfes, group=group), 303)


@bp.get("/badges")
@login_required
def badges():
    school = chosen_school(required=True)
    require(Action.MANAGE_BADGES, school_target(school.dfes))
    return _page(school, badge_settings.read_school_badges(operational_db(), school.dfes, school.type))


def _page(school: School, settings: SchoolBadges, form: SchoolBadges | None = None,
          errors: dict[str, str] | None = None):
    """The Badges page: the settings form (`form`: what was sent, shown again with `errors`), and
    the learners of the settings as saved."""
    choice = group_choice(school.dfes)
    states = badge_store.badge_states(operational_db(), school.dfes)
    # The groups offered: those with a learner the page would list (a chosen year, main school here;
    # while badges are off, a live badge), never a year that can have no badge at all.
    everyone = _listed(_learners_shown(school, settings, whole_school=True), settings, states)
    # The group's: read from those, not asked of the directory again (main-school learners: own fields).
    learners = [a for a in everyone if _in_group(a, choice.group)] if choice.group is not None else everyone
    groups = _groups_of(choice.groups, everyone)
    # A group asked for (an old link, a year no longer chosen) with nobody to list: say why, not "0 learners".
    empty_group = group_label(choice.group) if choice.group is not None and not learners else None
    pin_mode = settings.mode is BadgeMode.BADGE_AND_PIN
    # In badge + PIN mode a card printed without a PIN signs nobody in (idp/badges.py): say whose.
    without_pin = [a for a in learners if settings.enabled and pin_mode and _needs_reprint(states.get(a.id))]
    return render_template("portal/badges.html", school=school, settings=settings, form=form or settings,
                           errors=errors or {}, years=years_offered(school.type, settings.years),
                           year_label=year_label, groups=groups, chosen=choice.chosen, learners=learners,
                           empty_group=empty_group, any_listed=bool(everyone),
                           chosen_years=", ".join(year_label(y) for y in settings.years),
                           states=states, live_ids={i for i, state in states.items() if _is_live(state)},
                           pin_mode=pin_mode, without_pin=without_pin,
                           modes=BadgeMode), 400 if errors else 200


def _needs_reprint(state: badge_store.BadgeState | None) -> bool:
    """A live badge printed without a PIN (looked at only while the school is in badge + PIN mode)."""
    return state is not None and _is_live(state) and not state.with_pin


@bp.post("/badges/settings")
@login_required
def settings():
    school = chosen_school(required=True)
    require(Action.MANAGE_BADGES, school_target(school.dfes))
    stored = badge_settings.read_school_badges(operational_db(), school.dfes, school.type)
    offered = years_offered(school.type, stored.years)
    years = tuple(y for y in offered if y in request.form.getlist("years"))
    enabled = request.form.get("enabled") == "yes"
    mode = BadgeMode.BADGE_AND_PIN if request.form.get("mode") == BadgeMode.BADGE_AND_PIN.value else BadgeMode.BADGE
    if enabled and not years:
        # What was chosen is shown again as it was sent, with the error where the years are.
        first_year = f"year-{offered[0]}" if offered else "enabled"
        return _page(school, stored, SchoolBadges(enabled=enabled, years=(), mode=mode),
                     {first_year: _("Choose at least one year group")})
    chosen = SchoolBadges(enabled=enabled, years=years or default_years(school.type), mode=mode)
    badge_operations.change_settings(records(), caller(), school, chosen)
    states = badge_store.badge_states(operational_db(), school.dfes).values()
    without_pin = sum(1 for state in states if _needs_reprint(state)) if mode is BadgeMode.BADGE_AND_PIN else 0
    if enabled and without_pin:
        flash(ngettext("Badge settings saved. %(num)d badge printed before has no PIN: it no longer signs in "
                       "until it is printed again (marked “Print again” below).",
                       "Badge settings saved. %(num)d badges printed before have no PIN: they no longer sign in "
                       "until they are printed again (marked “Print again” below).", without_pin), "success")
    else:
        flash(_("Badge settings saved."), "success")
    return _back(school)


@bp.post("/badges/print")
@login_required
def print_badges():
    school = chosen_school(required=True)
    require(Action.MANAGE_BADGES, school_target(school.dfes))
    settings = badge_settings.read_school_badges(operational_db(), school.dfes, school.type)
    if not settings.enabled:
        abort(409)
    chosen = _chosen(school, settings)
    if not chosen:
        return _nobody_chosen(school)
    states = badge_store.badge_states(operational_db(), school.dfes)
    replaced = [a for a in chosen if _is_live(states.get(a.id))]
    if replaced and not _print_confirmed([states[a.id] for a in replaced]):
        return _confirm_print(school, chosen, replaced)
    key = current_app.extensions["porth.idp"].badges.key
    printed = badge_operations.print_badges(records(), caller(), school, settings, chosen, key)
    # segno's own SVG of a token Porth made (base32 and dots): nothing of a person's goes into it.
    cards = [(account, badge.token, badge.pin, Markup(_qr_svg(badge.token)))  # noqa: S704
             for account, badge in printed.printed]
    # No language switch on the sheet: sending the form again would print new badges, and the
    # ones on this sheet would stop working. It is in the language of the page it was printed from.
    page = render_template("portal/badge_sheet.html", school=school, cards=cards,
                           with_pins=settings.mode is BadgeMode.BADGE_AND_PIN)
    # A page of working badges: never kept by the browser (the app says so for every page; said here too).
    return page, 200, {"Cache-Control": "no-store"}


@bp.get("/badges/print")
@login_required
def sheet_opened_again():
    """A sheet's address opened by GET (a tab restored, the address pasted or bookmarked): its
    badges were shown once and are not kept, so this leads back to Badges and says how to print
    again. (A reload sends the form again, and is asked first as any reprint is.)"""
    school = chosen_school(required=True)
    require(Action.MANAGE_BADGES, school_target(school.dfes))
    flash(_("A sheet of badges is shown only once, when it is printed, so it cannot be opened again. To print "
            "a learner's badge again, tick them below and press Print badges: the card printed before will "
            "stop working."), "info")
    return redirect(url_for("portal.badges.badges", school=school.dfes, group=request.args.get("group") or None),
                    303)


@bp.post("/badges/revoke")
@login_required
def revoke_badges():
    school = chosen_school(required=True)
    require(Action.MANAGE_BADGES, school_target(school.dfes))
    settings = badge_settings.read_school_badges(operational_db(), school.dfes, school.type)
    # Badges on or off alike: a lost card can be revoked while badge sign-in is off. "All shown" is
    # what the page listed (while off, the live badges); a learner ticked may be of any year.
    if request.form.get("all_shown") == "yes":
        chosen = _listed(_learners_shown(school, settings), settings,
                         badge_store.badge_states(operational_db(), school.dfes))
    else:
        chosen = _chosen(school, SchoolBadges(enabled=True, years=NC_YEARS, mode=settings.mode))
    if not chosen:
        flash(_("Select at least one learner"), "error")
        return _back(school)
    if request.form.get("confirmed") != "yes":
        return _confirm_revoke(school, chosen)
    revoked = badge_operations.revoke_badges(records(), caller(), school, chosen)
    flash(ngettext("%(num)d badge revoked: it no longer signs anyone in.",
                   "%(num)d badges revoked: they no longer sign anyone in.", len(revoked)), "success")
    return _back(school)


def _nobody_chosen(school: School):
    """"Print badges" with nobody ticked and no script on the page (the script says so before
    anything opens): the new tab's page says what happened and leads back, as an error page."""
    # Imported here: the error pages draw the portal's menu, which imports every portal blueprint.
    from webui.error_pages import ErrorWords, error_page

    words = ErrorWords(
        _l("Select at least one learner"),
        _l("No learner was ticked, so no badge was printed and nothing changed."),
        _l("Go back to Badges, tick the learners whose badges you want to print (or All learners shown) and "
           "press Print badges again. If this page opened in a new tab, you can close it."))
    group = request.values.get("group") or None
    return error_page(words, 400, back=(url_for("portal.badges.badges", school=school.dfes, group=group),
                                        _l("Back to Badges")))


def _is_live(state: badge_store.BadgeState | None) -> bool:
    return state is not None and state.revoked_at is None


def _print_confirmed(replaced: list[badge_store.BadgeState]) -> bool:
    """Confirmed, for the cards that are live now: a confirmation sent again after those learners'
    badges were printed (twice pressed, or another champion printing meanwhile) asks again."""
    if request.form.get("confirmed") != "yes":
        return False
    try:
        asked = datetime.fromisoformat(request.form.get("asked", ""))
    except ValueError:
        return False
    if asked.tzinfo is None:
        return False
    return all(state.issued_at <= asked for state in replaced)


def _confirm_print(school: School, chosen: list[Account], replaced: list[Account]):
    """Printing a learner's badge again makes the card they hold useless at once (a whole group's
    cards, ticked by mistake, stop together), so it is confirmed first when any chosen learner has
    a live badge; learners with none print at once. The confirmation sends the learners listed,
    by id, and opens the sheet in a new tab as the Badges page's button does."""
    group = request.values.get("group") or None
    if len(chosen) == 1:
        title = _("Print a new badge for this learner?")
        warning = _("This learner already has a badge: printing a new one stops their current card working at "
                    "once. Only the new card will sign them in.")
    else:
        title = _("Print new badges for these %(num)d learners?", num=len(chosen))
        warning = ngettext("%(num)d of these learners already has a badge: printing stops that current card "
                           "working at once. Only the new card will sign them in.",
                           "%(num)d of these learners already have badges: printing stops those %(num)d current "
                           "cards working at once. Only the new cards will sign them in.", len(replaced))
    return render_template(
        "portal/confirm.html", title=title, accounts=chosen, warning=warning, confirm_label=_("Print badges"),
        hidden={"confirmed": "yes", "asked": caller().at.isoformat(), "account": [a.id for a in chosen]},
        action=url_for("portal.badges.print_badges", school=school.dfes, group=group), target="_blank",
        opened=_("The badges opened in a new tab. The cards they replace no longer sign in."),
        back_label=_("Back to Badges"),
        cancel_url=url_for("portal.badges.badges", school=school.dfes, group=group))


def _confirm_revoke(school: School, chosen: list[Account]):
    """Revoking cannot be undone (only a new card, printed and handed out, signs the child in
    again), so it is confirmed first, as a reset or a consent change is. The confirmation sends
    the learners listed, by id: what is revoked is what was shown here, even for a whole group."""
    group = request.values.get("group") or None
    choice = group_choice(school.dfes)
    if request.form.get("all_shown") == "yes" and choice.group is not None:
        title = _("Revoke the badges of %(group)s?", group=group_label(choice.group))
    elif len(chosen) == 1:
        title = _("Revoke this learner's badge?")
    else:
        title = _("Revoke the badges of these learners?")
    return render_template(
        "portal/confirm.html", title=title, accounts=chosen,
        warning=_("Their badges stop signing them in at once, and cannot be turned back on: to sign in with "
                  "a badge again, a learner needs a new one printed."),
        confirm_label=_("Revoke badges"), hidden={"confirmed": "yes", "account": [a.id for a in chosen]},
        action=url_for("portal.badges.revoke_badges", school=school.dfes, group=group),
        cancel_url=url_for("portal.badges.badges", school=school.dfes, group=group))


def _qr_svg(token: str) -> str:
    import segno  # only the print page draws QR codes

    return segno.make_qr(token, error="m").svg_inline(scale=1, border=4, omitsize=True)
