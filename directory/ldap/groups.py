"""A school's teaching groups (registration groups, classes, year groups); membership is held
on the accounts (M-8). Part of DirectoryStore."""

from __future__ import annotations

import uuid

from directory.ldap import filters
from directory.ldap.connections import Connections
from directory.ldap.mapping import GROUP_ATTRIBUTES, GROUPS, DirectoryTree, group_entry, group_from
from directory.model import Group, GroupKind
from directory.rules.year_groups import year_group_order


class Groups:
    _ldap: Connections
    tree: DirectoryTree

    def add_group(self, school: str, kind: GroupKind, code: str, name: str | None = None) -> Group:
        group = Group(id=str(uuid.uuid4()), school=school, kind=kind, code=code, name=name or code)
        self._ldap.add(self.tree.group(group.id), group_entry(group), f"adding group {code} of school {school}")
        return group

    def remove_group(self, group_id: str) -> None:
        self._ldap.delete(self.tree.group(group_id), f"removing group {group_id}")

    def groups(self, school: str, kind: GroupKind | None = None) -> list[Group]:
        conditions = [GROUPS, filters.equals(GROUP_ATTRIBUTES["school"], school)]
        if kind is not None:
            conditions.append(filters.equals(GROUP_ATTRIBUTES["kind"], kind.value))
        found = self._ldap.search(self.tree.groups, filters.all_of(*conditions), list(GROUP_ATTRIBUTES.values()),
                                  f"listing groups of school {school}")
        return sorted((group_from(a) for a in found), key=_group_order)


def _group_order(group: Group) -> tuple[str, tuple[int, int, str], str]:
    """By kind, then year groups as a school counts them (Nursery, Reception, Year 1..14: never
    "Year 10" before "Year 2"), other groups by code."""
    year = year_group_order(group.code) if group.kind is GroupKind.YEAR_GROUP else (0, 0, "")
    return group.kind.value, year, group.code
