"""The lists the portal's pages show: a school's user lists, one page of a list, the groups a
form picks from, a school's active staff, its accounts expiring soon (SPEC L-2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import request

from directory.model import Account, AccountKind, AccountState, Group, GroupKind
from directory.rules.lifecycle import expires_within
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


# National Curriculum years as MIS exports carry them (NCyearActual): nursery, reception, 1-14.
NC_YEARS = ("N1", "N2", "R", *(str(n) for n in range(1, 15)))


def year_choices(groups: list[Group]) -> list[Group]:
    """The school's year-group entries, or every NC year when provisioning made none."""
    years = [g for g in groups if g.kind is GroupKind.YEAR_GROUP]
    return years or [Group(id="", school="", kind=GroupKind.YEAR_GROUP, code=y, name=y) for y in NC_YEARS]


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
    """The group the form picked (`group`), among the school's."""
    groups = directory().groups(school)
    chosen = request.values.get("group", "")
    kind_key, _sep, code = chosen.partition(":")
    group = next((g for g in groups if GROUP_KINDS.get(kind_key) is g.kind and g.code == code), None)
    return GroupChoice(groups, chosen, group)
