"""Year groups read as a school says them (issue 16 point 2; SPEC M-8)."""

from __future__ import annotations

import pytest

from directory.rules.year_groups import year_group_name, year_group_order


@pytest.mark.parametrize(("code", "name"), [
    ("7", "Year 7"), ("1", "Year 1"), ("14", "Year 14"), ("R", "Reception"), ("r", "Reception"),
    ("N1", "Nursery 1"), ("N2", "Nursery 2"), ("N", "Nursery"),
    # Codes Porth does not know keep their own spelling: nothing a school uses is lost.
    ("0", "0"), ("15", "15"), ("X", "X"), ("\uff10\uff17", "\uff10\uff17"),
])
def test_a_year_groups_name_is_what_a_person_reads(code, name):
    assert year_group_name(code) == name


def test_year_groups_come_in_the_order_a_school_counts_them():
    codes = ["10", "2", "R", "X", "N2", "1", "N1", "14", "N"]
    assert sorted(codes, key=year_group_order) == ["N", "N1", "N2", "R", "1", "2", "10", "14", "X"]
