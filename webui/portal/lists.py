"""The lists the portal's pages show: a school's user lists and their filters, one page of a
list, the groups a form picks from (registration groups, classes, years), a school's active
staff, its accounts expiring soon (SPEC L-2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import request, session
from flask_babel import gettext as _

from directory.model import Account, AccountKind, AccountState, Consent, Group, GroupKind
from directory.rules.lifecycle import expires_within
from directory.rules.year_groups import HIGHEST_NC_YEAR, NC_YEARS
from directory.store import AccountQuery
from webui.portal.context import directory
from webui.portal.operations.core import by_name

EXPIRY_WARNING_WEEKS = 8  # SPEC L-2


@dataclass(frozen=True)
class UserList:
    name: str
    kinds: tuple[AccountKind, ...]


USER_LISTS = {
    "learners": UserList("learners", (AccountKind.LEARNER,)),
    "staff": UserList("staff", (AccountKind.STAFF,)),
    "governors": UserList("governors", (AccountKind.GOVERNOR,)),
    "non-mis": UserList("non-mis", (AccountKind.SCHOOL_NONMIS,)),
}
STATUS_FILTERS = {"active": (AccountState.ACTIVE,), "deactivated": (AccountState.DEACTIVATED,),
                  "all": (AccountState.ACTIVE, AccountState.DEACTIVATED)}


@dataclass(frozen=True)
class Page:
    items: list[Account]
    number: int
    count: int
    total: int


def page_of(query: AccountQuery, number: int, size: int) -> Page:
    """One page of the accounts `query` keeps, sorted as a register is: the directory reads only
    that page where it can (issue 16 point 10), and says how many the whole list holds."""
    page = directory().find_page(query, number, size)
    return Page(page.accounts, page.number, page.count, page.total)


def active_staff(school: str) -> list[Account]:
    """A school's active staff, in register order (licences, digital champions)."""
    return by_name(directory().find_accounts(AccountQuery(school=school, kinds=(AccountKind.STAFF,),
                                                          states=(AccountState.ACTIVE,))))


def expiring_soon(accounts, today: date) -> list[Account]:
    """L-2: the accounts that expire within the next eight weeks."""
    return [a for a in accounts if a.expiry and expires_within(a.expiry.date(), today, EXPIRY_WARNING_WEEKS)]


def in_year_order(year: str) -> tuple[int, str]:
    """Nursery, reception, then 1 to 14 (not "10" before "7"); anything else after, by name."""
    return (NC_YEARS.index(year), "") if year in NC_YEARS else (len(NC_YEARS), year)


def year_choices(groups: list[Group]) -> list[Group]:
    """The year groups among a school's groups (with_year_groups), youngest first."""
    return sorted((g for g in groups if g.kind is GroupKind.YEAR_GROUP), key=lambda g: in_year_order(g.code))


def with_year_groups(school: str, groups: list[Group]) -> list[Group]:
    """A school's groups with its years (R-2: reset and print by registration group, class or
    year): the YEAR_GROUP groups provisioning stores, or, while it has stored none, the years its
    active learners are in (never every NC year: a primary has no year 11)."""
    if any(g.kind is GroupKind.YEAR_GROUP for g in groups):
        return [g for g in groups if g.kind is not GroupKind.YEAR_GROUP] + year_choices(groups)
    learners = directory().find_accounts(AccountQuery(
        school=school, kinds=(AccountKind.LEARNER,), states=(AccountState.ACTIVE,),
        fields=("id", "kind", "state", "year_group")))  # what an Account needs, and the year
    present = {a.year_group for a in learners if a.year_group}
    return groups + [Group(id="", school=school, kind=GroupKind.YEAR_GROUP, code=year, name=year)
                     for year in sorted(present, key=in_year_order)]


def year_label(code: str) -> str:
    """A year by its NC code, in the reader's language (as group_label names a year group)."""
    return group_label(Group(id=code, school="", kind=GroupKind.YEAR_GROUP, code=code, name=code))


def group_label(group: Group) -> str:
    """What a person calls the group, in their language: a year by its NC code ("Year 7" /
    "Blwyddyn 7", "Reception" / "Derbyn"), whatever English name provisioning stored with it
    (directory.rules.year_groups); a code Porth does not know, and every other group, by its name."""
    if group.kind is GroupKind.YEAR_GROUP:
        code = group.code.strip().upper()
        named = {"N": _("Nursery"), "N1": _("Nursery 1"), "N2": _("Nursery 2"), "R": _("Reception")}.get(code)
        if named:
            return named
        if code.isascii() and code.isdigit() and 1 <= int(code) <= HIGHEST_NC_YEAR:
            return _("Year %(year)s", year=int(code))
    return group.name or group.code


