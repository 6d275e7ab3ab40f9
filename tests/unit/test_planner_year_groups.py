"""Year groups in the plan (issue 16 point 2; SPEC M-8), pure: made from the years learners on
roll are in, named as a person reads them, removed only by an export that describes them."""

from __future__ import annotations

from datetime import date

from connectors.mis.records import SchoolExport, Source, StaffRecord
from connectors.provisioning.plan import AddGroup, RemoveGroup
from connectors.provisioning.planner import plan_school
from directory.model import Group, GroupKind
from tests.unit.test_planner import SCHOOL, TODAY, record


def year_changes(records=None, groups=(), staff=None):
    export = SchoolExport(SCHOOL, "csv", ("learners.csv",), learners=tuple(records or ()),
                          staff=tuple(staff or ()), has_learners=records is not None, has_staff=staff is not None)
    actions = plan_school(export, [], {}, list(groups), None, TODAY).actions
    return ([(a.code, a.name) for a in actions if isinstance(a, AddGroup) and a.kind == GroupKind.YEAR_GROUP.value],
            [a.code for a in actions if isinstance(a, RemoveGroup)])


def year(code: str) -> Group:
    return Group(id=f"g-{code}", school=SCHOOL, kind=GroupKind.YEAR_GROUP, code=code, name=code)


def test_each_year_learners_are_in_is_made_once_with_its_name():
    records = [record(1, year_group="7"), record(2, year_group="7"), record(3, year_group="R", registration_group="R1"),
               record(4, year_group="r", registration_group="R1"), record(5, year_group="N1", registration_group="N")]
    assert year_changes(records) == ([("7", "Year 7"), ("N1", "Nursery 1"), ("R", "Reception")], [])


def test_a_leavers_year_is_not_wanted_and_an_empty_year_group_goes():
    records = [record(1, year_group="7"), record(2, year_group="11", leaving_date=date(2026, 7, 17))]
    assert year_changes(records, [year("7"), year("11")]) == ([], ["11"])


def test_a_staff_only_export_never_removes_year_groups():
    staff = [StaffRecord(Source("staff.csv", "line 2"), SCHOOL, "S1", "Evans", "Ann", start_date=date(2020, 9, 1))]
    assert year_changes(None, [year("7")], staff) == ([], [])
