"""Schools and the organisations above them (local authorities, consortia). Part of DirectoryStore."""

from __future__ import annotations

from directory.ldap import filters
from directory.ldap.connections import Connections
from directory.ldap.mapping import (
    ORGANISATION_ATTRIBUTES,
    ORGANISATIONS,
    SCHOOL_ATTRIBUTES,
    SCHOOLS,
    DirectoryTree,
    organisation_entry,
    organisation_from,
    school_entry,
    school_from,
)
from directory.model import Organisation, School


class Schools:
    _ldap: Connections
    tree: DirectoryTree

    def add_organisation(self, organisation: Organisation) -> None:
        self._ldap.add(self.tree.organisation(organisation.code), organisation_entry(organisation),
                       f"adding organisation {organisation.code}")

    def organisations(self) -> list[Organisation]:
        found = self._ldap.search(self.tree.organisations, ORGANISATIONS, list(ORGANISATION_ATTRIBUTES.values()),
                                  "listing organisations")
        return sorted((organisation_from(a) for a in found), key=lambda o: (o.kind, o.code))

    def add_school(self, school: School) -> None:
        self._ldap.add(self.tree.school(school.dfes), school_entry(school), f"adding school {school.dfes}")

    def get_school(self, dfes: str) -> School | None:
        found = self._ldap.search(self.tree.schools,
                                  filters.all_of(SCHOOLS, filters.equals(SCHOOL_ATTRIBUTES["dfes"], dfes)),
                                  list(SCHOOL_ATTRIBUTES.values()), f"reading school {dfes}")
        return school_from(found[0]) if found else None

    def schools(self, la_code: str | None = None) -> list[School]:
        search = SCHOOLS
        if la_code is not None:
            search = filters.all_of(search, filters.equals(SCHOOL_ATTRIBUTES["la_code"], la_code))
        found = self._ldap.search(self.tree.schools, search, list(SCHOOL_ATTRIBUTES.values()), "listing schools")
        return sorted((school_from(a) for a in found), key=lambda s: s.dfes)

    def rename_school(self, dfes: str, name: str) -> None:
        self._ldap.modify(self.tree.school(dfes), f"renaming school {dfes}",
                          replace={SCHOOL_ATTRIBUTES["name"]: [name]})
