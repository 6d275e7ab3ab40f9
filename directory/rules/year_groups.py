"""A year group's name as a person reads it, from the National Curriculum year the MIS gives
(SPEC M-8; the year group is a group like registration groups and classes, issue 16 point 2).

The codes are those the MIS readers hand on (connectors/mis): CTF's NCyearActual without
leading zeros (`N1`, `N2`, `R`, `1`..`14`), OneRoster's grades the same way (`PK` -> `N`,
`KG` -> `R`), Porth CSV's year_group as written. A code Porth does not know (an MIS's own
`X`, `0`) is its own name, so nothing a school uses is lost.
"""

from __future__ import annotations

_NAMED = {"N": "Nursery", "N1": "Nursery 1", "N2": "Nursery 2", "R": "Reception"}
HIGHEST_NC_YEAR = 14
# Every National Curriculum year a school in Wales may have, in a school's order.
NC_YEARS: tuple[str, ...] = ("N1", "N2", "R", *(str(n) for n in range(1, HIGHEST_NC_YEAR + 1)))


def year_group_name(code: str) -> str:
    """`7` -> "Year 7", `R` -> "Reception", `N1` -> "Nursery 1"; any other code as it is."""
    named = _NAMED.get(code.strip().upper())
    if named:
        return named
    if code.isascii() and code.isdigit() and 1 <= int(code) <= HIGHEST_NC_YEAR:
        return f"Year {int(code)}"
    return code


_BEFORE_YEAR_1 = ("N", "N1", "N2", "R")


def year_group_order(code: str) -> tuple[int, int, str]:
    """Where a year group comes in a list: nursery, reception, then Year 1 to 14, then codes
    Porth does not know (by their text), so a choice reads as a school does."""
    folded = code.strip().upper()
    if folded in _BEFORE_YEAR_1:
        return 0, _BEFORE_YEAR_1.index(folded), ""
    if code.isascii() and code.isdigit():
        return 1, int(code), ""
    return 2, 0, folded