def query_words(text: str) -> tuple[str, ...]:
    # A pasted full address still finds the account: its local part is the username.
    return tuple(word.split("@", 1)[0] for word in text.split() if word.split("@", 1)[0])[:5]


GROUP_KINDS = {"reg": GroupKind.REGISTRATION_GROUP, "class": GroupKind.CLASS, "year": GroupKind.YEAR_GROUP}
GROUP_FIELDS = {"reg": "registration_group", "class": "group_class", "year": "year_group"}


@dataclass(frozen=True)
class GroupChoice:
    """A registration group, class or year picked on a form (`reg:7A`, `class:7M1`, `year:7`)."""

    groups: list[Group]  # the school's, to choose from
    chosen: str
    group: Group | None  # None: nothing valid picked

    def learners(self, school: str) -> list[Account]:
        """The group's active learners, in register order."""
        kind_key, _sep, code = self.chosen.partition(":")
        field = GROUP_FIELDS[kind_key]
        return by_name(directory().find_accounts(AccountQuery(
            school=school, kinds=(AccountKind.LEARNER,), states=(AccountState.ACTIVE,),
            registration_group=code if field == "registration_group" else None,
            group_class=code if field == "group_class" else None,
            year_group=code if field == "year_group" else None)))


def group_choice(school: str) -> GroupChoice:
    """The group the form picked (`group`), among the school's (its years included)."""
    groups = with_year_groups(school, directory().groups(school))
    chosen = request.values.get("group", "")
    kind_key, _sep, code = chosen.partition(":")
    group = next((g for g in groups if GROUP_KINDS.get(kind_key) is g.kind and g.code == code), None)
    return GroupChoice(groups, chosen, group)


# -- the filters of a user list, kept through the actions begun from it --------------------------
CONSENT_VALUES = frozenset(c.value for c in Consent)
# The list's address: these, with ?school=, are what the page shows (and what an action started
# from it comes back to: issue 16 point 5).
LIST_ARGUMENTS = ("q", "year", "reg", "class", "consent", "status", "page")


def list_filters(values) -> dict[str, str]:
    """The filters of a user list as asked for (query string or form), each checked: an unknown
    status is the active accounts', an unknown consent no consent filter."""
    status, consent = values.get("status", ""), values.get("consent", "")
    return {"q": values.get("q", "").strip()[:100], "year": values.get("year", "").strip()[:16],
            "reg": values.get("reg", "").strip()[:64], "class": values.get("class", "").strip()[:64],
            "consent": consent if consent in CONSENT_VALUES else "",
            "status": status if status in STATUS_FILTERS else "active"}


def list_query(school: str, wanted: UserList, filters: dict[str, str],
               fields: tuple[str, ...] | None = None) -> AccountQuery:
    """The directory query of a list with its filters: the page's, and the one an action on
    "all matching accounts" runs again on the server (never ids sent by the browser)."""
    return AccountQuery(school=school, kinds=wanted.kinds, states=STATUS_FILTERS[filters["status"]],
                        year_group=filters["year"] or None, registration_group=filters["reg"] or None,
                        group_class=filters["class"] or None,
                        consent=Consent(filters["consent"]) if filters["consent"] else None,
                        words=query_words(filters["q"]), fields=fields)


# Who a Selected Users reset has just given new passwords, for the list to offer printing them once
# (as a group reset leads to printing its group). Kept in the server-side session, by account id.
JUST_RESET_KEY = "portal_just_reset"


def remember_reset(list_name: str, school: str, account_ids: list[str]) -> None:
    session[JUST_RESET_KEY] = {"list": list_name, "school": school, "accounts": account_ids}


def take_reset(list_name: str, school: str) -> list[str]:
    """The accounts just reset from this list at this school; asked once (whatever list is shown next)."""
    kept = session.pop(JUST_RESET_KEY, None) or {}
    return list(kept.get("accounts", [])) if kept.get("list") == list_name and kept.get("school") == school else []


def kept_arguments(values) -> dict[str, Any]:
    """The list's filters and page that were set (defaults left out), to come back to the list
    with after an action begun from it, or to carry through its confirmation (all strings: Any
    only so url_for takes them as keywords)."""
    kept: dict[str, Any] = {name: value for name, value in list_filters(values).items()
            if value and not (name == "status" and value == "active")}
    page = str(values.get("page", ""))
    if page.isdigit() and int(page) > 1:
        kept["page"] = page
    return kept
