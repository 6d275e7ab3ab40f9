"""Search filters (RFC 4515), built only from escaped values: nothing a person types can
change a filter's shape. Attribute names come from directory/ldap/mapping.py."""

from __future__ import annotations

from ldap3.utils.conv import escape_filter_chars


def equals(attribute: str, value: str) -> str:
    return f"({attribute}={escape_filter_chars(value)})"


def present(attribute: str) -> str:
    return f"({attribute}=*)"


def absent(attribute: str) -> str:
    return f"(!{present(attribute)})"


def starts_with(attribute: str, prefix: str) -> str:
    return f"({attribute}={escape_filter_chars(prefix)}*)"


def contains(attribute: str, text: str) -> str:
    return f"({attribute}=*{escape_filter_chars(text)}*)"


def at_or_after(attribute: str, value: str) -> str:
    return f"({attribute}>={escape_filter_chars(value)})"


def all_of(*conditions: str) -> str:
    return conditions[0] if len(conditions) == 1 else "(&" + "".join(conditions) + ")"


def any_of(*conditions: str) -> str:
    return conditions[0] if len(conditions) == 1 else "(|" + "".join(conditions) + ")"
