"""One page of any list the portal shows (schools on an organisation's overview, staff on M365
Licences, people on Manage Administrators): the lists of accounts use `lists.page_of`, which also
puts them in register order; these lists come already in the order they are shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil
from typing import Generic, TypeVar

from flask import request

from directory.model import Account, AccountState
from webui.portal.lists import query_words

Item = TypeVar("Item")


@dataclass(frozen=True)
class Paged(Generic[Item]):
    items: list[Item]
    number: int
    count: int
    total: int


def paginate(items: Sequence[Item], number: int, size: int) -> Paged[Item]:
    """The `number`th page of `size` items (the last page when past the end, the first below 1)."""
    count = max(1, ceil(len(items) / size))
    number = min(max(1, number), count)
    return Paged(list(items[(number - 1) * size: number * size]), number, count, len(items))


def asked_page(name: str = "page") -> int:
    return request.args.get(name, 1, type=int) or 1


# The Active Y/N filter (seed 003): Y the accounts that can sign in, N the expired and deactivated ones.
ACTIVE_STATES = {"Y": (AccountState.ACTIVE,), "N": (AccountState.DEACTIVATED,),
                 "all": (AccountState.ACTIVE, AccountState.DEACTIVATED)}


def active_filter() -> str:
    """The seed guide's Active Y/N filter (003: "Change the filter Active to a N" lists the
    expired accounts): Y (the default), N or all."""
    chosen = request.args.get("active", "Y")
    return chosen if chosen in ("Y", "N", "all") else "Y"


def people_matching(people: list[Account], search: str) -> list[Account]:
    """The people (already read, in register order) whose surname, forename or username contains
    every word searched for, as the directory's search of a list does."""
    words = [w.casefold() for w in query_words(search)]
    return [a for a in people
            if all(any(w in field.casefold() for field in (a.surname, a.forename, a.username)) for w in words)]
