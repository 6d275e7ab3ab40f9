"""Reading untrusted CSV text safely: encodings, limits, headers, dates."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import TypeGuard

from connectors.mis.records import FormatRefused

MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_COLUMNS = 500
MAX_FIELD_CHARS = 10_000
_DFES = re.compile(r"^\d{7}$")


def decode(name: str, data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252; never a binary or UTF-16 file."""
    if len(data) > MAX_FILE_BYTES:
        raise FormatRefused(f"{name}: the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FormatRefused(f"{name}: the file is UTF-16; save it as UTF-8 or Windows-1252 CSV")
    if b"\x00" in data:
        raise FormatRefused(f"{name}: the file is not text (it contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise FormatRefused(f"{name}: the file is neither UTF-8 nor Windows-1252 ({exc.reason})") from None


def normalise_header(header: str) -> str:
    """'Legal Surname', 'legal_surname' and 'LEGAL-SURNAME' are the same column."""
    return re.sub(r"[\s_\-.]+", "_", header.strip().lower()).strip("_")


class CsvRows:
    """Rows of a CSV file as dicts keyed by normalised header, with line numbers."""

    def __init__(self, name: str, data: bytes, required: set[str], known: set[str] | None = None):
        self.name = name
        text = decode(name, data)
        self._reader = csv.reader(io.StringIO(text, newline=""), strict=False)
        try:
            header = next(self._reader)
        except StopIteration:
            raise FormatRefused(f"{name}: the file is empty") from None
        except csv.Error as exc:
            raise FormatRefused(f"{name}: the header line is not CSV ({exc})") from None
        if len(header) > MAX_COLUMNS:
            raise FormatRefused(f"{name}: the header has {len(header)} columns; at most {MAX_COLUMNS} are read")
        self.columns = [normalise_header(h) for h in header]
        missing = sorted(required - set(self.columns))
        if missing:
            raise FormatRefused(f"{name}: missing column(s) {', '.join(missing)}")
        duplicated = sorted({c for c in self.columns
                             if c and self.columns.count(c) > 1 and (known is None or c in known)})
        if duplicated:
            raise FormatRefused(f"{name}: column(s) {', '.join(duplicated)} appear more than once")

    def __iter__(self) -> Iterator[tuple[int, dict[str, str] | str]]:
        """(line, row) pairs; a row that cannot be read comes as (line, reason)."""
        width = len(self.columns)
        while True:
            try:
                values = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield self._reader.line_num, f"unreadable CSV ({exc})"
                continue
            line = self._reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) > MAX_COLUMNS:
                yield line, f"the line has {len(values)} fields; at most {MAX_COLUMNS} are read"
                continue
            if any(len(v) > MAX_FIELD_CHARS for v in values):
                yield line, f"a field is longer than {MAX_FIELD_CHARS} characters"
                continue
            if len(values) > width and any(v.strip() for v in values[width:]):
                yield line, f"the line has {len(values)} fields but the header has {width}"
                continue
            yield line, {column: values[i].strip() if i < len(values) else "" for i, column in enumerate(self.columns)}


def parse_date(text: str | None) -> date | None:
    """ISO (2024-09-01, also with a time) or UK (01/09/2024) dates; ValueError otherwise."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            # A calendar date: only .date() is kept, so the parsed time has no zone to lose.
            return datetime.strptime(text[:10] if pattern == "%Y-%m-%d" else text, pattern).date()  # noqa: DTZ007
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD or DD/MM/YYYY)")


def blank_to_none(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


def is_dfes(text: str | None) -> TypeGuard[str]:
    if not text:
        return False
    return bool(_DFES.match(text))


def split_list(text: str | None) -> tuple[str, ...]:
    """A list in one cell: '7B; 7 Maths/2' -> ('7B', '7 Maths/2')."""
    if not text:
        return ()
    return tuple(dict.fromkeys(part.strip() for part in re.split(r"[;|]", text) if part.strip()))
